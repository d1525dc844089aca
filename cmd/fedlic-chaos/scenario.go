package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fedlic/fedlic/cmd/fedlic-chaos/history"
)

// scenarioSnapshotRestart, before the random faults: revoke licenses,
// write enough entries for a snapshot to include the revocations, then
// kill -9 a follower that has such a snapshot and restart it, so it
// restores from the snapshot. It exercises the restore path for certain
// in a short run (the planted-bug test depends on it).
const scenarioSnapshotRestart = "snapshot-restart"

// snapshotRestart runs the scenario with client id = -1 in the history.
func (r *runner) snapshotRestart(ctx context.Context, f *faulter) error {
	const cl = -1
	rng := rand.New(rand.NewPCG(uint64(r.o.seed), 0x5ce))
	l := r.load
	// Issue into the first slots and revoke half of them.
	revoked := 0
	var revokedAt time.Time
	for try := 0; revoked < 3 && try < 50 && ctx.Err() == nil; try++ {
		i := try % 6
		l.issue(ctx, cl, l.pick(rng), i, rng)
		s := l.pool.get(i)
		if s.id == "" || s.dead {
			continue
		}
		n := len(r.hist.Snapshot())
		l.revoke(ctx, cl, l.pick(rng), i, s)
		if ops := r.hist.Snapshot(); len(ops) > n && ops[len(ops)-1].Outcome == history.OutcomeOK {
			revoked++
			revokedAt = time.Now()
		}
	}
	if revoked == 0 {
		return fmt.Errorf("no revocation acknowledged")
	}
	r.logf("scenario: %d revocations acknowledged; writing 250 more entries", revoked)
	for n := 0; n < 250 && ctx.Err() == nil; n++ {
		i := 10 + rng.IntN(5)
		if s := l.pool.get(i); s.id == "" || s.dead {
			l.issue(ctx, cl, l.pick(rng), i, rng)
		} else {
			l.update(ctx, cl, l.pick(rng), i, s, rng)
		}
	}
	// A follower whose newest complete snapshot was taken after the revocations.
	var victim *member
	err := waitFor(ctx, 30*time.Second, "a follower snapshot taken after the revocations", func() (bool, string) {
		leader := leaderOf(ctx, r.ms)
		for _, m := range r.ms {
			if m != leader && m.proc != nil && newestSnapshot(m.proc.dir).After(revokedAt) {
				victim = m
				return true, ""
			}
		}
		return false, "none yet"
	})
	if err != nil {
		return err
	}
	f.inject(ctx, faultKill, victim, time.Second)
	r.logf("scenario: %s restarted from its snapshot", victim.name)
	return nil
}

// newestSnapshot returns the time of the newest complete raft snapshot
// in a data dir (raft's file store writes meta.json last).
func newestSnapshot(dataDir string) time.Time {
	var newest time.Time
	metas, _ := filepath.Glob(filepath.Join(dataDir, "snapshots", "*", "meta.json"))
	for _, m := range metas {
		if strings.HasSuffix(filepath.Dir(m), ".tmp") {
			continue // still being written
		}
		if fi, err := os.Stat(m); err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	return newest
}
