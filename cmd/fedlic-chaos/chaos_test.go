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

func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three agents and runs faults for 45 s")
	}
	bin := buildFedlic(t)
	sum := runChaos(t, options{
		duration: 45 * time.Second, faultInterval: 3 * time.Second, seed: 20240601, clients: 8,
		fedlic: bin, snapshotThreshold: 64, linTimeout: 60 * time.Second,
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
			out = append(out, nextFault(rng, 3))
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
		lo, hi := time.Second, 3*time.Second
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
	if len(kinds) != len(faultKinds) {
		t.Errorf("50 draws used only kinds %v", kinds)
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
