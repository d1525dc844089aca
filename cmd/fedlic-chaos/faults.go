package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/cmd/fedlic-chaos/history"
)

// Fault kinds.
const (
	faultKill        = "kill"
	faultKillLeader  = "kill-leader"
	faultPause       = "pause"
	faultPauseLeader = "pause-leader"
	// Partitions (process mode with network namespaces only): the node is
	// cut off from both others, both directions, and stays reachable from
	// the harness's clients.
	faultIsolateLeader   = "isolate-leader"
	faultIsolateFollower = "isolate-follower"
)

// faultKinds are drawn from without partitions; partitionFaultKinds with.
// There is no one-way split: raft runs over TCP, where dropping one
// direction stalls both (no handshake, no acknowledgements), so it would
// be isolate under another name.
var (
	faultKinds          = []string{faultKill, faultKillLeader, faultPause, faultPauseLeader}
	partitionFaultKinds = append(append([]string(nil), faultKinds...), faultIsolateLeader, faultIsolateFollower)
)

func isPartition(kind string) bool { return kind == faultIsolateLeader || kind == faultIsolateFollower }

// faultRecord is one injected fault.
type faultRecord struct {
	At     int64  `json:"at"` // unix ns
	Kind   string `json:"kind"`
	Node   string `json:"node"`
	DownMs int64  `json:"down_ms"` // how long the node was killed, paused or isolated
	// BackMs is how long a restarted node took to serve stale reads again,
	// or a healed one to follow a leader and catch up.
	BackMs int64 `json:"back_ms,omitempty"`
	// End, for a partition that was in place, is when the heal began
	// (unix ns): the partition held over [At, End].
	End  int64  `json:"end,omitempty"`
	Note string `json:"note,omitempty"`
}

// downTracker records when each node was killed, paused or catching up,
// and which node is isolated by a partition. An isolated node is not
// down: it is up, reachable by clients, and must keep answering stale
// reads (checkIsolation and the leaderless-window check hold it to that).
type downTracker struct {
	mu        sync.Mutex
	since     map[string]int64
	intervals map[string][][2]int64
	faults    []faultRecord
	isolated  map[string]bool
}

func newDownTracker() *downTracker {
	return &downTracker{since: map[string]int64{}, intervals: map[string][][2]int64{}, isolated: map[string]bool{}}
}

func (d *downTracker) setIsolated(node string, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on {
		d.isolated[node] = true
	} else {
		delete(d.isolated, node)
	}
}

func (d *downTracker) isIsolated(node string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.isolated[node]
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
// windows in which no node answered with state Leader. An isolated node
// that still calls itself leader does not count: it cannot commit, and
// the majority side is leaderless until it elects one.
type leaderWatch struct {
	mu      sync.Mutex
	windows [][2]int64
	open    int64 // start of the current leaderless window, 0 if none
}

func (w *leaderWatch) run(ctx context.Context, ms []*member, isolated func(string) bool) {
	for ctx.Err() == nil {
		start := time.Now().UnixNano()
		found := make(chan bool, len(ms))
		for _, m := range ms {
			go func() {
				s, err := statusOf(ctx, m, 150*time.Millisecond)
				found <- err == nil && s.GetState() == "Leader" && !isolated(m.name)
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

// partitioner cuts a node (by index) off from the others and heals it.
type partitioner interface {
	isolate(i int) error
	heal(i int) error
}

// faulter injects one fault at a time, so at most one node is ever down
// or isolated and a quorum always survives.
type faulter struct {
	ms    []*member
	down  *downTracker
	rng   *rand.Rand
	logf  func(format string, args ...any)
	stopc <-chan struct{} // closed to end the schedule: restore at once
	kinds []string        // drawn from; nil means faultKinds
	net   partitioner     // nil without partitions
	// hist and pool, if set, let partitions probe the isolated node.
	hist *history.History
	pool *pool
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
		kinds := f.kinds
		if kinds == nil {
			kinds = faultKinds
		}
		p := nextFault(f.rng, len(f.ms), kinds)
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

// nextFault draws the next fault from kinds: a kill keeps the node down
// 1-3 s before the restart, a partition holds 1-3 s before the heal, a
// pause lasts 1-2 s (the election timeout is 300 ms, so a paused or
// isolated leader is replaced).
func nextFault(rng *rand.Rand, nodes int, kinds []string) plannedFault {
	p := plannedFault{kind: kinds[rng.IntN(len(kinds))], victim: rng.IntN(nodes)}
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
	switch kind {
	case faultKillLeader, faultPauseLeader, faultIsolateLeader:
		if l := leaderOf(ctx, f.ms); l != nil {
			victim = l
		} else {
			rec.Note = "no leader found; used a random node"
		}
	case faultIsolateFollower:
		// The drawn node, or the next one if the drawn one leads.
		if l := leaderOf(ctx, f.ms); l == victim {
			victim = f.ms[(indexOf(f.ms, victim)+1)%len(f.ms)]
		} else if l == nil {
			rec.Note = "no leader found; used a random node"
		}
	}
	rec.Node = victim.name
	if isPartition(kind) {
		f.partition(ctx, &rec, victim, downFor)
		f.down.addFault(rec)
		return
	}
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

func indexOf(ms []*member, m *member) int {
	for i, x := range ms {
		if x == m {
			return i
		}
	}
	panic("member " + m.name + " is not in the domain")
}

// partition isolates victim for downFor, heals it, and waits until it
// follows a leader again and has caught up. The node is not marked down.
func (f *faulter) partition(ctx context.Context, rec *faultRecord, victim *member, downFor time.Duration) {
	if f.net == nil {
		panic("partition fault drawn without a partitioner")
	}
	i := indexOf(f.ms, victim)
	if err := f.net.isolate(i); err != nil {
		rec.At = time.Now().UnixNano()
		rec.Note = "isolate failed: " + err.Error()
		f.logf("fault: %s %s failed: %v", rec.Kind, victim.name, err)
		return
	}
	rec.At = time.Now().UnixNano()
	f.down.setIsolated(victim.name, true)
	f.logf("fault: %s %s for %s", rec.Kind, victim.name, downFor.Round(time.Millisecond))
	f.holdIsolated(ctx, victim, downFor)
	rec.End = time.Now().UnixNano()
	rec.DownMs = time.Duration(rec.End - rec.At).Milliseconds()
	// Healing must not fail quietly: a node left isolated would make the
	// final convergence time out with no clue why.
	err := f.net.heal(i)
	for try := 0; err != nil && try < 5; try++ {
		f.logf("fault: heal %s failed (retrying): %v", victim.name, err)
		time.Sleep(200 * time.Millisecond)
		err = f.net.heal(i)
	}
	if err != nil {
		rec.Note = "heal failed: " + err.Error()
		f.logf("fault: heal %s failed: %v", victim.name, err)
		return
	}
	f.down.setIsolated(victim.name, false)
	back := time.Now()
	if err := waitRejoined(ctx, f.ms, victim, 30*time.Second); err != nil {
		rec.Note = "healed node did not rejoin: " + err.Error()
		f.logf("fault: %s healed but %v", victim.name, err)
	}
	rec.BackMs = time.Since(back).Milliseconds()
	f.logf("fault: %s healed, following a leader and caught up after %d ms", victim.name, rec.BackMs)
}

// probeClient is the client id of the partition probes in the history.
const probeClient = -2

// probeTimeout bounds a probe: short, so a probe sent during a partition
// returns before the heal and is judged.
const probeTimeout = 400 * time.Millisecond

// holdIsolated keeps a partition for d (less if the schedule stops). From
// isolationGrace on it probes the isolated node every 100 ms with a read
// of a pool license, alternately stale (it must answer) and linearizable
// (it must not), recorded in the history: load clients soon all wait on
// the isolated node until their timeouts, which mostly end after the
// heal, so without probes few operations would be judged.
func (f *faulter) holdIsolated(ctx context.Context, victim *member, d time.Duration) {
	deadline := time.Now().Add(d)
	if !f.sleep(min(isolationGrace, d)) {
		return
	}
	for n := 0; ; n++ {
		if f.hist != nil && time.Until(deadline) > probeTimeout {
			f.probe(ctx, victim, n)
		}
		left := time.Until(deadline)
		if left <= 0 || !f.sleep(min(100*time.Millisecond, left)) {
			return
		}
	}
}

func (f *faulter) probe(ctx context.Context, m *member, n int) {
	s := f.pool.get(n / 2 % poolSize)
	if s.id == "" {
		return
	}
	cons := pb.Consistency_CONSISTENCY_STALE
	if n%2 == 1 {
		cons = pb.Consistency_CONSISTENCY_LINEARIZABLE
	}
	op := history.Op{Client: probeClient, Kind: history.KindGet, LicenseID: s.id, Node: m.name, Consistency: consName(cons)}
	c, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	op.Call = time.Now().UnixNano()
	resp, err := m.client.Get(c, s.id, cons)
	op.Return = time.Now().UnixNano()
	if err != nil {
		op.Outcome, op.Error = classify(err), err.Error()
	} else {
		op.Outcome = history.OutcomeOK
		op.Status, op.Version, op.Index = lower(resp.GetLicense().GetStatus()), resp.GetLicense().GetVersion(), resp.GetMeta().GetIndex()
	}
	f.hist.Add(op)
}

// waitRejoined waits until victim follows a leader and has applied what
// another node leading had applied when the wait began, so the next fault
// does not meet a quorum that still depends on a node catching up. If the
// victim leads (it won an election after the heal: an isolated leader
// steps down within the 300 ms lease, long before any heal), it is back.
func waitRejoined(ctx context.Context, ms []*member, victim *member, max time.Duration) error {
	var target uint64
	haveTarget := false
	return waitFor(ctx, max, victim.name+" to follow a leader and catch up", func() (bool, string) {
		if !haveTarget {
			victimLeads := false
			for _, m := range ms {
				s, err := statusOf(ctx, m, 500*time.Millisecond)
				if err != nil || s.GetState() != "Leader" {
					continue
				}
				if m == victim {
					victimLeads = true
				} else {
					target, haveTarget = s.GetAppliedIndex(), true
				}
			}
			if !haveTarget {
				return victimLeads, "no leader among the other nodes"
			}
		}
		s, err := statusOf(ctx, victim, time.Second)
		if err != nil {
			return false, err.Error()
		}
		ok := s.GetLeaderId() != "" && s.GetState() != "Leader" && s.GetAppliedIndex() >= target
		if s.GetState() == "Leader" {
			ok = s.GetAppliedIndex() >= target // it won the election after healing
		}
		return ok, fmt.Sprintf("%s %s, leader %q, applied %d of %d", victim.name, s.GetState(), s.GetLeaderId(), s.GetAppliedIndex(), target)
	})
}

// isolationGrace: linearizable reads and writes sent to an isolated node
// are judged only if invoked this long after the partition was in place,
// so no reply that crossed the network before the cut is still in
// flight inside the node.
const isolationGrace = 500 * time.Millisecond

// isolationReport is what the isolated nodes answered during their
// partitions.
type isolationReport struct {
	// StaleReads are stale reads sent to a node while it was isolated;
	// StaleFailed of them got no answer (timeout, unavailable). An
	// isolated replica is up and must answer from what it has.
	StaleReads  int `json:"stale_reads"`
	StaleFailed int `json:"stale_failed"`
	// MinorityOps are linearizable reads and writes sent to a node while
	// it was isolated, invoked at least isolationGrace after the cut.
	// MinorityAcked of them were answered before the heal, which a node
	// without a quorum must never do: a write acknowledged, or a
	// linearizable read answered (with a license, or with "not found").
	// Those answered after the heal may have used the healed network and
	// are left to the linearizability check.
	MinorityOps   int      `json:"minority_ops"`
	MinorityAcked int      `json:"minority_acked"`
	Problems      []string `json:"problems,omitempty"`
}

func (r isolationReport) ok() bool { return r.StaleFailed == 0 && r.MinorityAcked == 0 }

// checkIsolation judges the operations sent to isolated nodes.
func checkIsolation(ops []history.Op, faults []faultRecord) isolationReport {
	var r isolationReport
	for _, f := range faults {
		if !isPartition(f.Kind) || f.End == 0 {
			continue
		}
		for _, op := range ops {
			if op.Node != f.Node || op.Call < f.At || op.Call > f.End {
				continue
			}
			switch {
			case op.Kind.IsRead() && op.Consistency == history.ConsistencyStale:
				r.StaleReads++
				if op.Outcome == history.OutcomeUnknown {
					r.StaleFailed++
					r.Problems = append(r.Problems, fmt.Sprintf("stale %s of %s on %s (isolated) by client %d called at %d: no answer: %s",
						op.Kind, op.LicenseID, op.Node, op.Client, op.Call, op.Error))
				}
			case op.Kind.IsWrite() || op.Consistency == history.ConsistencyLinearizable:
				if op.Call < f.At+int64(isolationGrace) {
					continue
				}
				r.MinorityOps++
				answered := op.Outcome == history.OutcomeOK || (op.Kind.IsRead() && op.Outcome == history.OutcomeFail)
				if answered && op.Return <= f.End {
					r.MinorityAcked++
					what := string(op.Kind)
					if op.Kind.IsRead() {
						what = "linearizable " + what
					}
					r.Problems = append(r.Problems, fmt.Sprintf("%s of %s acknowledged by %s while it was isolated (client %d, called at %d, partition %d-%d)",
						what, op.LicenseID, op.Node, op.Client, op.Call, f.At, f.End))
				}
			}
		}
	}
	return r
}
