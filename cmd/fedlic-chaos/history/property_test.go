package history

import (
	"fmt"
	"sort"
	"testing"

	"pgregory.net/rapid"
)

// TestCorrectHistoriesPass generates histories from a correct register:
// each operation takes effect at one instant inside its interval (an
// unknown write possibly later, or never) and stale reads see some earlier
// committed state. The checker must accept all of them: no false alarms.
func TestCorrectHistoriesPass(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops, reps := genCorrectHistory(t)
		r := Check(&History{Ops: ops}, reps, Options{})
		if !r.OK() {
			for _, op := range ops {
				t.Logf("%+v", op)
			}
			t.Fatalf("correct history rejected: %+v", r)
		}
	})
}

// TestCorruptedHistoriesFail takes a correct history and then loses the
// last acknowledged write on one replica: the checker must notice.
func TestCorruptedHistoriesFail(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops, reps := genCorrectHistory(t)
		last := -1
		for i, op := range ops {
			if op.Kind.IsWrite() && op.Outcome == OutcomeOK {
				last = i
			}
		}
		if last < 0 {
			t.Skip("no acknowledged write")
		}
		op := ops[last]
		victim := rapid.IntRange(0, len(reps)-1).Draw(t, "victim")
		l := reps[victim].Licenses[op.LicenseID]
		l.Version = op.Version - 1
		reps[victim].Licenses[op.LicenseID] = l
		if r := Check(&History{Ops: ops}, reps, Options{}); r.Lost == 0 || r.OK() {
			t.Fatalf("lost write of %+v on %s not reported: %+v", op, reps[victim].Node, r)
		}
	})
}

type event struct {
	at  int64
	seq int
	op  int // index into ops
}

func genCorrectHistory(t *rapid.T) ([]Op, []ReplicaState) {
	nLic := rapid.IntRange(1, 3).Draw(t, "licenses")
	n := rapid.IntRange(1, 30).Draw(t, "ops")
	kinds := []Kind{KindIssue, KindUpdate, KindRevoke, KindGet, KindCheck}
	cons := []string{ConsistencyLinearizable, ConsistencyLeader, ConsistencyStale}

	ops := make([]Op, n)
	var events []event
	for i := range ops {
		call := rapid.Int64Range(0, 1000).Draw(t, "call")
		dur := rapid.Int64Range(1, 100).Draw(t, "dur")
		op := Op{
			Client:    rapid.IntRange(0, 3).Draw(t, "client"),
			Kind:      rapid.SampledFrom(kinds).Draw(t, "kind"),
			LicenseID: fmt.Sprintf("L%d", rapid.IntRange(0, nLic-1).Draw(t, "license")),
			Call:      call,
			Return:    call + dur,
			Outcome:   OutcomeOK,
		}
		at := call + rapid.Int64Range(0, dur).Draw(t, "effect")
		if op.Kind.IsRead() {
			op.Consistency = rapid.SampledFrom(cons).Draw(t, "consistency")
			op.Node = "n1"
		} else if rapid.IntRange(0, 3).Draw(t, "unknown") == 0 {
			op.Outcome = OutcomeUnknown
			switch rapid.IntRange(0, 2).Draw(t, "fate") {
			case 0:
				at = -1 // never applied
			case 1:
				at = call + rapid.Int64Range(0, dur+200).Draw(t, "late") // maybe after the client gave up
			}
		}
		ops[i] = op
		if at >= 0 {
			events = append(events, event{at: at, seq: i, op: i})
		}
	}
	sort.Slice(events, func(a, b int) bool {
		if events[a].at != events[b].at {
			return events[a].at < events[b].at
		}
		return events[a].seq < events[b].seq
	})

	// Apply in effect order; past[i] is the state after raft index i.
	state := map[string]LicenseState{}
	past := []map[string]LicenseState{{}}
	var index uint64
	commit := func(l LicenseState) {
		index++
		state[l.ID] = l
		snap := map[string]LicenseState{}
		for k, v := range state {
			snap[k] = v
		}
		past = append(past, snap)
	}
	for _, ev := range events {
		op := &ops[ev.op]
		l, exists := state[op.LicenseID]
		ok := true
		switch op.Kind {
		case KindIssue:
			if ok = !exists; ok {
				l = LicenseState{ID: op.LicenseID, Status: StatusActive, Version: 1}
				commit(l)
			}
		case KindUpdate:
			if ok = exists && l.Status != StatusRevoked; ok {
				l.Version++
				commit(l)
			}
		case KindRevoke:
			if ok = exists && l.Status != StatusRevoked; ok {
				l.Status = StatusRevoked
				l.Version++
				commit(l)
			}
		default: // reads
			at := index
			if op.Consistency == ConsistencyStale {
				at = uint64(rapid.IntRange(0, int(index)).Draw(t, "lag"))
				l, exists = past[at][op.LicenseID]
			}
			if ok = exists; ok {
				op.Status, op.Version, op.Index = l.Status, l.Version, at
				if op.Kind == KindCheck {
					allowed := l.Status == StatusActive
					op.Allowed = &allowed
				}
			} else {
				op.Error = "license " + op.LicenseID + " not found"
			}
		}
		switch {
		case op.Outcome == OutcomeUnknown:
		case !ok:
			op.Outcome = OutcomeFail
		case op.Kind.IsWrite():
			op.Status, op.Version, op.Index = l.Status, l.Version, index
		}
	}
	var reps []ReplicaState
	for _, node := range []string{"n1", "n2", "n3"} {
		m := map[string]LicenseState{}
		for k, v := range state {
			m[k] = v
		}
		reps = append(reps, ReplicaState{Node: node, Hash: "h", Licenses: m})
	}
	return ops, reps
}
