package main

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/cmd/fedlic-chaos/history"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// buildFedlic builds the agent binary (without -race: it is the system
// under test, not this harness) into a temp dir.
func buildFedlic(t *testing.T, tags ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "fedlic")
	args := []string{"build", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, "../fedlic")
	cmd := exec.Command(goBin, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build fedlic %v: %v\n%s", tags, err, b)
	}
	return out
}

// procRegistry kills, in t.Cleanup, every agent a run started, even if
// the run did not get to clean up itself.
type procRegistry struct {
	mu    sync.Mutex
	procs []*agentProc
}

func newProcRegistry(t *testing.T) *procRegistry {
	r := &procRegistry{}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range r.procs {
			p.stop()
		}
	})
	return r
}

func (r *procRegistry) add(p *agentProc) {
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
}

// testWriter sends progress lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func runChaos(t *testing.T, o options, bound time.Duration) summary {
	t.Helper()
	reg := newProcRegistry(t)
	o.register = reg.add
	o.stderr = testWriter{t}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	sum, err := run(ctx, o)
	b, _ := json.Marshal(sum)
	t.Logf("summary: %s", b)
	if err != nil {
		t.Fatalf("harness error: %v", err)
	}
	return sum
}

// TestChaosShort runs with partitions (network namespaces) when root:
// then they are required, and the run must have isolated a node.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three agents and runs faults for 45 s")
	}
	parts := partitionsNetns
	if os.Geteuid() != 0 {
		parts = partitionsOff
		t.Log("not root: running without partition faults (network namespaces need root)")
	}
	bin := buildFedlic(t)
	sum := runChaos(t, options{
		duration: 45 * time.Second, faultInterval: 3 * time.Second, seed: 20240601, clients: 8,
		fedlic: bin, snapshotThreshold: 64, linTimeout: 60 * time.Second, partitions: parts,
	}, 4*time.Minute)
	if !sum.OK {
		t.Errorf("chaos check failed (evidence in %s): %+v", sum.Kept, sum)
	}
	if sum.Faults < 5 {
		t.Errorf("only %d faults injected, want at least 5", sum.Faults)
	}
	if sum.Acked <= 100 {
		t.Errorf("only %d acknowledged writes, want more than 100", sum.Acked)
	}
	if parts == partitionsNetns {
		if sum.Partitions != "netns" {
			t.Errorf("partitions = %q, want netns", sum.Partitions)
		}
		if n := sum.FaultKinds[faultIsolateLeader] + sum.FaultKinds[faultIsolateFollower]; n == 0 {
			t.Errorf("no partition among the faults: %v", sum.FaultKinds)
		}
		if sum.Isolation == nil || sum.Isolation.StaleReads == 0 || sum.Isolation.MinorityOps == 0 {
			t.Errorf("no operations reached an isolated node: %+v", sum.Isolation)
		}
	}
}

// TestChaosCatchesPlantedBug runs an agent built to forget revocations
// when it restores a snapshot: the checker must notice.
func TestChaosCatchesPlantedBug(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three agents and runs faults for 30 s")
	}
	bin := buildFedlic(t, "fedlic_plantedbug")
	sum := runChaos(t, options{
		duration: 30 * time.Second, faultInterval: 3 * time.Second, seed: 7, clients: 8,
		fedlic: bin, snapshotThreshold: 64, linTimeout: 60 * time.Second,
		scenario: scenarioSnapshotRestart, keep: t.TempDir(),
	}, 4*time.Minute)
	if sum.OK {
		t.Fatalf("the planted bug went unnoticed: %+v", sum)
	}
	if sum.RevocationsUndone == 0 && sum.ReplicasEqual {
		t.Errorf("check failed, but not by undone revocations or unequal replicas: %+v", sum)
	}
}

func TestFaultScheduleIsSeeded(t *testing.T) {
	draw := func(seed uint64) []plannedFault {
		rng := rand.New(rand.NewPCG(seed, 0xfa17))
		var out []plannedFault
		for i := 0; i < 50; i++ {
			out = append(out, nextFault(rng, 3, partitionFaultKinds))
		}
		return out
	}
	a, b, c := draw(1), draw(1), draw(2)
	kinds := map[string]bool{}
	same := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("fault %d differs for the same seed: %+v vs %+v", i, a[i], b[i])
		}
		same = same && a[i] == c[i]
		kinds[a[i].kind] = true
		if a[i].victim < 0 || a[i].victim > 2 {
			t.Errorf("victim %d out of range", a[i].victim)
		}
		lo, hi := time.Second, 3*time.Second // kills and partitions
		if a[i].kind == faultPause || a[i].kind == faultPauseLeader {
			hi = 2 * time.Second
		}
		if a[i].downFor < lo || a[i].downFor >= hi {
			t.Errorf("%s down for %s, want [%s, %s)", a[i].kind, a[i].downFor, lo, hi)
		}
	}
	if same {
		t.Error("seeds 1 and 2 drew the same schedule")
	}
	if len(kinds) != len(partitionFaultKinds) {
		t.Errorf("50 draws used only kinds %v", kinds)
	}
}

// TestIsolationCheck shows checkIsolation failing a run whose isolated
// node acknowledged a linearizable read and a write or left a stale read
// unanswered, and ignoring what it may not judge.
func TestIsolationCheck(t *testing.T) {
	const at, end = int64(10e9), int64(12e9)
	faults := []faultRecord{
		{Kind: faultIsolateLeader, Node: "n1", At: at, End: end},
		{Kind: faultIsolateFollower, Node: "n2", At: 20e9, Note: "isolate failed"}, // never in place
		{Kind: faultKill, Node: "n3", At: at, End: end},
	}
	late := at + int64(isolationGrace) + 1
	op := func(node string, kind history.Kind, cons string, call, ret int64, out history.Outcome) history.Op {
		return history.Op{Node: node, Kind: kind, Consistency: cons, Call: call, Return: ret, Outcome: out, LicenseID: "L"}
	}
	lin, stale := history.ConsistencyLinearizable, history.ConsistencyStale
	good := []history.Op{
		op("n1", history.KindGet, stale, at+1, at+2, history.OutcomeOK),
		op("n1", history.KindCheck, stale, end-1, end+5, history.OutcomeFail), // an answer
		op("n1", history.KindGet, lin, late, end-1, history.OutcomeUnknown),
		op("n1", history.KindIssue, "", late, end-1, history.OutcomeUnknown),
		op("n1", history.KindGet, lin, at+1, at+2, history.OutcomeOK),         // within the grace
		op("n1", history.KindUpdate, "", late, end+1, history.OutcomeOK),      // judged, but answered after the heal
		op("n1", history.KindRevoke, "", late, late+1, history.OutcomeFail),   // rejected: not an acknowledgement
		op("n2", history.KindGet, lin, late, end-1, history.OutcomeOK),        // not isolated then
		op("n3", history.KindGet, stale, late, end-1, history.OutcomeUnknown), // killed, not isolated
		op("n2", history.KindGet, stale, 20e9+1, 20e9+2, history.OutcomeUnknown),
	}
	r := checkIsolation(good, faults)
	if !r.ok() || r.StaleReads != 2 || r.MinorityOps != 4 {
		t.Fatalf("good history: %+v, want ok with 2 stale reads and 4 judged minority ops", r)
	}
	bad := append(good,
		op("n1", history.KindGet, lin, late, end-1, history.OutcomeOK),
		op("n1", history.KindGet, lin, late, end-1, history.OutcomeFail), // "not found" is an answer too
		op("n1", history.KindRevoke, "", late, end-1, history.OutcomeOK),
		op("n1", history.KindCheck, stale, at+5, at+6, history.OutcomeUnknown),
	)
	r = checkIsolation(bad, faults)
	if r.ok() || r.MinorityAcked != 3 || r.StaleFailed != 1 || len(r.Problems) != 4 {
		t.Fatalf("bad history: %+v, want 3 acknowledged minority ops and 1 failed stale read", r)
	}
	sum := summarize(history.Report{Linearizable: true, ReplicasEqual: true}, &r, faults, nil, 1)
	if sum.OK || sum.Isolation == nil || sum.Isolation.MinorityAcked != 3 || len(sum.Problems) == 0 {
		t.Errorf("summary of a failed isolation check: %+v", sum)
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want history.Outcome
	}{
		{status.Error(codes.InvalidArgument, "x"), history.OutcomeFail},
		{status.Error(codes.NotFound, "x"), history.OutcomeFail},
		{status.Error(codes.FailedPrecondition, "x"), history.OutcomeFail},
		{status.Error(codes.AlreadyExists, "x"), history.OutcomeFail},
		{status.Error(codes.Unavailable, "x"), history.OutcomeUnknown},
		{status.Error(codes.DeadlineExceeded, "x"), history.OutcomeUnknown},
		{status.Error(codes.Canceled, "x"), history.OutcomeUnknown},
		{status.Error(codes.Internal, "x"), history.OutcomeUnknown},
		{context.DeadlineExceeded, history.OutcomeUnknown},
		{errors.New("connection reset"), history.OutcomeUnknown},
	}
	for _, c := range cases {
		if got := classify(c.err); got != c.want {
			t.Errorf("classify(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}

func TestStatusNames(t *testing.T) {
	for s, want := range map[pb.Status]string{
		pb.Status_STATUS_ACTIVE: history.StatusActive, pb.Status_STATUS_SUSPENDED: history.StatusSuspended,
		pb.Status_STATUS_REVOKED: history.StatusRevoked, pb.Status_STATUS_EXPIRED: history.StatusExpired,
		pb.Status_STATUS_UNSPECIFIED: "",
	} {
		if got := lower(s); got != want {
			t.Errorf("lower(%s) = %q, want %q", s, got, want)
		}
	}
}

// Unknown modes and a missing docker script are harness errors (exit 2);
// docker mode itself runs in `make chaos-docker`, not in make test.
func TestModeErrors(t *testing.T) {
	if code := mainExit([]string{"--mode", "bogus"}); code != 2 {
		t.Errorf("--mode bogus exited %d, want 2", code)
	}
	if code := mainExit([]string{"--mode", "docker", "--docker-script", "/nonexistent/chaos.sh"}); code != 2 {
		t.Errorf("--mode docker without its script exited %d, want 2", code)
	}
}
