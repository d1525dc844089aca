package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/cmd/fedlic-chaos/history"
)

// waitConverged waits until every node answers, a leader is known, and
// all report the same applied index.
func waitConverged(ctx context.Context, ms []*member, max time.Duration) error {
	return waitFor(ctx, max, "all nodes to apply the same index under one leader", func() (bool, string) {
		var obs []string
		same, leader := true, false
		var first uint64
		for i, m := range ms {
			s, err := statusOf(ctx, m, time.Second)
			if err != nil {
				return false, m.name + ": " + err.Error()
			}
			if i == 0 {
				first = s.GetAppliedIndex()
			}
			same = same && s.GetAppliedIndex() == first && s.GetLeaderId() != ""
			leader = leader || s.GetState() == "Leader"
			obs = append(obs, fmt.Sprintf("%s=%d(%s, leader %q)", m.name, s.GetAppliedIndex(), s.GetState(), s.GetLeaderId()))
		}
		return same && leader, strings.Join(obs, " ")
	})
}

// readReplica lists every license on m with stale reads, so what is read
// is m's own state, and takes its state hash. It fails if m's applied
// index moved while reading.
func readReplica(ctx context.Context, m *member) (history.ReplicaState, uint64, error) {
	rs := history.ReplicaState{Node: m.name, Licenses: map[string]history.LicenseState{}}
	before, err := statusOf(ctx, m, 5*time.Second)
	if err != nil {
		return rs, 0, err
	}
	token := ""
	for {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := m.client.Licenses.List(c, &pb.ListRequest{PageSize: 1000, PageToken: token, Consistency: pb.Consistency_CONSISTENCY_STALE})
		cancel()
		if err != nil {
			return rs, 0, fmt.Errorf("list licenses on %s: %w", m.name, err)
		}
		for _, l := range resp.GetLicenses() {
			rs.Licenses[l.GetId()] = history.LicenseState{ID: l.GetId(), Status: lower(l.GetStatus()), Version: l.GetVersion()}
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	after, err := m.client.StatusWithHash(c)
	cancel()
	if err != nil {
		return rs, 0, err
	}
	if before.GetAppliedIndex() != after.GetAppliedIndex() {
		return rs, 0, fmt.Errorf("%s applied %d..%d while being read", m.name, before.GetAppliedIndex(), after.GetAppliedIndex())
	}
	rs.Hash = after.GetStateHash()
	return rs, after.GetAppliedIndex(), nil
}

// readReplicas reads the final state of every node once they have
// converged, retrying while anything still moves.
func readReplicas(ctx context.Context, ms []*member, max time.Duration) ([]history.ReplicaState, error) {
	var out []history.ReplicaState
	err := waitFor(ctx, max, "a stable final state on every node", func() (bool, string) {
		if err := waitConverged(ctx, ms, 5*time.Second); err != nil {
			return false, err.Error()
		}
		out = out[:0]
		var idx []uint64
		for _, m := range ms {
			rs, i, err := readReplica(ctx, m)
			if err != nil {
				return false, err.Error()
			}
			out = append(out, rs)
			idx = append(idx, i)
		}
		for _, i := range idx {
			if i != idx[0] {
				return false, fmt.Sprintf("applied indexes moved: %v", idx)
			}
		}
		return true, ""
	})
	return out, err
}
