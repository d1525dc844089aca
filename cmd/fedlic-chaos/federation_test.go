package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fedlic/fedlic/cmd/fedlic-chaos/history"
)

// TestFederationChaosShort runs --federation for 40 s: two domains of
// three agents, B killed whole and node by node, A's nodes killed too.
func TestFederationChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six agents and runs faults for 40 s")
	}
	bin := buildFedlic(t)
	reg := newProcRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sum, err := runFederation(ctx, fedOptions{options: options{
		duration: 40 * time.Second, faultInterval: 3 * time.Second, seed: 20241129, clients: 8,
		fedlic: bin, snapshotThreshold: 64, linTimeout: 60 * time.Second,
		stderr: testWriter{t}, register: reg.add,
	}, aFaultInterval: 7 * time.Second})
	b, _ := json.Marshal(sum)
	t.Logf("summary: %s", b)
	if err != nil {
		t.Fatalf("harness error: %v (logs in %s)", err, sum.Kept)
	}
	if !sum.OK {
		t.Errorf("federation check failed (evidence in %s): %v", sum.Kept, sum.Problems)
	}
	switch {
	case sum.BOutages < 1:
		t.Errorf("no whole-domain outage of B: %v", sum.FaultKinds)
	case sum.AFaults < 1:
		t.Errorf("no fault on A: %v", sum.FaultKinds)
	case sum.AChecksDuringBOutage < 100:
		t.Errorf("only %d A checks while B was down, want at least 100", sum.AChecksDuringBOutage)
	case sum.RevocationProbes < 2:
		t.Errorf("%d revocation probes, want one after the outage and one after the heal", sum.RevocationProbes)
	case sum.Acked <= 100:
		t.Errorf("only %d acknowledged writes", sum.Acked)
	}
}

// TestFederationJudgeCatchesPlantedFailures feeds the judge a record
// with an A check that failed while only B was down and an A write that
// failed outside every A fault window: both must be reported, while
// the failures A's own faults explain must not.
func TestFederationJudgeCatchesPlantedFailures(t *testing.T) {
	s := int64(time.Second)
	t0 := int64(1_000) * s
	at := func(sec float64) int64 { return t0 + int64(sec*float64(s)) }
	rec := fedRecord{Start: t0, End: at(60), Faults: []fedFault{
		{Domain: fedDomainB, Kind: fedBOutage, Nodes: []string{"partner-n1", "partner-n2", "partner-n3"}, At: at(10), Back: at(16)},
		{Domain: fedDomainA, Kind: fedAKill, Nodes: []string{"acme-n2"}, At: at(30), Back: at(33)},                     // a follower
		{Domain: fedDomainA, Kind: fedAKillLeader, Nodes: []string{"acme-n1"}, Leader: true, At: at(40), Back: at(42)}, // the leader
	}}
	check := func(node string, sec float64, answered, allowed bool) fedCheck {
		return fedCheck{Kind: fedCheckPeerToken, Node: node, Call: at(sec), Return: at(sec + 0.01), Answered: answered, Allowed: allowed, Detail: "planted"}
	}
	write := func(node string, sec float64, o history.Outcome) history.Op {
		return history.Op{Kind: history.KindUpdate, LicenseID: "lic-x", Node: node, Call: at(sec), Return: at(sec + 0.5), Outcome: o, Error: "planted"}
	}
	rec.Checks = []fedCheck{
		check("acme-n1", 5, true, true),
		check("acme-n3", 12, true, false),   // PLANTED: denied while only B was down
		check("acme-n2", 13, false, false),  // PLANTED: failed while only B was down
		check("acme-n2", 31, false, false),  // excused: acme-n2 itself was down
		check("acme-n2", 34.5, false, true), // excused: inside acme-n2's settle
		check("acme-n3", 31, false, false),  // PLANTED: acme-n3 was up; acme-n2's fault is no excuse
		check("acme-n1", 50, true, true),
	}
	rec.AWrites = []history.Op{
		write("acme-n1", 5, history.OutcomeOK),
		write("acme-n1", 12, history.OutcomeUnknown),   // PLANTED: only B was down
		write("acme-n2", 31, history.OutcomeUnknown),   // excused: sent to the killed follower
		write("acme-n3", 31, history.OutcomeFail),      // PLANTED: a follower's fault excuses only writes to it
		write("acme-n3", 41, history.OutcomeUnknown),   // excused: A's leader was down
		write("acme-n3", 43.9, history.OutcomeUnknown), // excused: in the settle after the leader came back
		write("acme-n3", 45, history.OutcomeUnknown),   // PLANTED: after the settle
	}
	v := judgeFederation(rec, fedSettle)
	if v.AChecks != 7 || v.ACheckFailures != 3 || v.ACheckExcused != 2 {
		t.Errorf("checks: %d judged, %d failures, %d excused; want 7, 3, 2", v.AChecks, v.ACheckFailures, v.ACheckExcused)
	}
	if v.AChecksDuringBOutage != 2 {
		t.Errorf("%d checks during B's outage, want 2", v.AChecksDuringBOutage)
	}
	if v.AWrites != 7 || v.AWriteFailures != 6 || v.AWriteFailuresOutside != 3 {
		t.Errorf("writes: %d, %d failed, %d outside A faults; want 7, 6, 3", v.AWrites, v.AWriteFailures, v.AWriteFailuresOutside)
	}
	joined := strings.Join(v.Problems, "\n")
	for _, want := range []string{"A check peer-token on acme-n3 at 12.000s answered not allowed", "while all of B was down",
		"A update of \"lic-x\" via acme-n1 at 12.000s failed", "via acme-n3 at 31.000s failed", "via acme-n3 at 45.000s failed"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems do not mention %q:\n%s", want, joined)
		}
	}
	if len(v.Problems) != 6 {
		t.Errorf("%d problems, want 6:\n%s", len(v.Problems), joined)
	}

	// Without any A fault, every A write failure is one.
	v = judgeFederation(fedRecord{Start: t0, End: at(60), Faults: rec.Faults[:1],
		AWrites: []history.Op{write("acme-n2", 31, history.OutcomeUnknown)}}, fedSettle)
	if v.AWriteFailuresOutside != 1 {
		t.Errorf("with only B faults, a failed A write was not reported: %+v", v)
	}
	// A victim that never came back keeps its window open to the end.
	v = judgeFederation(fedRecord{Start: t0, End: at(60), Faults: []fedFault{{Domain: fedDomainA, Kind: fedAKill, Nodes: []string{"acme-n2"}, At: at(30)}},
		Checks: []fedCheck{check("acme-n2", 55, false, false)}}, fedSettle)
	if v.ACheckFailures != 0 || v.ACheckExcused != 1 {
		t.Errorf("a check of a node that never came back: %+v", v)
	}
}

func TestFederationScheduleIsSeeded(t *testing.T) {
	draw := func(seed uint64) []fedPlan {
		rng := rand.New(rand.NewPCG(seed, 0xb0b))
		var out []fedPlan
		for i := 0; i < 60; i++ {
			out = append(out, nextBFault(rng, i))
		}
		return out
	}
	a, b, c := draw(1), draw(1), draw(2)
	kinds := map[string]int{}
	same := true
	for i := range a {
		if a[i].kind != b[i].kind || a[i].victim != b[i].victim || a[i].downFor != b[i].downFor || a[i].gaps != b[i].gaps {
			t.Fatalf("fault %d differs for the same seed: %+v vs %+v", i, a[i], b[i])
		}
		same = same && a[i].kind == c[i].kind && a[i].downFor == c[i].downFor
		kinds[a[i].kind]++
		lo, hi := time.Second, 3*time.Second
		if a[i].kind == fedBOutage {
			lo, hi = 2*time.Second, 6*time.Second
		}
		if a[i].downFor < lo || a[i].downFor >= hi {
			t.Errorf("%s down for %s, want [%s, %s)", a[i].kind, a[i].downFor, lo, hi)
		}
	}
	if a[0].kind != fedBOutage || c[0].kind != fedBOutage {
		t.Errorf("B's first fault must be a whole-domain outage: %s, %s", a[0].kind, c[0].kind)
	}
	if same {
		t.Error("seeds 1 and 2 drew the same schedule")
	}
	if len(kinds) != 4 || kinds[fedBOutage] < 10 {
		t.Errorf("60 draws: %v", kinds)
	}
	rng := rand.New(rand.NewPCG(3, 0xa0a))
	for i := 0; i < 20; i++ {
		if p := nextAFault(rng); p.kind != fedAKill && p.kind != fedAKillLeader {
			t.Fatalf("A fault kind %q", p.kind)
		}
	}
}
