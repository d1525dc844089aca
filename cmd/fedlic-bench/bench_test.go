package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets this test binary stand in for fedlic-bench when the
// write bench starts its three-process baseline (os.Executable).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "bare-raft-node" {
		c := bareNodeCmd()
		c.SetArgs(os.Args[2:])
		if err := c.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBenchesRun runs every benchmark briefly to prove it works end to
// end. It asserts that each produced its figures, never their values:
// speed is measured by `make bench`, not asserted in tests.
func TestBenchesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real agent processes")
	}
	bin := filepath.Join(t.TempDir(), "fedlic")
	build := exec.Command("go", "build", "-o", bin, "../fedlic")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build fedlic: %v\n%s", err, out)
	}
	gossipDomains = 4
	o := opts{duration: 300 * time.Millisecond, warmup: 100 * time.Millisecond, clients: []int{2}, rounds: 1, licenses: 2000, trusting: 1, bin: bin}
	for name, fn := range map[string]func(context.Context, opts, *reporter) error{
		"check": benchCheck, "write": benchWrite, "failover": benchFailover, "revoke": benchRevoke, "snapshot": benchSnapshot,
		"gossip": benchGossip, "federation": benchFederation,
	} {
		rep := &reporter{}
		if err := fn(context.Background(), o, rep); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rep.rows) == 0 {
			t.Fatalf("%s produced no figures", name)
		}
		for _, r := range rep.rows {
			if r.Ours < 0 || (r.Unit != "count" && r.Ours == 0) {
				t.Errorf("%s: figure %q is %v", name, r.Metric, r.Ours)
			}
		}
		t.Logf("%s:\n%s", name, rep.table())
	}
}
