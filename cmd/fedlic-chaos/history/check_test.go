package history

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Helpers building ops by hand. Times are small integers.

func issue(c int, id string, call, ret int64) Op {
	return Op{Client: c, Kind: KindIssue, LicenseID: id, Call: call, Return: ret, Outcome: OutcomeOK, Status: StatusActive, Version: 1}
}

func write(c int, k Kind, id string, call, ret int64, status string, v, index uint64) Op {
	return Op{Client: c, Kind: k, LicenseID: id, Call: call, Return: ret, Outcome: OutcomeOK, Status: status, Version: v, Index: index}
}

func unknown(c int, k Kind, id string, call, gaveUp int64) Op {
	return Op{Client: c, Kind: k, LicenseID: id, Call: call, Return: gaveUp, Outcome: OutcomeUnknown, Error: "deadline exceeded"}
}

func read(c int, cons, id string, call, ret int64, status string, v, index uint64) Op {
	return Op{Client: c, Kind: KindGet, LicenseID: id, Call: call, Return: ret, Outcome: OutcomeOK, Consistency: cons, Node: "n1", Status: status, Version: v, Index: index}
}

func replicas(lics ...LicenseState) []ReplicaState {
	var out []ReplicaState
	for _, n := range []string{"n1", "n2", "n3"} {
		m := map[string]LicenseState{}
		for _, l := range lics {
			m[l.ID] = l
		}
		out = append(out, ReplicaState{Node: n, Hash: "h", Licenses: m})
	}
	return out
}

func lic(id, status string, v uint64) LicenseState {
	return LicenseState{ID: id, Status: status, Version: v}
}

// correctOps is a concurrent history that a correct cluster could produce.
func correctOps() []Op {
	no := false
	chk := read(1, ConsistencyLinearizable, "L1", 45, 55, StatusRevoked, 3, 3)
	chk.Kind, chk.Allowed = KindCheck, &no
	return []Op{
		issue(0, "L1", 0, 10),
		read(1, ConsistencyLinearizable, "L1", 5, 15, StatusActive, 1, 1), // concurrent with the issue
		write(0, KindUpdate, "L1", 20, 30, StatusActive, 2, 2),
		read(1, ConsistencyLeader, "L1", 25, 35, StatusActive, 1, 2), // concurrent with the update: old value
		read(2, ConsistencyLinearizable, "L1", 31, 40, StatusActive, 2, 2),
		write(0, KindRevoke, "L1", 40, 50, StatusRevoked, 3, 3),
		chk,
		read(2, ConsistencyStale, "L1", 60, 61, StatusActive, 2, 2), // lagging follower: index 2 < 3
		issue(2, "L2", 60, 70),
		{Client: 1, Kind: KindReplace, LicenseID: "L2", NewID: "L3", Call: 80, Return: 90, Outcome: OutcomeOK, Status: StatusRevoked, Version: 2, Index: 5},
		read(0, ConsistencyLinearizable, "L3", 91, 95, StatusActive, 1, 5),
		read(0, ConsistencyLinearizable, "L2", 96, 99, StatusRevoked, 2, 5),
		// A rejected second revoke and an issue whose id never came back.
		{Client: 2, Kind: KindRevoke, LicenseID: "L1", Call: 100, Return: 101, Outcome: OutcomeFail, Error: "license L1 is revoked"},
		{Client: 1, Kind: KindIssue, Call: 100, Return: 200, Outcome: OutcomeUnknown},
	}
}

func correctReplicas() []ReplicaState {
	return replicas(lic("L1", StatusRevoked, 3), lic("L2", StatusRevoked, 2), lic("L3", StatusActive, 1))
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		ops      []Op
		replicas []ReplicaState
		opts     Options
		check    func(t *testing.T, r Report)
	}{
		{
			name: "correct concurrent history passes",
			ops:  correctOps(), replicas: correctReplicas(),
			check: func(t *testing.T, r Report) {
				if !r.OK() {
					t.Fatalf("want OK, got %+v", r)
				}
				if r.Acked != 5 || r.UnknownWrite != 1 || r.Ops != 14 {
					t.Errorf("acked %d unknown %d ops %d, want 5 1 14", r.Acked, r.UnknownWrite, r.Ops)
				}
				if r.StaleLaggingAfterRevoke != 1 {
					t.Errorf("stale lagging after revoke = %d, want 1", r.StaleLaggingAfterRevoke)
				}
			},
		},
		{
			name: "replica missing an acknowledged license",
			ops:  correctOps(),
			replicas: func() []ReplicaState {
				r := correctReplicas()
				r[2].Licenses = map[string]LicenseState{"L1": lic("L1", StatusRevoked, 3), "L2": lic("L2", StatusRevoked, 2)}
				return r
			}(),
			check: wantLost(1, "n3: replacement L3 missing"),
		},
		{
			name: "replica with a lower version than acknowledged",
			ops:  []Op{issue(0, "L1", 0, 10), write(0, KindUpdate, "L1", 20, 30, StatusActive, 2, 2)},
			replicas: func() []ReplicaState {
				r := replicas(lic("L1", StatusActive, 2))
				r[1].Licenses["L1"] = lic("L1", StatusActive, 1)
				return r
			}(),
			check: wantLost(1, "n2: L1 at v1, below acknowledged v2"),
		},
		{
			name: "replica lost an acknowledged revoke",
			ops:  []Op{issue(0, "L1", 0, 10), write(0, KindRevoke, "L1", 20, 30, StatusRevoked, 2, 2)},
			replicas: func() []ReplicaState {
				r := replicas(lic("L1", StatusRevoked, 2))
				r[0].Licenses["L1"] = lic("L1", StatusActive, 2)
				return r
			}(),
			check: func(t *testing.T, r Report) {
				wantLost(1, `n1: L1 is "active", not revoked`)(t, r)
				if r.RevocationsUndone != 1 {
					t.Errorf("revocations undone = %d, want 1 (the final replica)", r.RevocationsUndone)
				}
			},
		},
		{
			name: "stale read served as linearizable",
			ops: []Op{
				issue(0, "L1", 0, 10), issue(0, "L2", 0, 10),
				write(0, KindUpdate, "L1", 20, 30, StatusActive, 2, 3),
				read(1, ConsistencyLinearizable, "L1", 40, 50, StatusActive, 1, 2),
				read(1, ConsistencyLinearizable, "L2", 40, 50, StatusActive, 1, 2),
			},
			replicas: replicas(lic("L1", StatusActive, 2), lic("L2", StatusActive, 1)),
			opts:     Options{VisualizePath: "viz.html"},
			check: func(t *testing.T, r Report) {
				if r.Linearizable || r.LinearizabilityResult != "Illegal" || r.OK() {
					t.Fatalf("want not linearizable, got %+v", r)
				}
				if strings.Join(r.NonLinearizable, ",") != "L1" {
					t.Errorf("non-linearizable licenses = %v, want [L1]", r.NonLinearizable)
				}
				if fi, err := os.Stat(r.Visualization); err != nil || fi.Size() == 0 {
					t.Errorf("visualization %q not written: %v (errors %v)", r.Visualization, err, r.Errors)
				}
			},
		},
		{
			name: "the same old value from a stale read is allowed",
			ops: []Op{
				issue(0, "L1", 0, 10),
				write(0, KindUpdate, "L1", 20, 30, StatusActive, 2, 3),
				read(1, ConsistencyStale, "L1", 40, 50, StatusActive, 1, 2),
			},
			replicas: replicas(lic("L1", StatusActive, 2)),
			check:    wantOK,
		},
		{
			name: "a read going back in time around an unknown update",
			ops: []Op{
				issue(0, "L1", 0, 10),
				unknown(0, KindUpdate, "L1", 20, 25),
				read(1, ConsistencyLinearizable, "L1", 30, 40, StatusActive, 2, 2),
				read(1, ConsistencyLinearizable, "L1", 50, 60, StatusActive, 1, 2),
			},
			replicas: replicas(lic("L1", StatusActive, 2)),
			check:    wantNotLinearizable("L1"),
		},
		{
			name: "an acknowledged revoke of a revoked license",
			ops: []Op{
				issue(0, "L1", 0, 10),
				write(0, KindRevoke, "L1", 20, 30, StatusRevoked, 2, 2),
				write(1, KindRevoke, "L1", 40, 50, StatusRevoked, 3, 3),
			},
			replicas: replicas(lic("L1", StatusRevoked, 3)),
			check:    wantNotLinearizable("L1"),
		},
		{
			name: "resurrected revocation seen by a stale read",
			ops: []Op{
				issue(0, "L1", 0, 10),
				write(0, KindUpdate, "L1", 11, 12, StatusActive, 2, 2),
				read(1, ConsistencyStale, "L1", 20, 30, StatusRevoked, 3, 3), // someone revoked it...
				read(2, ConsistencyStale, "L1", 40, 50, StatusActive, 2, 0),  // ...and it came back
			},
			replicas: replicas(lic("L1", StatusRevoked, 3)),
			check: func(t *testing.T, r Report) {
				if r.RevocationsUndone != 1 || r.OK() {
					t.Fatalf("want 1 revocation undone, got %+v", r)
				}
				if !strings.Contains(r.Undone[0], "stale read of L1") {
					t.Errorf("undone = %v", r.Undone)
				}
			},
		},
		{
			name: "resurrected revocation on a replica that had applied it",
			ops: []Op{
				issue(0, "L1", 0, 10),
				write(0, KindRevoke, "L1", 20, 30, StatusRevoked, 2, 5),
				read(2, ConsistencyStale, "L1", 40, 50, StatusActive, 1, 6),
			},
			replicas: replicas(lic("L1", StatusRevoked, 2)),
			check: func(t *testing.T, r Report) {
				if r.RevocationsUndone != 1 || r.StaleLaggingAfterRevoke != 0 {
					t.Fatalf("want 1 undone, 0 lagging, got %+v", r)
				}
			},
		},
		{
			name: "resurrected revocation seen by a linearizable read",
			ops: []Op{
				issue(0, "L1", 0, 10),
				write(0, KindRevoke, "L1", 20, 30, StatusRevoked, 2, 2),
				read(2, ConsistencyLinearizable, "L1", 40, 50, StatusActive, 1, 2),
			},
			replicas: replicas(lic("L1", StatusRevoked, 2)),
			check: func(t *testing.T, r Report) {
				wantNotLinearizable("L1")(t, r)
				if r.RevocationsUndone != 1 {
					t.Errorf("revocations undone = %d, want 1", r.RevocationsUndone)
				}
			},
		},
		{
			name: "resurrected revocation on a final replica",
			ops: []Op{
				issue(0, "L1", 0, 10),
				read(1, ConsistencyLeader, "L1", 20, 30, StatusRevoked, 2, 2), // the revoke itself timed out
				unknown(0, KindRevoke, "L1", 11, 19),
			},
			replicas: func() []ReplicaState {
				r := replicas(lic("L1", StatusRevoked, 2))
				r[2].Licenses["L1"] = lic("L1", StatusActive, 1)
				r[2].Hash = "other"
				return r
			}(),
			check: func(t *testing.T, r Report) {
				if r.RevocationsUndone != 1 || !strings.Contains(r.Undone[0], `replica n3: L1 is "active"`) {
					t.Errorf("undone %d %v, want the n3 replica", r.RevocationsUndone, r.Undone)
				}
				if r.ReplicasEqual || r.Lost != 0 || !r.Linearizable {
					t.Errorf("want replicas unequal, nothing lost, linearizable: %+v", r)
				}
			},
		},
		{
			name: "unknown writes that took effect",
			ops: []Op{
				issue(0, "L1", 0, 10),
				unknown(0, KindUpdate, "L1", 20, 25),
				read(1, ConsistencyLinearizable, "L1", 40, 50, StatusActive, 2, 2),
				unknown(0, KindRevoke, "L1", 60, 65),
				read(1, ConsistencyLinearizable, "L1", 100, 110, StatusRevoked, 3, 3),
				unknown(0, KindIssue, "L2", 60, 65),
				read(1, ConsistencyLinearizable, "L2", 100, 110, StatusActive, 1, 3),
				unknown(1, KindReplace, "L2", 120, 125),
			},
			replicas: replicas(lic("L1", StatusRevoked, 3), lic("L2", StatusRevoked, 2)),
			check:    wantOK,
		},
		{
			name: "unknown writes that did not take effect",
			ops: []Op{
				issue(0, "L1", 0, 10),
				unknown(0, KindUpdate, "L1", 20, 25),
				read(1, ConsistencyLinearizable, "L1", 40, 50, StatusActive, 1, 1),
				unknown(0, KindRevoke, "L1", 60, 65),
				read(1, ConsistencyLinearizable, "L1", 100, 110, StatusActive, 1, 1),
				write(1, KindUpdate, "L1", 120, 130, StatusActive, 2, 4),
			},
			replicas: replicas(lic("L1", StatusActive, 2)),
			check:    wantOK,
		},
		{
			name: "unknown update applied late, after a read",
			ops: []Op{
				issue(0, "L1", 0, 10),
				unknown(0, KindUpdate, "L1", 20, 25),
				read(1, ConsistencyLinearizable, "L1", 40, 50, StatusActive, 1, 1),
				read(1, ConsistencyLinearizable, "L1", 60, 70, StatusActive, 2, 2),
			},
			replicas: replicas(lic("L1", StatusActive, 2)),
			check:    wantOK,
		},
		{
			name:     "differing replica hashes",
			ops:      correctOps(),
			replicas: func() []ReplicaState { r := correctReplicas(); r[1].Hash = "x"; return r }(),
			check: func(t *testing.T, r Report) {
				if r.ReplicasEqual || r.OK() || r.ReplicaHashes["n2"] != "x" {
					t.Fatalf("want replicas unequal, got %+v", r)
				}
			},
		},
		{
			name:     "empty replica hashes",
			ops:      correctOps(),
			replicas: func() []ReplicaState { r := correctReplicas(); r[0].Hash, r[1].Hash, r[2].Hash = "", "", ""; return r }(),
			check: func(t *testing.T, r Report) {
				if r.ReplicasEqual {
					t.Fatal("empty hashes reported equal")
				}
			},
		},
		{
			name: "stale reads while there is no leader",
			ops: []Op{
				issue(0, "L1", 0, 10),
				read(1, ConsistencyStale, "L1", 150, 151, StatusActive, 1, 1),
				{Client: 2, Kind: KindGet, LicenseID: "L1", Call: 160, Return: 170, Outcome: OutcomeFail, Consistency: ConsistencyStale, Node: "n2", Error: "no leader"},
				{Client: 2, Kind: KindGet, LicenseID: "L9", Call: 160, Return: 170, Outcome: OutcomeFail, Consistency: ConsistencyStale, Node: "n2", Error: "license L9 not found"},
				{Client: 2, Kind: KindCheck, LicenseID: "L1", Call: 170, Return: 270, Outcome: OutcomeUnknown, Consistency: ConsistencyStale, Node: "n3"}, // n3 was down
				{Client: 3, Kind: KindCheck, LicenseID: "L1", Call: 160, Return: 190, Outcome: OutcomeUnknown, Consistency: ConsistencyStale, Node: "n3"}, // in flight when n3 went down
				{Client: 3, Kind: KindCheck, LicenseID: "L1", Call: 120, Return: 130, Outcome: OutcomeUnknown, Consistency: ConsistencyStale, Node: "n3"}, // n3 up: a failure
				{Client: 2, Kind: KindGet, LicenseID: "L1", Call: 300, Return: 310, Outcome: OutcomeUnknown, Consistency: ConsistencyStale, Node: "n2"},   // after the window
				read(1, ConsistencyLinearizable, "L1", 180, 181, StatusActive, 1, 1),
			},
			replicas: replicas(lic("L1", StatusActive, 1)),
			opts: Options{
				LeaderlessWindows: [][2]int64{{100, 200}},
				NodeDown:          map[string][][2]int64{"n3": {{165, 250}}},
			},
			check: func(t *testing.T, r Report) {
				if r.StaleDuringNoLeader != 4 || r.StaleFailedDuringNoLeader != 2 || r.OK() {
					t.Fatalf("stale during no leader %d failed %d, want 4 2: %+v", r.StaleDuringNoLeader, r.StaleFailedDuringNoLeader, r)
				}
				if !strings.Contains(r.StaleFailures[0], "no leader") || !strings.Contains(r.StaleFailures[1], "called at 120") {
					t.Errorf("stale failures = %v", r.StaleFailures)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.VisualizePath != "" {
				tt.opts.VisualizePath = filepath.Join(t.TempDir(), tt.opts.VisualizePath)
			}
			h := &History{Ops: tt.ops}
			r := Check(h, tt.replicas, tt.opts)
			if len(r.Errors) > 0 && tt.opts.VisualizePath == "" {
				t.Errorf("check errors: %v", r.Errors)
			}
			tt.check(t, r)
		})
	}
}

func wantOK(t *testing.T, r Report) {
	t.Helper()
	if !r.OK() {
		t.Fatalf("want OK, got %+v", r)
	}
}

func wantLost(n int, detail string) func(*testing.T, Report) {
	return func(t *testing.T, r Report) {
		t.Helper()
		if r.Lost != n || r.OK() {
			t.Fatalf("lost = %d, want %d: %+v", r.Lost, n, r)
		}
		if !strings.Contains(strings.Join(r.LostWrites, "\n"), detail) {
			t.Errorf("lost writes %q do not mention %q", r.LostWrites, detail)
		}
	}
}

func wantNotLinearizable(ids ...string) func(*testing.T, Report) {
	return func(t *testing.T, r Report) {
		t.Helper()
		if r.Linearizable || r.OK() {
			t.Fatalf("want not linearizable, got %+v", r)
		}
		if strings.Join(r.NonLinearizable, ",") != strings.Join(ids, ",") {
			t.Errorf("non-linearizable licenses = %v, want %v", r.NonLinearizable, ids)
		}
	}
}

func TestCheckEmptyHistory(t *testing.T) {
	r := Check(&History{}, replicas(), Options{})
	if !r.OK() || r.Ops != 0 {
		t.Fatalf("empty history with equal replicas: %+v", r)
	}
	if r := Check(&History{}, nil, Options{}); r.ReplicasEqual {
		t.Fatal("no replicas reported equal")
	}
}
