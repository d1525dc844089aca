package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
)

// benchFailover kills the leader with SIGKILL under write load, o.rounds
// times, and measures the gap until the next acknowledged write, and the
// stale checks that failed on the survivors meanwhile.
func benchFailover(ctx context.Context, o opts, rep *reporter) error {
	d, err := startDomain(ctx, o.bin)
	if err != nil {
		return err
	}
	defer d.stop()
	l, _ := d.waitLeader(ctx, 10*time.Second)
	if _, err := l.client.Issue(ctx, sampleIssue(0)); err != nil {
		return err
	}
	if err := d.waitConverged(ctx); err != nil {
		return err
	}
	var lastAck atomic.Int64 // unix ns of the newest acknowledged write
	var down sync.Map        // proc id -> true while killed
	var paused atomic.Bool   // writers pause while a restarted node catches up
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; lctx.Err() == nil; i++ {
				p := d.procs[i%3]
				if _, isDown := down.Load(p.id); isDown || paused.Load() {
					time.Sleep(time.Millisecond)
					continue
				}
				c, cancel := context.WithTimeout(lctx, 2*time.Second)
				_, err := p.client.Issue(c, sampleIssue(i))
				cancel()
				if err == nil {
					lastAck.Store(time.Now().UnixNano())
				} else {
					time.Sleep(2 * time.Millisecond)
				}
			}
		}(w)
	}
	var staleOK, staleFail atomic.Int64
	for _, p := range d.procs {
		wg.Add(1)
		go func(p *agentProc) {
			defer wg.Done()
			for lctx.Err() == nil {
				if _, isDown := down.Load(p.id); isDown {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				c, cancel := context.WithTimeout(lctx, time.Second)
				r, err := p.client.Check(c, "licensee-0", "bench/db", "seats", 1, pb.Consistency_CONSISTENCY_STALE)
				cancel()
				if _, isDown := down.Load(p.id); isDown || lctx.Err() != nil {
					continue // the node was killed while we asked: not a survivor
				}
				if err != nil || !r.GetAllowed() {
					staleFail.Add(1)
				} else {
					staleOK.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}(p)
	}
	var gaps []time.Duration
	for round := 0; round < o.rounds; round++ {
		l, err := d.waitLeader(ctx, 10*time.Second)
		if err != nil {
			return err
		}
		down.Store(l.id, true)
		killAt := time.Now()
		l.kill()
		for lastAck.Load() <= killAt.UnixNano() {
			if time.Since(killAt) > 30*time.Second {
				return fmt.Errorf("no write accepted within 30s of killing %s", l.id)
			}
			time.Sleep(time.Millisecond)
		}
		gap := time.Duration(lastAck.Load() - killAt.UnixNano())
		gaps = append(gaps, gap)
		progress("failover round %d: killed %s, next write after %s", round+1, l.id, gap.Round(time.Millisecond))
		if err := d.startProc(l); err != nil {
			return err
		}
		// The restarted node is recovering, not a survivor, until caught up.
		paused.Store(true)
		err = d.waitConverged(ctx)
		paused.Store(false)
		down.Delete(l.id)
		if err != nil {
			return err
		}
	}
	stop()
	wg.Wait()
	base, err := bareFailover(o.rounds)
	if err != nil {
		return err
	}
	sortDurations(gaps)
	sortDurations(base)
	rep.add(row{Bench: "failover", Metric: "write gap p50", Unit: "ms", Ours: ms(pctOf(gaps, 50)), Baseline: ms(pctOf(base, 50)), Target: "<= 1000"})
	rep.add(row{Bench: "failover", Metric: "write gap max", Unit: "ms", Ours: ms(gaps[len(gaps)-1]), Baseline: ms(base[len(base)-1]), Target: "<= 2000"})
	rep.add(row{Bench: "failover", Metric: "failed stale checks on survivors", Unit: "count", Ours: float64(staleFail.Load()), Target: "0",
		Note: fmt.Sprintf("%d stale checks succeeded", staleOK.Load())})
	return nil
}

// bareFailover: the same kill/measure loop on bare raft in-process.
func bareFailover(rounds int) ([]time.Duration, error) {
	bc, err := startBare()
	if err != nil {
		return nil, err
	}
	defer bc.stop()
	var gaps []time.Duration
	for round := 0; round < rounds; round++ {
		l := bc.waitLeader(10 * time.Second)
		if l == nil {
			return nil, fmt.Errorf("bare raft: no leader")
		}
		idx := 0
		for i, n := range bc.nodes {
			if n == l {
				idx = i
			}
		}
		killAt := time.Now()
		bc.kill(l)
		for {
			nl := bc.waitLeader(30 * time.Second)
			if nl == nil {
				return nil, fmt.Errorf("bare raft: no new leader")
			}
			if nl.r.Apply([]byte("x"), time.Second).Error() == nil {
				break
			}
		}
		gaps = append(gaps, time.Since(killAt))
		if err := bc.restart(idx); err != nil {
			return nil, err
		}
	}
	return gaps, nil
}
