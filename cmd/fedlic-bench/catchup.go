package main

import (
	"context"
	"fmt"
	"os"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// catchUp measures how long a new node takes to catch up by snapshot
// install. The snapshot at path (count licenses) is restored into a
// one-agent domain; then a second agent is started with --join, and the
// clock runs from its start until it serves stale reads at the restored
// index. Baseline: the same on bare raft with a no-op FSM that reads
// the same bytes: one node restores the file, a second is added as a
// voter, the clock runs until its applied index reaches the restore.
func catchUp(ctx context.Context, o opts, path string, count int, rep *reporter) error {
	d, err := startNodes(ctx, o.bin, "bench", 1, nil)
	if err != nil {
		return err
	}
	defer d.stop()
	leader := d.procs[0]
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	progress("snapshot: restoring %d licenses into a one-agent domain", count)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	res, err := leader.client.RestoreSnapshot(rctx, f)
	if err != nil {
		return fmt.Errorf("restore into the agent: %w", err)
	}
	restoreAgent := time.Since(t0)
	if res.GetLicenses() != uint64(count) {
		return fmt.Errorf("agent restored %d licenses, want %d", res.GetLicenses(), count)
	}
	progress("snapshot: a second agent joins and installs the snapshot")
	t0 = time.Now()
	p, err := d.addNode()
	if err != nil {
		return err
	}
	for {
		c, cancel := context.WithTimeout(rctx, time.Second)
		s, err := p.client.Status(c)
		cancel()
		if err == nil && s.GetAppliedIndex() >= res.GetIndex() {
			c, cancel := context.WithTimeout(rctx, time.Second)
			_, err = p.client.Get(c, "catch-up-probe", pb.Consistency_CONSISTENCY_STALE)
			cancel()
			if status.Code(err) == codes.NotFound {
				break // caught up: it answers stale reads
			}
		}
		if rctx.Err() != nil {
			return fmt.Errorf("new agent never caught up to index %d (logs in %s)", res.GetIndex(), d.tmp)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ours := time.Since(t0)
	base, err := bareCatchUp(path)
	if err != nil {
		return fmt.Errorf("bare raft catch-up: %w", err)
	}
	tag := fmt.Sprintf("%d licenses", count)
	rep.add(row{Bench: "snapshot", Metric: "restore into a running agent, " + tag, Unit: "s", Ours: restoreAgent.Seconds(),
		Note: "fedlic snapshot restore over gRPC: upload, raft user restore, state machine restore"})
	rep.add(row{Bench: "snapshot", Metric: "new node catch-up by snapshot install, " + tag, Unit: "s", Ours: ours.Seconds(), Baseline: base.Seconds(),
		Note: "from starting the joining agent until it serves stale reads; baseline: bare raft installing the same bytes into a no-op FSM, from AddVoter"})
	return nil
}

// bareCatchUp is the baseline of catchUp on an in-process bare raft.
func bareCatchUp(path string) (time.Duration, error) {
	bc := &bareCluster{}
	var err error
	if bc.dir, err = os.MkdirTemp("", "fedlic-bench-raft-"); err != nil {
		return 0, err
	}
	defer bc.stop()
	first, err := bc.open(0)
	if err != nil {
		return 0, err
	}
	bc.nodes = append(bc.nodes, first)
	if err := first.r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: first.id, Address: first.addr}}}).Error(); err != nil {
		return 0, err
	}
	if bc.waitLeader(20*time.Second) == nil {
		return 0, fmt.Errorf("no leader")
	}
	if err := first.r.Barrier(20 * time.Second).Error(); err != nil { // raft restores only after the configuration applied
		return 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if err := first.r.Restore(&raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: st.Size()}, f, 5*time.Minute); err != nil {
		return 0, err
	}
	target := first.r.LastIndex()
	t0 := time.Now()
	second, err := bc.open(1)
	if err != nil {
		return 0, err
	}
	bc.nodes = append(bc.nodes, second)
	if err := first.r.AddVoter(second.id, second.addr, 0, time.Minute).Error(); err != nil {
		return 0, err
	}
	for second.r.AppliedIndex() < target {
		if time.Since(t0) > 5*time.Minute {
			return 0, fmt.Errorf("bare follower never reached index %d", target)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(t0), nil
}
