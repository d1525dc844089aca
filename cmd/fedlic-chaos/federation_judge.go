package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/fedlic/fedlic/cmd/fedlic-chaos/history"
)

// Domains of the federation run. A is judged; B is the peer that goes
// down.
const (
	fedDomainA = "acme"
	fedDomainB = "partner"
)

// fedSettle is how long after a faulted A node serves stale reads again
// its fault still excuses failures: time for a restarted node to take
// its place among the voters. Longer gaps are failures.
const fedSettle = 2 * time.Second

// fedFault is one fault of the federation run.
type fedFault struct {
	Domain string   `json:"domain"`
	Kind   string   `json:"kind"`
	Nodes  []string `json:"nodes"`
	// Leader: the victim of an A fault was A's leader when it was killed
	// (or its state could not be read, which counts as leader).
	Leader bool  `json:"leader,omitempty"`
	At     int64 `json:"at"` // unix ns, just before the first kill or stop
	// Back is when every victim served stale reads again (unix ns); 0
	// means never, and the fault's window stays open to the end.
	Back   int64  `json:"back"`
	DownMs int64  `json:"down_ms"`
	BackMs int64  `json:"back_ms"`
	Note   string `json:"note,omitempty"`
}

// window is [At, Back+settle], or [At, end] if the victims never came back.
func (f fedFault) window(end int64, settle time.Duration) (int64, int64) {
	if f.Back == 0 {
		return f.At, end
	}
	return f.At, f.Back + int64(settle)
}

// fedCheck is one check A answered (or did not): a token check of A's
// own or B's token, a licensee check, or a verify of a B token. Every
// one of them must answer allowed (valid).
type fedCheck struct {
	Kind     string `json:"kind"`
	Node     string `json:"node"`
	Call     int64  `json:"call"`
	Return   int64  `json:"return"`
	Answered bool   `json:"answered"` // no error
	Allowed  bool   `json:"allowed"`  // allowed, or valid for a verify
	Detail   string `json:"detail,omitempty"`
}

// fedRecord is what the federation run observed, as the judge sees it.
type fedRecord struct {
	Start   int64
	End     int64 // closes windows of faults whose victims never came back
	Checks  []fedCheck
	AWrites []history.Op // A's writes; failures are judged against A's faults
	Faults  []fedFault
}

// fedVerdict is the judge's answer.
type fedVerdict struct {
	AChecks               int
	ACheckFailures        int // not excused: each is a problem
	ACheckExcused         int // sent to an A node inside its own fault window
	AChecksDuringBOutage  int // while all of B was killed or stopped
	AWrites               int
	AWriteFailures        int
	AWriteFailuresOutside int // not inside any A fault window: each is a problem
	Problems              []string
}

const maxFedProblems = 20

// judgeFederation applies the federation rules:
//
//   - Every A check must answer allowed. The only excuse is an A fault of
//     the very node asked, overlapping the check: [At, Back+settle]. A
//     fault of B is never an excuse: A holds B's anchor.
//   - An A write may fail only while overlapping an A fault window. A
//     fault of A's leader excuses writes sent to any A node (they wait
//     for an election); a fault of a follower only writes sent to that
//     follower. With no A faults every A write must succeed.
func judgeFederation(rec fedRecord, settle time.Duration) fedVerdict {
	var v fedVerdict
	var aFaults, bDown []fedFault
	for _, f := range rec.Faults {
		switch {
		case f.Domain == fedDomainA:
			aFaults = append(aFaults, f)
		case f.Kind == fedBOutage || f.Kind == fedBPauseAll:
			bDown = append(bDown, f)
		}
	}
	excuse := func(node string, call, ret int64, write bool) bool {
		for _, f := range aFaults {
			from, to := f.window(rec.End, settle)
			if call <= to && ret >= from && (slices.Contains(f.Nodes, node) || (write && f.Leader)) {
				return true
			}
		}
		return false
	}
	duringB := func(call, ret int64) string {
		for _, f := range bDown {
			from, to := f.window(rec.End, 0)
			if call <= to && ret >= from {
				return fmt.Sprintf(" while all of B was down (%s at %s)", f.Kind, rel(rec.Start, f.At))
			}
		}
		return ""
	}
	problem := func(format string, args ...any) {
		if len(v.Problems) < maxFedProblems {
			v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
		}
	}
	for _, c := range rec.Checks {
		v.AChecks++
		b := duringB(c.Call, c.Return)
		if b != "" {
			v.AChecksDuringBOutage++
		}
		if c.Answered && c.Allowed {
			continue
		}
		if excuse(c.Node, c.Call, c.Return, false) {
			v.ACheckExcused++
			continue
		}
		v.ACheckFailures++
		what := "answered not allowed"
		if !c.Answered {
			what = "failed"
		}
		problem("A check %s on %s at %s %s outside any fault of that node%s: %s", c.Kind, c.Node, rel(rec.Start, c.Call), what, b, c.Detail)
	}
	for _, op := range rec.AWrites {
		v.AWrites++
		if op.Outcome == history.OutcomeOK {
			continue
		}
		v.AWriteFailures++
		if excuse(op.Node, op.Call, op.Return, true) {
			continue
		}
		v.AWriteFailuresOutside++
		problem("A %s of %q via %s at %s failed (%s) outside every A fault window%s: %s",
			op.Kind, op.LicenseID, op.Node, rel(rec.Start, op.Call), op.Outcome, duringB(op.Call, op.Return), op.Error)
	}
	return v
}

// rel formats t as seconds since start.
func rel(start, t int64) string {
	return fmt.Sprintf("%.3fs", float64(t-start)/1e9)
}
