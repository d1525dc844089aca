package fsm

import (
	"bytes"
	"testing"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// Small pools so that generated commands often hit the same licenses,
// collide on ids and name licenses that do not exist.
var (
	propIDs       = []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	propLicensees = []string{"acme", "bolt"}
	propProducts  = []string{"db", "cache"}
	propFeatures  = []string{"seats", "sso", "api"}
)

// genLimit draws a limit, sometimes an invalid one.
func genLimit(t *rapid.T) *pb.Limit {
	switch rapid.IntRange(0, 9).Draw(t, "limitKind") {
	case 0:
		return &pb.Limit{} // no value: invalid
	case 1:
		return &pb.Limit{Kind: &pb.Limit_Count{Count: -1}} // invalid
	case 2, 3, 4:
		return &pb.Limit{Kind: &pb.Limit_Enabled{Enabled: rapid.Bool().Draw(t, "enabled")}}
	default:
		return &pb.Limit{Kind: &pb.Limit_Count{Count: rapid.Int64Range(0, 20).Draw(t, "count")}}
	}
}

func genEntitlements(t *rapid.T) []*pb.Entitlement {
	n := rapid.IntRange(0, 3).Draw(t, "nEnts")
	out := make([]*pb.Entitlement, n)
	for i := range out {
		// Features may repeat: a duplicate is an invalid command.
		out[i] = &pb.Entitlement{Feature: rapid.SampledFrom(propFeatures).Draw(t, "feature"), Limit: genLimit(t)}
	}
	return out
}

// genEnd draws a not_after relative to now: none, past (invalid) or future.
func genEnd(t *rapid.T, now int64) int64 {
	switch rapid.IntRange(0, 4).Draw(t, "endKind") {
	case 0:
		return 0
	case 1:
		return now - rapid.Int64Range(0, 10).Draw(t, "past")*1e9
	default:
		return now + rapid.Int64Range(1, 60).Draw(t, "future")*1e9
	}
}

func genLicense(t *rapid.T, now int64) *pb.License {
	p := &pb.License{
		Id:               rapid.SampledFrom(propIDs).Draw(t, "id"),
		Licensee:         rapid.SampledFrom(propLicensees).Draw(t, "licensee"),
		Product:          rapid.SampledFrom(propProducts).Draw(t, "product"),
		Entitlements:     genEntitlements(t),
		NotAfterUnixNano: genEnd(t, now),
		CreatedUnixNano:  now,
	}
	if rapid.IntRange(0, 5).Draw(t, "hasStart") == 0 {
		p.NotBeforeUnixNano = now + rapid.Int64Range(-5, 30).Draw(t, "start")*1e9
	}
	if rapid.IntRange(0, 3).Draw(t, "hasMeta") == 0 {
		p.Metadata = map[string]string{"k": rapid.SampledFrom([]string{"", "v1", "v2"}).Draw(t, "metaValue")}
	}
	return p
}

// genCommands draws a sequence of encoded log entries with leader times
// that never go back.
func genCommands(t *rapid.T) [][]byte {
	n := rapid.IntRange(1, 60).Draw(t, "n")
	now := at(0)
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		now += rapid.Int64Range(0, 10).Draw(t, "step") * 1e9
		var typ MessageType
		var msg proto.Message
		switch rapid.IntRange(0, 9).Draw(t, "cmd") {
		case 0, 1, 2:
			typ, msg = IssueType, &pb.IssueCommand{License: genLicense(t, now)}
		case 3, 4:
			c := &pb.UpdateCommand{Id: rapid.SampledFrom(propIDs).Draw(t, "id"), TimeUnixNano: now}
			if rapid.Bool().Draw(t, "setEnts") {
				c.SetEntitlements = genEntitlements(t)
			}
			if rapid.IntRange(0, 3).Draw(t, "remove") == 0 {
				c.RemoveFeatures = []string{rapid.SampledFrom(propFeatures).Draw(t, "removeFeature")}
			}
			if rapid.IntRange(0, 3).Draw(t, "meta") == 0 {
				c.SetMetadata = map[string]string{"k": rapid.SampledFrom([]string{"", "v3"}).Draw(t, "setMeta")}
			}
			if rapid.IntRange(0, 2).Draw(t, "renew") == 0 {
				c.SetNotAfter, c.NotAfterUnixNano = true, genEnd(t, now)
			}
			// Includes REVOKED and EXPIRED, which update must refuse.
			c.SetStatus = pb.Status(rapid.IntRange(0, 4).Draw(t, "status"))
			if rapid.IntRange(0, 4).Draw(t, "expect") == 0 {
				c.ExpectedVersion = rapid.Uint64Range(1, 4).Draw(t, "version")
			}
			typ, msg = UpdateType, c
		case 5:
			typ, msg = RevokeType, &pb.RevokeCommand{Id: rapid.SampledFrom(propIDs).Draw(t, "id"),
				Reason: rapid.SampledFrom([]string{"", "fraud", "churn"}).Draw(t, "reason"), TimeUnixNano: now}
		case 6:
			nl := genLicense(t, now)
			typ, msg = ReplaceType, &pb.ReplaceCommand{OldId: rapid.SampledFrom(propIDs).Draw(t, "oldId"), License: nl, TimeUnixNano: now}
		case 7:
			typ, msg = ExpireType, &pb.ExpireCommand{TimeUnixNano: now}
		case 8:
			id := rapid.SampledFrom([]string{"n1", "n2", "n3"}).Draw(t, "member")
			if rapid.IntRange(0, 3).Draw(t, "removeMember") == 0 {
				typ, msg = RemoveMemberType, &pb.RemoveMemberCommand{Id: id, TimeUnixNano: now}
			} else {
				addr := rapid.SampledFrom([]string{"", "10.0.0.1:7000", "10.0.0.2:7000"}).Draw(t, "addr")
				typ, msg = SetMemberType, &pb.SetMemberCommand{Member: &pb.Member{Id: id, RaftAddress: addr, Voter: rapid.Bool().Draw(t, "voter")}, TimeUnixNano: now}
			}
		case 9:
			typ, msg = InitDomainType, &pb.InitDomainCommand{Domain: rapid.SampledFrom([]string{"", "eu", "us"}).Draw(t, "domain"), TimeUnixNano: now}
		}
		b, err := Encode(typ, msg)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		out = append(out, b)
	}
	return out
}

// applyAt applies entry i (raft index i+1) and returns the result.
func applyAt(t *rapid.T, f *FSM, cmds [][]byte, i int) *Result {
	r, ok := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: cmds[i]}).(*Result)
	if !ok {
		t.Fatalf("entry %d: Apply did not return a *Result", i)
	}
	return r
}

func sameResult(a, b *Result) bool {
	if a.Index != b.Index || a.Expired != b.Expired || (a.Err == nil) != (b.Err == nil) {
		return false
	}
	if a.Err != nil && a.Err.Error() != b.Err.Error() {
		return false
	}
	eq := func(x, y *License) bool {
		return (x == nil) == (y == nil) && (x == nil || proto.Equal(x.ToProto(), y.ToProto()))
	}
	return eq(a.License, b.License) && eq(a.Old, b.Old)
}

// checkIndexes asserts that the secondary indexes match the licenses.
func checkIndexes(t *rapid.T, f *FSM) {
	f.view(func(s *state) {
		nLP, nExp := 0, 0
		s.licenses.Ascend(func(l *License) bool {
			if !s.byLP.Has(lpKey{l.Licensee, l.Product, l.ID}) {
				t.Fatalf("license %s missing from the licensee/product index", l.ID)
			}
			nLP++
			if expires(l) {
				if !s.byExpiry.Has(expKey{l.NotAfter, l.ID}) {
					t.Fatalf("license %s (%v, ends %d) missing from the expiry index", l.ID, l.Status, l.NotAfter)
				}
				nExp++
			}
			return true
		})
		if s.byLP.Len() != nLP || s.byExpiry.Len() != nExp {
			t.Fatalf("stale index entries: byLP %d (want %d), byExpiry %d (want %d)", s.byLP.Len(), nLP, s.byExpiry.Len(), nExp)
		}
	})
}

// TestPropertySnapshotReplay: for any command sequence, a replica that
// restores a snapshot taken part-way and applies the rest ends in the
// same state as the one that took it and as one that applied everything.
// Along the way, a revoked license never becomes usable again.
func TestPropertySnapshotReplay(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cmds := genCommands(t)
		mid := rapid.IntRange(0, len(cmds)).Draw(t, "snapshotAt")

		a, c := New(nil), New(nil)
		revoked := map[string]bool{}
		checkRevoked := func(step int) {
			for id := range revoked {
				l, ok := c.Get(id)
				if !ok || l.Status != StatusRevoked || l.Revocation == nil {
					t.Fatalf("after entry %d: revoked license %s is now %+v", step, id, l)
				}
				if r := c.CheckLicense(id, "seats", 0, at(0)); r.Allowed {
					t.Fatalf("after entry %d: revoked license %s allows use", step, id)
				}
			}
			c.view(func(s *state) {
				s.licenses.Ascend(func(l *License) bool {
					if l.Status == StatusRevoked {
						revoked[l.ID] = true
					}
					return true
				})
			})
		}

		// C applies the whole sequence; A the same, with a snapshot at mid.
		var resA, resC []*Result
		for i := range cmds {
			before := c.Hash()
			r := applyAt(t, c, cmds, i)
			if r.Err != nil && c.Hash() != before {
				t.Fatalf("entry %d was rejected (%v) but changed the state", i, r.Err)
			}
			resC = append(resC, r)
			checkRevoked(i)
			checkIndexes(t, c)
		}
		for i := 0; i < mid; i++ {
			resA = append(resA, applyAt(t, a, cmds, i))
		}
		hashAtMid := a.Hash()
		snap, err := a.Snapshot()
		if err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
		for i := mid; i < len(cmds); i++ {
			resA = append(resA, applyAt(t, a, cmds, i))
		}
		// Written out only now: it must still hold the state at mid.
		var sink memSink
		if err := snap.Persist(&sink); err != nil {
			t.Fatalf("Persist: %v", err)
		}
		b := New(nil)
		if err := b.Restore(&closeRecorder{Reader: bytes.NewReader(sink.Bytes())}); err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if b.Hash() != hashAtMid {
			t.Fatalf("restored state differs from the state at the snapshot (entry %d)", mid)
		}
		checkIndexes(t, b)
		for i := mid; i < len(cmds); i++ {
			if r := applyAt(t, b, cmds, i); !sameResult(r, resA[i]) {
				t.Fatalf("entry %d: restored replica answered %+v, original %+v", i, r, resA[i])
			}
		}
		for i := range cmds {
			if !sameResult(resA[i], resC[i]) {
				t.Fatalf("entry %d: replicas answered differently: %+v vs %+v", i, resA[i], resC[i])
			}
		}
		ha, hb, hc := a.Hash(), b.Hash(), c.Hash()
		if ha != hb || ha != hc {
			t.Fatalf("final hashes differ: A %s, B %s, C %s", ha[:12], hb[:12], hc[:12])
		}
		if a.NextExpiry() != b.NextExpiry() || a.NextExpiry() != c.NextExpiry() {
			t.Fatalf("NextExpiry differs: %d %d %d", a.NextExpiry(), b.NextExpiry(), c.NextExpiry())
		}
		checkIndexes(t, a)
		checkIndexes(t, b)
	})
}
