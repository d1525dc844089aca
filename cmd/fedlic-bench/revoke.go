package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
)

// benchRevoke: time from a revocation's acknowledgement until every
// replica denies the license with a stale check. Baseline: time from a
// bare-raft Apply's acknowledgement until every no-op FSM applied it.
func benchRevoke(ctx context.Context, o opts, rep *reporter) error {
	d, err := startDomain(ctx, o.bin)
	if err != nil {
		return err
	}
	defer d.stop()
	l, _ := d.waitLeader(ctx, 10*time.Second)
	n := o.rounds * 5
	var ids []string
	for i := 0; i < n; i++ {
		r, err := l.client.Issue(ctx, &pb.IssueRequest{Licensee: fmt.Sprintf("rv-%d", i), Product: "bench/db", Entitlements: sampleIssue(0).GetEntitlements()})
		if err != nil {
			return err
		}
		ids = append(ids, r.GetLicense().GetId())
	}
	if err := d.waitConverged(ctx); err != nil {
		return err
	}
	progress("revoke: %d revocations", n)
	var lat []time.Duration
	for i, id := range ids {
		if _, err := l.client.Revoke(ctx, id, "bench"); err != nil {
			return err
		}
		acked := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var worst time.Duration
		for _, p := range d.procs {
			wg.Add(1)
			go func(p *agentProc) {
				defer wg.Done()
				for time.Since(acked) < 10*time.Second {
					r, err := p.client.Check(ctx, fmt.Sprintf("rv-%d", i), "bench/db", "seats", 1, pb.Consistency_CONSISTENCY_STALE)
					if err == nil && !r.GetAllowed() {
						break
					}
				}
				el := time.Since(acked)
				mu.Lock()
				worst = max(worst, el)
				mu.Unlock()
			}(p)
		}
		wg.Wait()
		lat = append(lat, worst)
	}
	bc, err := startBare()
	if err != nil {
		return err
	}
	defer bc.stop()
	bl := bc.waitLeader(5 * time.Second)
	var base []time.Duration
	for i := 0; i < n; i++ {
		f := bl.r.Apply([]byte("revoke"), 5*time.Second)
		if err := f.Error(); err != nil {
			return err
		}
		acked := time.Now()
		for _, m := range bc.nodes {
			for m.fsm.applied.Load() < f.Index() {
				time.Sleep(50 * time.Microsecond)
			}
		}
		base = append(base, time.Since(acked))
	}
	sortDurations(lat)
	sortDurations(base)
	rep.add(row{Bench: "revoke", Metric: "visible on all replicas p50", Unit: "ms", Ours: ms(pctOf(lat, 50)), Baseline: ms(pctOf(base, 50))})
	rep.add(row{Bench: "revoke", Metric: "visible on all replicas p99", Unit: "ms", Ours: ms(pctOf(lat, 99)), Baseline: ms(pctOf(base, 99)), Target: "<= 20"})
	d.stop()
	bc.stop()
	if o.trusting > 0 {
		return revokeFederated(ctx, o, rep)
	}
	return nil
}
