package main

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
	"github.com/fedlic/fedlic/fsm"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

type opts struct {
	duration time.Duration
	warmup   time.Duration
	clients  []int
	rounds   int
	licenses int
	trusting int // trusting domains in the federated revoke bench
	bin      string
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func sampleIssue(i int) *pb.IssueRequest {
	return &pb.IssueRequest{Licensee: fmt.Sprintf("licensee-%d", i), Product: "bench/db",
		Entitlements: []*pb.Entitlement{client.Count("seats", 100), client.Flag("sso", true), client.Count("api_calls", 1000000)}}
}

// benchCheck: stale checks over gRPC against one follower vs the standard
// health check on the same server, same connection type, same run.
func benchCheck(ctx context.Context, o opts, rep *reporter) error {
	d, err := startDomain(ctx, o.bin)
	if err != nil {
		return err
	}
	defer d.stop()
	l, _ := d.waitLeader(ctx, 10*time.Second)
	for i := 0; i < 100; i++ {
		if _, err := l.client.Issue(ctx, sampleIssue(i)); err != nil {
			return err
		}
	}
	if err := d.waitConverged(ctx); err != nil {
		return err
	}
	target := d.procs[0]
	if target == l {
		target = d.procs[1]
	}
	for _, n := range o.clients {
		conns := make([]*client.Client, min(n, 8))
		for i := range conns {
			if conns[i], err = client.Dial(target.grpc); err != nil {
				return err
			}
			defer conns[i].Close()
		}
		progress("check: %d clients, stale check vs health check on %s", n, target.id)
		ours := run(ctx, n, o.warmup, o.duration, func(ctx context.Context, c int) error {
			r, err := conns[c%len(conns)].Check(ctx, fmt.Sprintf("licensee-%d", c%100), "bench/db", "seats", 1, pb.Consistency_CONSISTENCY_STALE)
			if err == nil && !r.GetAllowed() {
				return fmt.Errorf("denied: %s", r.GetReason())
			}
			return err
		})
		base := run(ctx, n, o.warmup, o.duration, func(ctx context.Context, c int) error {
			_, err := healthpb.NewHealthClient(conns[c%len(conns)].Conn()).Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		})
		if ours.errs > 0 {
			return fmt.Errorf("check: %d errors", ours.errs)
		}
		tag := fmt.Sprintf("c=%d", n)
		rep.add(row{Bench: "check", Metric: "throughput " + tag, Unit: "ops/s", Ours: ours.rate(), Baseline: base.rate(), Target: map[bool]string{true: ">= 0.6x baseline"}[n == 64]})
		rep.add(row{Bench: "check", Metric: "p50 " + tag, Unit: "us", Ours: us(ours.pct(50)), Baseline: us(base.pct(50)), Target: map[bool]string{true: "<= 1.5x, <= 100us"}[n == 1]})
		rep.add(row{Bench: "check", Metric: "p99 " + tag, Unit: "us", Ours: us(ours.pct(99)), Baseline: us(base.pct(99))})
		rep.add(row{Bench: "check", Metric: "p99.9 " + tag, Unit: "us", Ours: us(ours.pct(99.9)), Baseline: us(base.pct(99.9))})
	}
	return nil
}

// benchWrite: committed issues through gRPC to the leader vs raw
// raft.Apply of a same-sized entry on bare raft with a no-op FSM.
func benchWrite(ctx context.Context, o opts, rep *reporter) error {
	perNode, httpAddrs, err := httpAddrs(3)
	if err != nil {
		return err
	}
	d, err := startNamedDomain(ctx, o.bin, "bench", perNode)
	if err != nil {
		return err
	}
	defer d.stop()
	bc, err := startBare()
	if err != nil {
		return err
	}
	defer bc.stop()
	bp, bpLeader, err := startBareProcs(ctx)
	if err != nil {
		return err
	}
	defer bp.stop()
	l, err := d.waitLeader(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	payload, _ := fsm.Encode(fsm.IssueType, &pb.IssueCommand{License: &pb.License{Id: "lic-0123456789abcdef0123", Domain: "bench",
		Licensee: "licensee-1", Product: "bench/db", Entitlements: sampleIssue(1).GetEntitlements(), CreatedUnixNano: time.Now().UnixNano()}})
	for _, n := range o.clients {
		conns := make([]*client.Client, min(n, 8))
		bconns := make([]*grpc.ClientConn, len(conns))
		for i := range conns {
			if conns[i], err = client.Dial(l.grpc); err != nil {
				return err
			}
			defer conns[i].Close()
			if bconns[i], err = dialBare(bpLeader); err != nil {
				return err
			}
			defer bconns[i].Close()
		}
		progress("write: %d clients", n)
		leaderHTTP := httpAddrs[slices.Index(d.procs, l)]
		w0, e0, err := batchCounter(leaderHTTP)
		if err != nil {
			return err
		}
		ours := runCPU(ctx, n, o.warmup, o.duration, func() time.Duration { return cpuTime(d.pids()...) }, func(ctx context.Context, c int) error {
			_, err := conns[c%len(conns)].Issue(ctx, sampleIssue(rand.Intn(1000)))
			return err
		})
		w1, e1, err := batchCounter(leaderHTTP)
		if err != nil {
			return err
		}
		bl := bc.waitLeader(5 * time.Second)
		base := runCPU(ctx, n, o.warmup, o.duration, func() time.Duration { return cpuTime() }, func(ctx context.Context, c int) error {
			return bl.r.Apply(payload, 10*time.Second).Error()
		})
		progress("write: %d clients, three-process bare raft behind bare gRPC", n)
		procs := runCPU(ctx, n, o.warmup, o.duration, func() time.Duration { return cpuTime(bp.pids()...) }, func(ctx context.Context, c int) error {
			return bareApply(ctx, bconns[c%len(bconns)], payload)
		})
		tag := fmt.Sprintf("c=%d", n)
		rep.add(row{Bench: "write", Metric: "commits " + tag + " vs 3-process raft+gRPC", Unit: "ops/s", Ours: ours.rate(), Baseline: procs.rate(), Note: errNote(procs.errs)})
		rep.add(row{Bench: "write", Metric: "p99 " + tag + " vs 3-process raft+gRPC", Unit: "ms", Ours: ms(ours.pct(99)), Baseline: ms(procs.pct(99))})
		rep.add(row{Bench: "write", Metric: "CPU per commit " + tag + " vs 3-process raft+gRPC", Unit: "us", Ours: ours.cpuPerOp(), Baseline: procs.cpuPerOp(),
			Note: "user+system CPU of every process (agents and client) per committed write"})
		rep.add(row{Bench: "write", Metric: "CPU per commit " + tag, Unit: "us", Ours: ours.cpuPerOp(), Baseline: base.cpuPerOp()})
		rep.add(row{Bench: "write", Metric: "commits " + tag, Unit: "ops/s", Ours: ours.rate(), Baseline: base.rate(),
			Target: map[bool]string{true: ">= 0.9x, >= 8000/s"}[n == 64], Note: errNote(ours.errs)})
		rep.add(row{Bench: "write", Metric: "p50 " + tag, Unit: "ms", Ours: ms(ours.pct(50)), Baseline: ms(base.pct(50))})
		rep.add(row{Bench: "write", Metric: "p99 " + tag, Unit: "ms", Ours: ms(ours.pct(99)), Baseline: ms(base.pct(99)), Target: map[bool]string{true: "<= 1.2x"}[n == 64]})
		if e1 > e0 {
			rep.add(row{Bench: "write", Metric: "writes per raft entry " + tag, Unit: "count", Ours: (w1 - w0) / (e1 - e0), Baseline: 1,
				Note: "the leader's fedlic_write_batch_commands over warm-up and measurement; the baselines propose one entry per write"})
		}
	}
	return nil
}

func errNote(n int64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d errors", n)
}
