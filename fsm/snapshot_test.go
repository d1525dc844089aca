package fsm

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// memSink is an in-memory raft.SnapshotSink.
type memSink struct {
	bytes.Buffer
	cancelled, closed bool
}

var _ raft.SnapshotSink = (*memSink)(nil)

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

// failSink fails every write after the first limit bytes.
type failSink struct {
	memSink
	limit int
}

func (s *failSink) Write(p []byte) (int, error) {
	if s.Len()+len(p) > s.limit {
		return 0, errors.New("disk full")
	}
	return s.memSink.Write(p)
}

// closeRecorder remembers whether Restore closed its reader.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// persist takes a snapshot of f and returns its bytes.
func persist(t testing.TB, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return persistSnap(t, snap)
}

func persistSnap(t testing.TB, snap raft.FSMSnapshot) []byte {
	t.Helper()
	defer snap.Release()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("Persist: sink closed=%v cancelled=%v, want closed only", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

func restore(t testing.TB, f *FSM, data []byte) error {
	t.Helper()
	rc := &closeRecorder{Reader: bytes.NewReader(data)}
	err := f.Restore(rc)
	if !rc.closed {
		t.Errorf("Restore did not close its reader")
	}
	return err
}

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// richState builds an FSM holding every kind of record and status.
func richState(t testing.TB) *harness {
	t.Helper()
	h := newHarness(t)
	h.ok(InitDomainType, &pb.InitDomainCommand{Domain: "eu", TimeUnixNano: at(0)})
	h.ok(InitKeysType, &pb.InitKeysCommand{
		RootPrivateKey: testKey(1), SigningKey: &pb.SigningKeyRecord{Id: "k1", PrivateKey: testKey(2)},
		TimeUnixNano: at(0), AnchorTtlNano: int64(3600e9),
	})
	h.ok(SetMemberType, &pb.SetMemberCommand{Member: &pb.Member{Id: "n1", RaftAddress: "a:1", GrpcAddress: "a:2", Voter: true}})
	h.ok(SetMemberType, &pb.SetMemberCommand{Member: &pb.Member{Id: "n2", RaftAddress: "b:1"}})
	for i := 0; i < 40; i++ {
		p := lic(fmt.Sprintf("L%02d", i), fmt.Sprintf("c%d", i%5), []string{"db", "cache"}[i%2], seats("seats", int64(i)), flag("sso", i%3 == 0))
		p.Domain = "eu"
		if i%4 == 0 {
			p.NotAfterUnixNano = at(100 + i)
		}
		if i%7 == 0 {
			p.NotBeforeUnixNano = at(1)
			p.Metadata = map[string]string{"po": fmt.Sprint(i), "empty": ""}
		}
		h.issue(p)
	}
	h.ok(UpdateType, &pb.UpdateCommand{Id: "L01", SetStatus: StatusSuspended, TimeUnixNano: at(10)})
	h.ok(RevokeType, &pb.RevokeCommand{Id: "L02", Reason: "fraud", TimeUnixNano: at(11)})
	h.ok(ReplaceType, &pb.ReplaceCommand{OldId: "L03", License: &pb.License{Id: "L03b", Domain: "eu", Entitlements: []*pb.Entitlement{seats("seats", 9)}}, TimeUnixNano: at(12)})
	h.ok(UpdateType, &pb.UpdateCommand{Id: "L05", RemoveFeatures: []string{"seats", "sso"}, TimeUnixNano: at(13)})
	h.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(110)}) // L00, L04, L08
	return h
}

// sameState compares everything the queries can see, not only the hash.
func sameState(t *testing.T, want, got *FSM) {
	t.Helper()
	if want.Hash() != got.Hash() {
		t.Errorf("hash differs")
	}
	if want.Count() != got.Count() || want.Domain() != got.Domain() || want.Clock() != got.Clock() || want.NextExpiry() != got.NextExpiry() {
		t.Errorf("count/domain/clock/next: %d %q %d %d vs %d %q %d %d", want.Count(), want.Domain(), want.Clock(), want.NextExpiry(),
			got.Count(), got.Domain(), got.Clock(), got.NextExpiry())
	}
	if !proto.Equal(want.Keys(), got.Keys()) {
		t.Errorf("keys differ")
	}
	wm, gm := want.Members(), got.Members()
	if len(wm) != len(gm) {
		t.Errorf("members: %d vs %d", len(wm), len(gm))
	}
	for i := range min(len(wm), len(gm)) {
		if *wm[i] != *gm[i] {
			t.Errorf("member %d: %+v vs %+v", i, wm[i], gm[i])
		}
	}
	wl, _ := want.List(ListOptions{Limit: 1 << 20})
	for _, l := range wl {
		g, ok := got.Get(l.ID)
		if !ok || !proto.Equal(l.ToProto(), g.ToProto()) {
			t.Errorf("license %s: %+v vs %+v", l.ID, l, g)
		}
	}
	for _, lp := range [][2]string{{"c0", "db"}, {"c1", "cache"}, {"c2", "db"}, {"c3", "cache"}} {
		for _, now := range []int64{at(0), at(50), at(120), at(1000)} {
			w, g := want.Check(lp[0], lp[1], "seats", 3, now), got.Check(lp[0], lp[1], "seats", 3, now)
			w.Index, g.Index = 0, 0 // a restored FSM learns its index from raft (SetRestoredIndex)
			if w != g {
				t.Errorf("Check(%v, %d): %+v vs %+v", lp, now, w, g)
			}
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	h := richState(t)
	data := persist(t, h.f)

	var direct bytes.Buffer
	if err := h.f.WriteSnapshot(&direct); err != nil {
		t.Fatalf("WriteSnapshot: %v", err)
	}
	if !bytes.Equal(direct.Bytes(), data) {
		t.Errorf("WriteSnapshot and Persist wrote different bytes")
	}
	if again := persist(t, h.f); !bytes.Equal(again, data) {
		t.Errorf("two snapshots of the same state differ: the encoding is not deterministic")
	}
	n, domain, err := CheckSnapshot(bytes.NewReader(data))
	if err != nil || n != h.f.Count() || domain != "eu" {
		t.Errorf("CheckSnapshot = %d, %q, %v", n, domain, err)
	}

	fresh := New(nil)
	if err := restore(t, fresh, data); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	sameState(t, h.f, fresh)

	// Restore replaces what was there; it does not merge.
	other := newHarness(t)
	other.issue(lic("only-here", "x", "y"))
	other.ok(SetMemberType, &pb.SetMemberCommand{Member: &pb.Member{Id: "n9", RaftAddress: "z:1"}})
	if err := restore(t, other.f, data); err != nil {
		t.Fatalf("Restore over existing state: %v", err)
	}
	sameState(t, h.f, other.f)
	if _, ok := other.f.Get("only-here"); ok {
		t.Errorf("restore kept a license that is not in the snapshot")
	}

	// The restored FSM goes on applying exactly like the original.
	for _, x := range []*harness{h, {t: t, f: fresh, idx: h.idx}} {
		x.ok(UpdateType, &pb.UpdateCommand{Id: "L06", SetEntitlements: []*pb.Entitlement{seats("seats", 99)}, TimeUnixNano: at(200)})
		x.reject(RevokeType, &pb.RevokeCommand{Id: "L02", Reason: "again"}, ErrPrecondition)
		x.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(200)})
		x.reject(IssueType, &pb.IssueCommand{License: lic("wrong-domain", "c", "db")}, ErrInvalid)
	}
	sameState(t, h.f, fresh)
}

func TestSnapshotEmptyState(t *testing.T) {
	f := New(nil)
	data := persist(t, f)
	g := newHarness(t)
	g.issue(lic("L1", "a", "b"))
	if err := restore(t, g.f, data); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if g.f.Hash() != f.Hash() || g.f.Count() != 0 {
		t.Errorf("restoring an empty snapshot did not empty the state")
	}
}

func TestSnapshotPointInTime(t *testing.T) {
	h := richState(t)
	want := h.f.Hash()
	wantCount, wantNext := h.f.Count(), h.f.NextExpiry()
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Change every kind of thing after the snapshot was taken but before
	// it is written out.
	h.ok(UpdateType, &pb.UpdateCommand{Id: "L06", SetEntitlements: []*pb.Entitlement{seats("seats", 99)}, SetMetadata: map[string]string{"x": "y"}})
	h.ok(RevokeType, &pb.RevokeCommand{Id: "L07", Reason: "late", TimeUnixNano: at(300)})
	h.ok(ReplaceType, &pb.ReplaceCommand{OldId: "L09", License: &pb.License{Id: "L09b", Domain: "eu"}, TimeUnixNano: at(301)})
	for i := 0; i < 200; i++ { // enough to split B-tree nodes
		p := lic(fmt.Sprintf("M%03d", i), "m", "db")
		p.Domain, p.CreatedUnixNano, p.NotAfterUnixNano = "eu", at(302), at(400)
		h.issue(p)
	}
	h.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(10_000)})
	h.ok(SetMemberType, &pb.SetMemberCommand{Member: &pb.Member{Id: "n3", RaftAddress: "c:1"}})
	h.ok(RemoveMemberType, &pb.RemoveMemberCommand{Id: "n1"})
	h.ok(RefreshAnchorType, &pb.RefreshAnchorCommand{TimeUnixNano: at(10_001)})
	if h.f.Hash() == want {
		t.Fatal("state did not change after the snapshot")
	}

	data := persistSnap(t, snap)
	g := New(nil)
	if err := restore(t, g, data); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if g.Hash() != want || g.Count() != wantCount || g.NextExpiry() != wantNext {
		t.Errorf("restored a snapshot of a later state: count %d (want %d), next %d (want %d)", g.Count(), wantCount, g.NextExpiry(), wantNext)
	}
	if l, _ := g.Get("L07"); l.Status == StatusRevoked {
		t.Errorf("a revocation applied after the snapshot is in it")
	}
}

// Persist runs while Apply carries on (run with -race).
func TestSnapshotConcurrentWithApply(t *testing.T) {
	h := richState(t)
	want := h.f.Hash()
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	go func() {
		var sink memSink
		if err := snap.Persist(&sink); err != nil {
			t.Errorf("Persist: %v", err)
		}
		done <- sink.Bytes()
	}()
	for i := 0; i < 500; i++ {
		p := lic(fmt.Sprintf("C%04d", i), fmt.Sprintf("c%d", i%5), "db")
		p.Domain = "eu"
		h.issue(p)
		if i%10 == 0 {
			h.ok(UpdateType, &pb.UpdateCommand{Id: fmt.Sprintf("L%02d", 10+i/50), SetMetadata: map[string]string{"i": fmt.Sprint(i)}})
		}
		_ = h.f.Check("c1", "db", "seats", 1, at(1)) // queries too
	}
	data := <-done
	g := New(nil)
	if err := restore(t, g, data); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if g.Hash() != want {
		t.Errorf("a snapshot written during applies is not the state at snapshot time")
	}
}

func TestPersistCancelsOnWriteError(t *testing.T) {
	h := richState(t)
	snap, _ := h.f.Snapshot()
	for _, limit := range []int{0, 3, 100} {
		// The writer buffers 256 KiB, so the failure shows at the flush.
		sink := &failSink{limit: limit}
		err := snap.Persist(sink)
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("limit %d: Persist = %v, want the write error", limit, err)
		}
		if !sink.cancelled || sink.closed {
			t.Errorf("limit %d: cancelled=%v closed=%v, want cancelled only", limit, sink.cancelled, sink.closed)
		}
	}
}

// record appends one snapshot record.
func record(b []byte, typ byte, payload []byte) []byte {
	b = append(b, typ)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...)
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	valid := persist(t, richState(t).f)

	head := []byte(snapMagic + "\x01")
	lic1 := mustMarshal(t, (&License{ID: "X1", Licensee: "a", Product: "b", Status: StatusActive, Version: 1}).ToProto())
	member := mustMarshal(t, &pb.Member{Id: "n1", RaftAddress: "a:1"})
	hdr := func(lics, mems uint64) []byte {
		return mustMarshal(t, &pb.SnapshotHeader{Format: snapVersion, Domain: "eu", Licenses: lics, Members: mems})
	}
	craft := func(recs ...[]byte) []byte {
		out := append([]byte(nil), head...)
		for _, r := range recs {
			out = append(out, r...)
		}
		return append(out, recEnd)
	}
	rec := func(typ byte, payload []byte) []byte { return record(nil, typ, payload) }

	// The crafting itself is right: with matching counts it restores.
	good := craft(rec(recHeader, hdr(1, 1)), rec(recLicense, lic1), rec(recMember, member))
	if n, d, err := CheckSnapshot(bytes.NewReader(good)); err != nil || n != 1 || d != "eu" {
		t.Fatalf("crafted snapshot: %d %q %v", n, d, err)
	}

	badLimit := mustMarshal(t, &pb.License{Id: "X2", Licensee: "a", Product: "b",
		Entitlements: []*pb.Entitlement{{Feature: "f", Limit: &pb.Limit{}}}})
	wrongMagic := bytes.Clone(valid)
	wrongMagic[0] = 'X'
	wrongVersion := bytes.Clone(valid)
	wrongVersion[len(snapMagic)] = snapVersion + 1
	zeroVersion := bytes.Clone(valid)
	zeroVersion[len(snapMagic)] = 0

	cases := map[string][]byte{
		"empty":                    nil,
		"garbage":                  []byte("this is not a snapshot at all, not even close"),
		"random bytes":             {0x8f, 0x00, 0x13, 0xff, 0xfe, 0x42, 0x99, 0x01, 0x02},
		"wrong magic":              wrongMagic,
		"wrong version":            wrongVersion,
		"version zero":             zeroVersion,
		"magic only":               head,
		"no end record":            valid[:len(valid)-1],
		"no header record":         craft(rec(recLicense, lic1), rec(recMember, member)),
		"header says more lics":    craft(rec(recHeader, hdr(2, 1)), rec(recLicense, lic1), rec(recMember, member)),
		"header says fewer lics":   craft(rec(recHeader, hdr(0, 1)), rec(recLicense, lic1), rec(recMember, member)),
		"header says more members": craft(rec(recHeader, hdr(1, 2)), rec(recLicense, lic1), rec(recMember, member)),
		"header says no members":   craft(rec(recHeader, hdr(1, 0)), rec(recLicense, lic1), rec(recMember, member)),
		"unknown record type":      craft(rec(recHeader, hdr(1, 1)), rec(recLicense, lic1), rec(recMember, member), rec(0x77, []byte{1, 2})),
		"oversize record":          append(append([]byte(nil), head...), record(nil, recLicense, nil)[0], 0xff, 0xff, 0xff, 0x7f),
		"length past the end":      append(append(append([]byte(nil), head...), recLicense, 50), lic1...),
		"bad length varint":        append(append([]byte(nil), head...), recLicense, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
		"corrupt header":           craft(rec(recHeader, []byte{0xff, 0xff, 0xff})),
		"corrupt license":          craft(rec(recHeader, hdr(1, 0)), rec(recLicense, []byte{0x0a, 0x09, 'x'})),
		"license with bad limit":   craft(rec(recHeader, hdr(1, 0)), rec(recLicense, badLimit)),
		"corrupt member":           craft(rec(recHeader, hdr(0, 1)), rec(recMember, []byte{0x0f})),
		"corrupt keys":             craft(rec(recHeader, hdr(0, 0)), rec(recKeys, []byte{0x12, 0x50})),
	}
	// Many licenses with one bad record in the middle: the parallel
	// decoder must report it, not drop it.
	var many [][]byte
	many = append(many, rec(recHeader, hdr(3000, 0)))
	for i := 0; i < 3000; i++ {
		p := mustMarshal(t, &pb.License{Id: fmt.Sprintf("Y%05d", i), Licensee: "a", Product: "b"})
		if i == 2500 {
			p = []byte{0xff}
		}
		many = append(many, rec(recLicense, p))
	}
	cases["bad record among many"] = craft(many...)
	many[2501] = rec(recLicense, mustMarshal(t, &pb.License{Id: "Y02500", Licensee: "a", Product: "b"}))
	if n, _, err := CheckSnapshot(bytes.NewReader(craft(many...))); err != nil || n != 3000 {
		t.Errorf("control with the bad record fixed: %d licenses, %v", n, err)
	}

	h := richState(t)
	before, count := h.f.Hash(), h.f.Count()
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			err := restore(t, h.f, data)
			if err == nil {
				t.Fatalf("Restore accepted a bad snapshot")
			}
			if !strings.HasPrefix(err.Error(), "restore snapshot: ") {
				t.Errorf("error lacks context: %v", err)
			}
			if h.f.Hash() != before || h.f.Count() != count {
				t.Errorf("a failed restore changed the state")
			}
			if _, _, err := CheckSnapshot(bytes.NewReader(data)); err == nil {
				t.Errorf("CheckSnapshot accepted a bad snapshot")
			}
		})
	}

	// Every proper prefix of a valid snapshot is a truncated snapshot.
	t.Run("every truncation", func(t *testing.T) {
		for n := 0; n < len(valid); n++ {
			if err := restore(t, h.f, valid[:n]); err == nil {
				t.Fatalf("Restore accepted the first %d of %d bytes", n, len(valid))
			}
		}
		if h.f.Hash() != before {
			t.Errorf("a failed restore changed the state")
		}
	})

	// A read error from the stream is reported, too.
	t.Run("read error", func(t *testing.T) {
		r := io.MultiReader(bytes.NewReader(valid[:len(valid)/2]), iotestErrReader{})
		if err := h.f.Restore(io.NopCloser(r)); err == nil || !strings.Contains(err.Error(), "unplugged") {
			t.Errorf("Restore = %v, want the read error", err)
		}
		if h.f.Hash() != before {
			t.Errorf("a failed restore changed the state")
		}
	})
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("disk unplugged") }

// A snapshot with two records for one license id is refused: with
// parallel decoding, which copy won could differ between replicas.
func TestRestoreRejectsDuplicateRecords(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString(snapMagic)
	buf.WriteByte(snapVersion)
	rec := func(typ byte, m proto.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteByte(typ)
		buf.Write(binary.AppendUvarint(nil, uint64(len(b))))
		buf.Write(b)
	}
	rec(recHeader, &pb.SnapshotHeader{Format: snapVersion, Licenses: 2})
	rec(recLicense, &pb.License{Id: "X", Licensee: "a", Product: "p", Status: StatusActive, Version: 1})
	rec(recLicense, &pb.License{Id: "X", Licensee: "b", Product: "p", Status: StatusActive, Version: 1})
	buf.WriteByte(recEnd)
	f := New(nil)
	before := f.Hash()
	err := f.Restore(io.NopCloser(&buf))
	if err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("restore of duplicate records: %v", err)
	}
	if f.Hash() != before {
		t.Fatal("refused restore changed the state")
	}
}
