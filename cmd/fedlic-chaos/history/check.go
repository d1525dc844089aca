package history

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// DefaultLinearizabilityTimeout bounds the porcupine search when
// Options.LinearizabilityTimeout is zero.
const DefaultLinearizabilityTimeout = 30 * time.Second

// Options tune Check.
type Options struct {
	// LinearizabilityTimeout bounds the porcupine search; zero means
	// DefaultLinearizabilityTimeout. A search that times out is reported
	// as not linearizable, with LinearizabilityResult "Unknown".
	LinearizabilityTimeout time.Duration
	// VisualizePath, when set, receives porcupine's HTML visualization if
	// the history is not linearizable.
	VisualizePath string
	// LeaderlessWindows are [start, end] intervals (unix ns, inclusive)
	// during which the cluster had no leader.
	LeaderlessWindows [][2]int64
	// NodeDown lists, per node name, the [start, end] intervals during
	// which the node was killed or paused. Stale reads sent to a node that
	// was down when they were invoked do not count against availability.
	NodeDown map[string][][2]int64
}

// Report is the verdict of Check.
type Report struct {
	Ops          int `json:"ops"`
	Acked        int `json:"acked"`          // ok writes
	UnknownWrite int `json:"unknown_writes"` // writes with outcome unknown

	Linearizable bool `json:"linearizable"`
	// LinearizabilityResult is porcupine's answer: "Ok", "Illegal" or
	// "Unknown" (timed out).
	LinearizabilityResult string `json:"linearizability_result"`
	// LinearizabilityOps counts the operations given to porcupine.
	LinearizabilityOps int `json:"linearizability_ops"`
	// NonLinearizable lists the license ids whose sub-history failed.
	NonLinearizable []string `json:"non_linearizable,omitempty"`
	// Visualization is the path the HTML visualization was written to.
	Visualization string `json:"visualization,omitempty"`

	Lost       int      `json:"lost"` // acknowledged writes missing on at least one replica
	LostWrites []string `json:"lost_writes,omitempty"`

	RevocationsUndone int      `json:"revocations_undone"`
	Undone            []string `json:"undone,omitempty"`
	// StaleLaggingAfterRevoke counts stale reads that showed a revoked
	// license as not revoked from a replica whose applied index was below
	// the revocation: lag, allowed for stale reads, not a failure.
	StaleLaggingAfterRevoke int `json:"stale_lagging_after_revoke"`

	Replicas      int               `json:"replicas"`
	ReplicasEqual bool              `json:"replicas_equal"`
	ReplicaHashes map[string]string `json:"replica_hashes,omitempty"`

	StaleDuringNoLeader       int      `json:"stale_during_no_leader"`
	StaleFailedDuringNoLeader int      `json:"stale_failed_during_no_leader"`
	StaleFailures             []string `json:"stale_failures,omitempty"`

	// Errors are problems running the checks themselves, such as failing
	// to write the visualization; they do not change OK.
	Errors []string `json:"errors,omitempty"`
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	return r.Linearizable && r.Lost == 0 && r.RevocationsUndone == 0 &&
		r.ReplicasEqual && r.StaleFailedDuringNoLeader == 0
}

// Check runs every check over h and the final replica states.
func Check(h *History, replicas []ReplicaState, opts Options) Report {
	ops := h.Snapshot()
	r := Report{Ops: len(ops), Replicas: len(replicas)}
	for _, op := range ops {
		if op.Kind.IsWrite() {
			switch op.Outcome {
			case OutcomeOK:
				r.Acked++
			case OutcomeUnknown:
				r.UnknownWrite++
			}
		}
	}
	checkLinearizable(ops, opts, &r)
	checkLost(ops, replicas, &r)
	checkRevocations(ops, replicas, &r)
	checkReplicasEqual(replicas, &r)
	checkStaleAvailability(ops, opts, &r)
	return r
}

// porcupineOps turns the history into porcupine operations, one per
// (operation, license) pair: a replace touches two licenses.
func porcupineOps(ops []Op) []porcupine.Operation {
	var out []porcupine.Operation
	add := func(op Op, in regInput, o regOutput) {
		ret := op.Return
		if o.Unknown {
			ret = math.MaxInt64
		}
		out = append(out, porcupine.Operation{
			ClientId: op.Client, Input: in, Call: op.Call, Output: o, Return: ret,
		})
	}
	for _, op := range ops {
		if op.LicenseID == "" {
			continue // an issue whose id never came back: not tied to any license
		}
		switch {
		case op.Kind.IsWrite():
			if op.Outcome != OutcomeOK && op.Outcome != OutcomeUnknown {
				continue // definitely not applied
			}
			o := regOutput{Unknown: op.Outcome == OutcomeUnknown}
			if !o.Unknown {
				o.Status, o.Version = op.Status, op.Version
			}
			add(op, regInput{ID: op.LicenseID, Kind: op.Kind}, o)
			if op.Kind == KindReplace && op.NewID != "" {
				add(op, regInput{ID: op.NewID, Kind: KindReplace, NewSide: true},
					regOutput{Unknown: o.Unknown})
			}
		case op.Kind.IsRead():
			// Stale reads may lag; failed and unknown reads say nothing
			// certain (a failure may be a rejection, not a NotFound).
			if op.Outcome != OutcomeOK {
				continue
			}
			if op.Consistency != ConsistencyLinearizable && op.Consistency != ConsistencyLeader {
				continue
			}
			o := regOutput{Status: op.Status, Version: op.Version}
			if op.Allowed != nil {
				o.Allowed = -1
				if *op.Allowed {
					o.Allowed = 1
				}
			}
			add(op, regInput{ID: op.LicenseID, Kind: op.Kind}, o)
		}
	}
	return out
}

func checkLinearizable(ops []Op, opts Options, r *Report) {
	pops := porcupineOps(ops)
	r.LinearizabilityOps = len(pops)
	timeout := opts.LinearizabilityTimeout
	if timeout <= 0 {
		timeout = DefaultLinearizabilityTimeout
	}
	res, info := porcupine.CheckOperationsVerbose(registerModel, pops, timeout)
	r.LinearizabilityResult = string(res)
	r.Linearizable = res == porcupine.Ok
	if r.Linearizable {
		return
	}
	if res == porcupine.Illegal {
		// A partition failed when none of its partial linearizations
		// covers all of its operations. Partitions come back in the order
		// partitionByLicense made them.
		parts := partitionByLicense(pops)
		partials := info.PartialLinearizations()
		for i, part := range parts {
			longest := 0
			if i < len(partials) {
				for _, p := range partials[i] {
					longest = max(longest, len(p))
				}
			}
			if longest < len(part) {
				r.NonLinearizable = append(r.NonLinearizable, part[0].Input.(regInput).ID)
			}
		}
	}
	if opts.VisualizePath != "" {
		if err := porcupine.VisualizePath(registerModel, info, opts.VisualizePath); err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("write linearizability visualization: %v", err))
		} else {
			r.Visualization = opts.VisualizePath
		}
	}
}

// checkLost verifies every acknowledged write on every replica.
func checkLost(ops []Op, replicas []ReplicaState, r *Report) {
	for _, op := range ops {
		if !op.Kind.IsWrite() || op.Outcome != OutcomeOK {
			continue
		}
		if op.LicenseID == "" {
			r.Errors = append(r.Errors, fmt.Sprintf("acknowledged %s by client %d at %d has no license id: cannot check it", op.Kind, op.Client, op.Call))
			continue
		}
		var problems []string
		for _, rep := range replicas {
			problems = append(problems, lostOn(op, rep)...)
		}
		if len(problems) > 0 {
			r.Lost++
			r.LostWrites = append(r.LostWrites, fmt.Sprintf("acknowledged %s of %s (v%d, client %d, returned %d): %s",
				op.Kind, op.LicenseID, op.Version, op.Client, op.Return, strings.Join(problems, "; ")))
		}
	}
}

func lostOn(op Op, rep ReplicaState) []string {
	var problems []string
	l, ok := rep.Licenses[op.LicenseID]
	switch {
	case !ok:
		problems = append(problems, fmt.Sprintf("%s: license %s missing", rep.Node, op.LicenseID))
	default:
		if l.Version < max(op.Version, 1) {
			problems = append(problems, fmt.Sprintf("%s: %s at v%d, below acknowledged v%d", rep.Node, op.LicenseID, l.Version, op.Version))
		}
		if (op.Kind == KindRevoke || op.Kind == KindReplace) && l.Status != StatusRevoked {
			problems = append(problems, fmt.Sprintf("%s: %s is %q, not revoked", rep.Node, op.LicenseID, l.Status))
		}
	}
	if op.Kind == KindReplace && op.NewID != "" {
		if _, ok := rep.Licenses[op.NewID]; !ok {
			problems = append(problems, fmt.Sprintf("%s: replacement %s missing", rep.Node, op.NewID))
		}
	}
	return problems
}

// revocation is the earliest evidence that a license was revoked.
type revocation struct {
	at    int64  // earliest Return of an operation that saw it revoked
	index uint64 // lowest raft index known to include it; 0 unknown
	by    string // description of the evidence at `at`
}

// checkRevocations finds licenses seen revoked and later seen not revoked.
func checkRevocations(ops []Op, replicas []ReplicaState, r *Report) {
	revs := map[string]*revocation{}
	note := func(id string, op Op, how string) {
		rv := revs[id]
		if rv == nil {
			rv = &revocation{at: math.MaxInt64}
			revs[id] = rv
		}
		if op.Return < rv.at {
			rv.at = op.Return
			rv.by = fmt.Sprintf("%s by client %d returned at %d", how, op.Client, op.Return)
		}
		if op.Index != 0 && (rv.index == 0 || op.Index < rv.index) {
			rv.index = op.Index
		}
	}
	for _, op := range ops {
		if op.Outcome != OutcomeOK || op.LicenseID == "" {
			continue
		}
		switch {
		case op.Kind == KindRevoke || op.Kind == KindReplace:
			note(op.LicenseID, op, "acknowledged "+string(op.Kind))
		case op.Kind.IsRead() && op.Status == StatusRevoked:
			note(op.LicenseID, op, fmt.Sprintf("%s read of %s", orDash(op.Consistency), op.Node))
		}
	}
	for _, op := range ops {
		if !op.Kind.IsRead() || op.Outcome != OutcomeOK {
			continue
		}
		rv := revs[op.LicenseID]
		if rv == nil || op.Call <= rv.at || op.Status == "" || op.Status == StatusRevoked {
			continue
		}
		stale := op.Consistency != ConsistencyLinearizable && op.Consistency != ConsistencyLeader
		if stale && op.Index != 0 && rv.index != 0 && op.Index < rv.index {
			r.StaleLaggingAfterRevoke++
			continue
		}
		r.RevocationsUndone++
		r.Undone = append(r.Undone, fmt.Sprintf("%s read of %s on %s by client %d called at %d saw %q v%d (applied index %d) after %s (index %d)",
			orDash(op.Consistency), op.LicenseID, orDash(op.Node), op.Client, op.Call, op.Status, op.Version, op.Index, rv.by, rv.index))
	}
	ids := make([]string, 0, len(revs))
	for id := range revs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, rep := range replicas {
			l, ok := rep.Licenses[id]
			if ok && l.Status == StatusRevoked {
				continue
			}
			status := "missing"
			if ok {
				status = fmt.Sprintf("%q", l.Status)
			}
			r.RevocationsUndone++
			r.Undone = append(r.Undone, fmt.Sprintf("replica %s: %s is %s at the end, after %s", rep.Node, id, status, revs[id].by))
		}
	}
}

func checkReplicasEqual(replicas []ReplicaState, r *Report) {
	r.ReplicaHashes = map[string]string{}
	r.ReplicasEqual = len(replicas) > 0
	for _, rep := range replicas {
		r.ReplicaHashes[rep.Node] = rep.Hash
		if rep.Hash == "" || rep.Hash != replicas[0].Hash {
			r.ReplicasEqual = false
		}
	}
}

func checkStaleAvailability(ops []Op, opts Options, r *Report) {
	if len(opts.LeaderlessWindows) == 0 {
		return
	}
	for _, op := range ops {
		if !op.Kind.IsRead() || op.Consistency != ConsistencyStale {
			continue
		}
		// A read in flight when its node went down is not judged: the
		// kill, not the missing leader, cut it off.
		if !inAny(op.Call, opts.LeaderlessWindows) || overlapsAny(op.Call, op.Return, opts.NodeDown[op.Node]) {
			continue
		}
		r.StaleDuringNoLeader++
		if op.Outcome == OutcomeOK || (op.Outcome == OutcomeFail && isNotFound(op.Error)) {
			continue // an answer, even "no such license", is availability
		}
		r.StaleFailedDuringNoLeader++
		r.StaleFailures = append(r.StaleFailures, fmt.Sprintf("stale %s of %s on %s by client %d called at %d: %s %s",
			op.Kind, op.LicenseID, orDash(op.Node), op.Client, op.Call, op.Outcome, op.Error))
	}
}

func inAny(t int64, windows [][2]int64) bool {
	for _, w := range windows {
		if t >= w[0] && t <= w[1] {
			return true
		}
	}
	return false
}

// overlapsAny reports whether [from, to] meets any window.
func overlapsAny(from, to int64, windows [][2]int64) bool {
	for _, w := range windows {
		if from <= w[1] && to >= w[0] {
			return true
		}
	}
	return false
}

func isNotFound(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "not found") || strings.Contains(m, "notfound")
}
