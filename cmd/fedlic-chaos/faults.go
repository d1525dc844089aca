package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"
)

// Fault kinds.
const (
	faultKill        = "kill"
	faultKillLeader  = "kill-leader"
	faultPause       = "pause"
	faultPauseLeader = "pause-leader"
)

var faultKinds = []string{faultKill, faultKillLeader, faultPause, faultPauseLeader}

// faultRecord is one injected fault.
type faultRecord struct {
	At     int64  `json:"at"` // unix ns
	Kind   string `json:"kind"`
	Node   string `json:"node"`
	DownMs int64  `json:"down_ms"` // how long the node was killed or paused
	// BackMs is how long a restarted node took to serve stale reads again.
	BackMs int64  `json:"back_ms,omitempty"`
	Note   string `json:"note,omitempty"`
}

// downTracker records when each node was killed, paused or catching up.
type downTracker struct {
	mu        sync.Mutex
	since     map[string]int64
	intervals map[string][][2]int64
	faults    []faultRecord
}

func newDownTracker() *downTracker {
	return &downTracker{since: map[string]int64{}, intervals: map[string][][2]int64{}}
}

func (d *downTracker) markDown(node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.since[node]; !ok {
		d.since[node] = time.Now().UnixNano()
	}
}

func (d *downTracker) markUp(node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.since[node]; ok {
		d.intervals[node] = append(d.intervals[node], [2]int64{s, time.Now().UnixNano()})
		delete(d.since, node)
	}
}

func (d *downTracker) isDown(node string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.since[node]
	return ok
}

func (d *downTracker) addFault(f faultRecord) {
	d.mu.Lock()
	d.faults = append(d.faults, f)
	d.mu.Unlock()
}

// snapshot returns the down intervals (open ones closed now) and faults.
func (d *downTracker) snapshot() (map[string][][2]int64, []faultRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string][][2]int64{}
	for n, iv := range d.intervals {
		out[n] = append([][2]int64(nil), iv...)
	}
	now := time.Now().UnixNano()
	for n, s := range d.since {
		out[n] = append(out[n], [2]int64{s, now})
	}
	return out, append([]faultRecord(nil), d.faults...)
}

// leaderWatch polls Status on every node every ~50 ms and records the
// windows in which no node answered with state Leader.
type leaderWatch struct {
	mu      sync.Mutex
	windows [][2]int64
	open    int64 // start of the current leaderless window, 0 if none
}

func (w *leaderWatch) run(ctx context.Context, ms []*member) {
	for ctx.Err() == nil {
		start := time.Now().UnixNano()
		found := make(chan bool, len(ms))
		for _, m := range ms {
			go func() {
				s, err := statusOf(ctx, m, 150*time.Millisecond)
				found <- err == nil && s.GetState() == "Leader"
			}()
		}
		leader := false
		for range ms {
			leader = <-found || leader
		}
		if ctx.Err() != nil {
			break
		}
		w.mu.Lock()
		switch {
		case !leader && w.open == 0:
			w.open = start
		case leader && w.open != 0:
			w.windows = append(w.windows, [2]int64{w.open, start})
			w.open = 0
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (w *leaderWatch) snapshot() [][2]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([][2]int64(nil), w.windows...)
	if w.open != 0 {
		out = append(out, [2]int64{w.open, time.Now().UnixNano()})
	}
	return out
}

// faulter injects one fault at a time, so at most one node is ever down
// and a quorum always survives.
type faulter struct {
	ms    []*member
	down  *downTracker
	rng   *rand.Rand
	logf  func(format string, args ...any)
	stopc <-chan struct{} // closed to end the schedule: restore at once
}

// sleep waits d or until the schedule is stopped; false if stopped.
func (f *faulter) sleep(d time.Duration) bool {
	select {
	case <-f.stopc:
		return false
	case <-time.After(d):
		return true
	}
}

// schedule injects a fault every interval until stopped. Every choice
// (kind, node, durations) is drawn from rng, in the same order, so a
// seed gives the same sequence of faults.
func (f *faulter) schedule(ctx context.Context, interval time.Duration) {
	next := time.Now().Add(interval)
	for {
		if !f.sleep(time.Until(next)) {
			return
		}
		p := nextFault(f.rng, len(f.ms))
		f.inject(ctx, p.kind, f.ms[p.victim], p.downFor)
		next = next.Add(interval)
		if now := time.Now(); next.Before(now) {
			next = now.Add(interval / 4) // the previous fault overran: let the domain breathe
		}
	}
}

// plannedFault is one draw of the schedule.
type plannedFault struct {
	kind    string
	victim  int // index of the node, used unless the kind targets the leader
	downFor time.Duration
}

// nextFault draws the next fault: a kill keeps the node down 1-3 s
// before the restart, a pause lasts 1-2 s (the election timeout is
// 300 ms, so a paused leader is replaced).
func nextFault(rng *rand.Rand, nodes int) plannedFault {
	p := plannedFault{kind: faultKinds[rng.IntN(len(faultKinds))], victim: rng.IntN(nodes)}
	switch p.kind {
	case faultPause, faultPauseLeader:
		p.downFor = time.Second + time.Duration(rng.Int64N(int64(time.Second)))
	default:
		p.downFor = time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))
	}
	return p
}

// leaderOf returns the member that reports itself leader, or nil.
func leaderOf(ctx context.Context, ms []*member) *member {
	for _, m := range ms {
		if s, err := statusOf(ctx, m, 500*time.Millisecond); err == nil && s.GetState() == "Leader" {
			return m
		}
	}
	return nil
}

// inject runs one fault to completion: the node is back (resumed, or
// restarted and serving stale reads) when it returns, even if the
// schedule was stopped meanwhile.
func (f *faulter) inject(ctx context.Context, kind string, victim *member, downFor time.Duration) {
	rec := faultRecord{Kind: kind}
	if kind == faultKillLeader || kind == faultPauseLeader {
		if l := leaderOf(ctx, f.ms); l != nil {
			victim = l
		} else {
			rec.Note = "no leader found; used a random node"
		}
	}
	rec.Node = victim.name
	p := victim.proc
	f.down.markDown(victim.name)
	rec.At = time.Now().UnixNano()
	switch kind {
	case faultKill, faultKillLeader:
		p.kill()
		f.logf("fault: %s %s (restart in %s)", kind, victim.name, downFor.Round(time.Millisecond))
		f.sleep(downFor)
		rec.DownMs = time.Since(time.Unix(0, rec.At)).Milliseconds()
		if err := p.start(); err != nil {
			rec.Note = "restart failed: " + err.Error()
			f.logf("fault: restart %s failed: %v", victim.name, err)
			break
		}
		back := time.Now()
		if err := waitServing(ctx, victim, 30*time.Second); err != nil {
			rec.Note = "restarted node not serving: " + err.Error()
			f.logf("fault: %s restarted but %v", victim.name, err)
		}
		rec.BackMs = time.Since(back).Milliseconds()
		f.logf("fault: %s restarted, serving after %d ms", victim.name, rec.BackMs)
	case faultPause, faultPauseLeader:
		if err := p.signal(syscall.SIGSTOP); err != nil {
			rec.Note = "SIGSTOP failed: " + err.Error()
		}
		f.logf("fault: %s %s for %s", kind, victim.name, downFor.Round(time.Millisecond))
		f.sleep(downFor)
		if err := p.signal(syscall.SIGCONT); err != nil {
			rec.Note = "SIGCONT failed: " + err.Error()
		}
		rec.DownMs = time.Since(time.Unix(0, rec.At)).Milliseconds()
	default:
		panic(fmt.Sprintf("unknown fault kind %q", kind))
	}
	f.down.markUp(victim.name)
	f.down.addFault(rec)
}
