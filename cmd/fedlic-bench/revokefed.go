package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
)

// revokeFederated: the issuing domain acme and o.trusting domains that
// trust it, on one gossip pool. For each round a fresh acme license is
// issued and seen allowed on every node of every trusting domain, then
// revoked; the figure is the time from the revocation's acknowledgement
// until every node of every trusting domain denies its token. Baseline:
// the time until every acme replica denies it, same rounds.
func revokeFederated(ctx context.Context, o opts, rep *reporter) error {
	names := []string{"acme"}
	for i := 0; i < o.trusting; i++ {
		names = append(names, fmt.Sprintf("peer%d", i+1))
	}
	progress("revoke: starting acme and %d trusting domains (%d agents)", o.trusting, 3*len(names))
	ds, err := startFederation(ctx, o.bin, names...)
	for _, d := range ds {
		defer d.stop()
	}
	if err != nil {
		return err
	}
	acme, err := ds[0].waitLeader(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	var remote []*agentProc
	for _, d := range ds[1:] {
		l, err := d.waitLeader(ctx, 10*time.Second)
		if err != nil {
			return err
		}
		if err := trustPeer(ctx, l.client, acme.client, "acme"); err != nil {
			return err
		}
		remote = append(remote, d.procs...)
	}
	issue := func(i int) (*pb.WriteResponse, error) {
		return acme.client.Issue(ctx, &pb.IssueRequest{Licensee: fmt.Sprintf("fed-rv-%d", i), Product: "acme/db", Entitlements: sampleIssue(0).GetEntitlements()})
	}
	first, err := issue(-1)
	if err != nil {
		return err
	}
	progress("revoke: waiting until every trusting node verifies an acme token")
	if d := untilAll(ctx, remote, 60*time.Second, tokenAllowed(first.GetToken(), true)); d < 0 {
		return fmt.Errorf("trusting domains never verified an acme token")
	}
	n := o.rounds * 5
	progress("revoke: %d revocations across %d trusting domains", n, o.trusting)
	var fed, local []time.Duration
	for i := 0; i < n; i++ {
		w, err := issue(i)
		if err != nil {
			return err
		}
		if untilAll(ctx, append(remote, ds[0].procs...), 20*time.Second, tokenAllowed(w.GetToken(), true)) < 0 {
			return fmt.Errorf("license %s never allowed everywhere", w.GetLicense().GetId())
		}
		if _, err := acme.client.Revoke(ctx, w.GetLicense().GetId(), "bench"); err != nil {
			return err
		}
		acked := time.Now()
		var wg sync.WaitGroup
		var fd, ld time.Duration
		wg.Add(2)
		go func() {
			defer wg.Done()
			fd = untilAllSince(ctx, acked, remote, 30*time.Second, tokenAllowed(w.GetToken(), false))
		}()
		go func() {
			defer wg.Done()
			ld = untilAllSince(ctx, acked, ds[0].procs, 30*time.Second, tokenAllowed(w.GetToken(), false))
		}()
		wg.Wait()
		if fd < 0 || ld < 0 {
			return fmt.Errorf("revocation of %s not denied everywhere within 30s (trusting %v, acme %v)", w.GetLicense().GetId(), fd, ld)
		}
		fed, local = append(fed, fd), append(local, ld)
	}
	sortDurations(fed)
	sortDurations(local)
	tag := fmt.Sprintf("every node of %d trusting domains", o.trusting)
	note := "baseline: the same revocations denied on every replica of the issuing domain. Spread by gossip with memberlist WAN timing (500 ms gossip interval), anti-entropy every 10 s behind it"
	rep.add(row{Bench: "revoke", Metric: "denied on " + tag + " p50", Unit: "ms", Ours: ms(pctOf(fed, 50)), Baseline: ms(pctOf(local, 50)), Note: note})
	rep.add(row{Bench: "revoke", Metric: "denied on " + tag + " p99", Unit: "ms", Ours: ms(pctOf(fed, 99)), Baseline: ms(pctOf(local, 99))})
	return nil
}

// tokenAllowed is a condition on one node: a stale token check answers allowed == want.
func tokenAllowed(token string, want bool) func(ctx context.Context, c *client.Client) bool {
	return func(ctx context.Context, c *client.Client) bool {
		r, err := c.Licenses.Check(ctx, &pb.CheckRequest{Token: token, Feature: "seats", Amount: 1, Consistency: pb.Consistency_CONSISTENCY_STALE})
		return err == nil && r.GetAllowed() == want
	}
}

// untilAll polls cond on every node until it holds on all, and returns
// how long that took, or -1 after max.
func untilAll(ctx context.Context, ps []*agentProc, max time.Duration, cond func(context.Context, *client.Client) bool) time.Duration {
	return untilAllSince(ctx, time.Now(), ps, max, cond)
}

// untilAllSince is untilAll measured from t0: each node is polled until
// cond holds there, and the result is the time the last one took.
func untilAllSince(ctx context.Context, t0 time.Time, ps []*agentProc, max time.Duration, cond func(context.Context, *client.Client) bool) time.Duration {
	var wg sync.WaitGroup
	var mu sync.Mutex
	worst := time.Duration(0)
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, cancel := context.WithTimeout(ctx, time.Second)
				ok := cond(c, p.client)
				cancel()
				el := time.Since(t0)
				if ok || el > max || ctx.Err() != nil {
					if !ok {
						el = -1
					}
					mu.Lock()
					if worst >= 0 && (el < 0 || el > worst) {
						worst = el
					}
					mu.Unlock()
					return
				}
				time.Sleep(200 * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	return worst
}
