package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"
)

// Federation fault kinds. B's: one node killed (-9) and restarted, B's
// leader likewise, every B node killed at once and restarted from the
// same data dirs in a drawn order with drawn gaps (a whole-domain
// outage), every B node stopped (SIGSTOP) and resumed. A's: one node or
// A's leader killed and restarted.
const (
	fedBKill       = "b-kill"
	fedBKillLeader = "b-kill-leader"
	fedBOutage     = "b-outage"
	fedBPauseAll   = "b-pause-all"
	fedAKill       = "a-kill"
	fedAKillLeader = "a-kill-leader"
)

// fedPlan is one draw of a federation fault schedule.
type fedPlan struct {
	kind    string
	victim  int
	downFor time.Duration
	order   []int            // outage: the order B's nodes restart in
	gaps    [3]time.Duration // outage: wait before restarting order[i]
}

// nextBFault draws B's n-th fault: the first is always a whole-domain
// outage (so even a short run has one), then 40 % outages, 20 % each of
// the others. Outages last 2-6 s, kills and pauses 1-3 s.
func nextBFault(rng *rand.Rand, n int) fedPlan {
	p := fedPlan{victim: rng.IntN(3), order: rng.Perm(3), downFor: time.Second + durN(rng, 2*time.Second)}
	for i := range p.gaps {
		p.gaps[i] = durN(rng, time.Second)
	}
	switch r := rng.IntN(100); {
	case n == 0 || r < 40:
		p.kind, p.downFor = fedBOutage, 2*time.Second+durN(rng, 4*time.Second)
	case r < 60:
		p.kind = fedBKill
	case r < 80:
		p.kind = fedBKillLeader
	default:
		p.kind = fedBPauseAll
	}
	return p
}

// nextAFault draws one of A's faults: a node or the leader, killed for 1-3 s.
func nextAFault(rng *rand.Rand) fedPlan {
	p := fedPlan{kind: fedAKill, victim: rng.IntN(3), downFor: time.Second + durN(rng, 2*time.Second)}
	if rng.IntN(2) == 0 {
		p.kind = fedAKillLeader
	}
	return p
}

// fedFaulter runs one domain's fault schedule, one fault at a time.
type fedFaulter struct {
	d     *fedDomain
	rng   *rand.Rand
	logf  func(format string, args ...any)
	stopc <-chan struct{}
	mu    sync.Mutex
	log   []fedFault
	// after runs after each B outage, before the next fault (B's
	// revocation probe).
	after func(ctx context.Context, f fedFault)
}

func (f *fedFaulter) sleep(d time.Duration) bool {
	select {
	case <-f.stopc:
		return false
	case <-time.After(d):
		return true
	}
}

func (f *fedFaulter) faults() []fedFault {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fedFault(nil), f.log...)
}

// schedule injects a fault every interval until stopped; every victim
// is back when it returns. draw gives the n-th fault.
func (f *fedFaulter) schedule(ctx context.Context, interval time.Duration, draw func(n int) fedPlan) {
	next := time.Now().Add(interval)
	for n := 0; ; n++ {
		if !f.sleep(time.Until(next)) {
			return
		}
		p := draw(n)
		rec := f.inject(ctx, p)
		f.mu.Lock()
		f.log = append(f.log, rec)
		f.mu.Unlock()
		if rec.Kind == fedBOutage && f.after != nil && ctx.Err() == nil {
			f.after(ctx, rec)
		}
		next = next.Add(interval)
		if now := time.Now(); next.Before(now) {
			next = now.Add(interval / 4)
		}
	}
}

// inject runs one fault to completion.
func (f *fedFaulter) inject(ctx context.Context, p fedPlan) fedFault {
	rec := fedFault{Domain: f.d.name, Kind: p.kind}
	victims := []*member{f.d.ms[p.victim]}
	switch p.kind {
	case fedBOutage, fedBPauseAll:
		victims = f.d.ms
	case fedBKillLeader, fedAKillLeader:
		if l := leaderOf(ctx, f.d.ms); l != nil {
			victims = []*member{l}
		} else {
			rec.Note = "no leader found; used a drawn node"
		}
	}
	if p.kind == fedAKill || p.kind == fedAKillLeader {
		// Whether the victim leads decides which writes its fault excuses.
		s, err := statusOf(ctx, victims[0], 500*time.Millisecond)
		rec.Leader = err != nil || s.GetState() == "Leader"
	}
	for _, m := range victims {
		rec.Nodes = append(rec.Nodes, m.name)
	}
	var noteMu sync.Mutex // eachOf runs concurrently
	note := func(format string, args ...any) {
		noteMu.Lock()
		defer noteMu.Unlock()
		rec.Note += " " + fmt.Sprintf(format, args...)
	}
	f.d.setDown(true, victims...)
	rec.At = time.Now().UnixNano()
	eachOf(victims, func(m *member) {
		if p.kind == fedBPauseAll {
			if err := m.proc.signal(syscall.SIGSTOP); err != nil {
				note("SIGSTOP %s: %v", m.name, err)
			}
			return
		}
		m.proc.kill()
	})
	f.logf("fault: %s %v (back in %s)", p.kind, rec.Nodes, p.downFor.Round(time.Millisecond))
	f.sleep(p.downFor)
	rec.DownMs = time.Since(time.Unix(0, rec.At)).Milliseconds()
	back := time.Now()
	switch p.kind {
	case fedBPauseAll:
		eachOf(victims, func(m *member) {
			if err := m.proc.signal(syscall.SIGCONT); err != nil {
				note("SIGCONT %s: %v", m.name, err)
			}
		})
	case fedBOutage:
		for i, k := range p.order {
			f.sleep(p.gaps[i])
			if err := victims[k].proc.start(); err != nil {
				note("restart %s: %v", victims[k].name, err)
			}
		}
	default:
		if err := victims[0].proc.start(); err != nil {
			note("restart: %v", err)
		}
	}
	var errs []string
	eachOf(victims, func(m *member) {
		if err := waitServing(ctx, m, 60*time.Second); err != nil {
			noteMu.Lock()
			errs = append(errs, err.Error())
			noteMu.Unlock()
		}
	})
	if len(victims) == len(f.d.ms) && len(errs) == 0 {
		if err := waitFor(ctx, 30*time.Second, f.d.name+" to elect a leader", func() (bool, string) {
			return leaderOf(ctx, f.d.ms) != nil, "no leader"
		}); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) == 0 {
		rec.Back = time.Now().UnixNano()
		rec.BackMs = time.Since(back).Milliseconds()
		f.logf("fault: %s %v over, serving %d ms after the restart", p.kind, rec.Nodes, rec.BackMs)
	} else {
		note("not back: %v", errs)
		f.logf("fault: %s %v: victims not back: %v", p.kind, rec.Nodes, errs)
	}
	f.d.setDown(false, victims...)
	return rec
}

// eachOf runs fn on every member concurrently and waits.
func eachOf(ms []*member, fn func(*member)) {
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); fn(m) }()
	}
	wg.Wait()
}

// durN draws a duration in [0, d).
func durN(rng *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(rng.Int64N(int64(d)))
}
