package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
)

// benchFederation: two domains of three agents on one gossip pool with
// mutual trust. Domain A's committed writes and checks (its own license
// and a verified B token) are measured with B up (the baseline), then
// again after every B agent is killed with SIGKILL. A must not depend on
// B: checks all succeed and writes stay within 10 %.
func benchFederation(ctx context.Context, o opts, rep *reporter) error {
	ds, err := startFederation(ctx, o.bin, "acme", "partner")
	for _, d := range ds {
		defer d.stop()
	}
	if err != nil {
		return err
	}
	a, b := ds[0], ds[1]
	la, _ := a.waitLeader(ctx, 10*time.Second)
	lb, _ := b.waitLeader(ctx, 10*time.Second)
	if err := trustPeer(ctx, la.client, lb.client, "partner"); err != nil {
		return err
	}
	if err := trustPeer(ctx, lb.client, la.client, "acme"); err != nil {
		return err
	}
	own, err := la.client.Issue(ctx, &pb.IssueRequest{Licensee: "own", Product: "acme/db", Entitlements: []*pb.Entitlement{client.Count("seats", 10)}})
	if err != nil {
		return err
	}
	peer, err := lb.client.Issue(ctx, &pb.IssueRequest{Licensee: "peer", Product: "partner/db", Entitlements: []*pb.Entitlement{client.Count("seats", 10)}})
	if err != nil {
		return err
	}
	progress("federation: waiting for acme to verify a partner token (gossip or anti-entropy)")
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r, err := la.client.Licenses.Verify(ctx, &pb.VerifyRequest{Token: peer.GetToken()})
		if err == nil && r.GetValid() {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("acme never verified the partner token: %v %v", r, err)
		}
	}
	if err := a.waitConverged(ctx); err != nil {
		return err
	}
	measure := func(label string) (stats, int64, int64, error) {
		var fails, checks atomic.Int64
		cctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { // checks on every A node while writes run
			defer close(done)
			for i := 0; cctx.Err() == nil; i++ {
				p := a.procs[i%3]
				tok := own.GetToken()
				if i%2 == 1 {
					tok = peer.GetToken()
				}
				r, err := p.client.Licenses.Check(cctx, &pb.CheckRequest{Token: tok, Feature: "seats", Amount: 1})
				if cctx.Err() != nil {
					return
				}
				checks.Add(1)
				if err != nil || !r.GetAllowed() {
					fails.Add(1)
				}
			}
		}()
		progress("federation: acme writes at %d clients, %s", 64, label)
		s := run(ctx, 64, o.warmup, o.duration, func(ctx context.Context, c int) error {
			req := sampleIssue(c)
			req.Product = "acme/db" // the domain only issues inside its scope
			_, err := la.client.Issue(ctx, req)
			return err
		})
		stop()
		<-done
		return s, checks.Load(), fails.Load(), nil
	}
	up, upChecks, upFails, err := measure("partner up")
	if err != nil {
		return err
	}
	for _, p := range b.procs {
		p.kill()
	}
	down, downChecks, downFails, err := measure("every partner agent killed")
	if err != nil {
		return err
	}
	rep.add(row{Bench: "federation", Metric: "acme commits/s with partner down (c=64)", Unit: "ops/s", Ours: down.rate(), Baseline: up.rate(),
		Target: ">= 0.9x", Note: "baseline: the same with partner up, same run; writes to the acme leader" + errNote(down.errs)})
	rep.add(row{Bench: "federation", Metric: "acme failed checks with partner down", Unit: "count", Ours: float64(downFails), Target: "0",
		Note: fmt.Sprintf("%d checks (own license and a verified partner token, alternating, on all three acme nodes); with partner up: %d of %d failed", downChecks, upFails, upChecks)})
	return nil
}

// startFederation starts one domain of three agents per name, all on one
// gossip pool; domain NAME has scope NAME/*. On error the domains
// started so far are returned too, for the caller to stop.
func startFederation(ctx context.Context, bin string, names ...string) ([]*domain, error) {
	gossip := make([]string, 3*len(names))
	for i := range gossip {
		var err error
		if gossip[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	var ds []*domain
	for k, name := range names {
		d, err := startNamedDomain(ctx, bin, name, func(i int) []string {
			args := []string{"--scope", name + "/*", "--gossip-addr", gossip[3*k+i]}
			if 3*k+i > 0 {
				args = append(args, "--gossip-join", gossip[0])
			}
			return args
		})
		if err != nil {
			return ds, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// trustPeer makes the domain of c trust the domain of peer (named name)
// for name/*, pinning peer's root fingerprint.
func trustPeer(ctx context.Context, c, peer *client.Client, name string) error {
	var fp string
	for deadline := time.Now().Add(20 * time.Second); fp == ""; time.Sleep(50 * time.Millisecond) {
		if s, err := peer.Domain.Status(ctx, &pb.DomainStatusRequest{}); err == nil {
			fp = s.GetRootFingerprint()
		} else if time.Now().After(deadline) {
			return fmt.Errorf("domain %s: keys never appeared: %w", name, err)
		}
	}
	_, err := c.Trust.Add(ctx, &pb.TrustAddRequest{Entry: &pb.TrustEntry{Domain: name, RootFingerprint: fp, Scope: []string{name + "/*"}, MaxStalenessNano: int64(time.Hour)}})
	return err
}
