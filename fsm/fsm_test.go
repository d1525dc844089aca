package fsm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// t0 is the leader time the tests start from; tests step it by whole
// seconds so relations between times are easy to read.
const t0 = int64(1_700_000_000) * int64(time.Second)

func at(sec int) int64 { return t0 + int64(sec)*int64(time.Second) }

// harness applies commands to one FSM with increasing raft indexes, as
// raft would.
type harness struct {
	t   testing.TB
	f   *FSM
	idx uint64
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return &harness{t: t, f: New(nil)}
}

func encode(t testing.TB, typ MessageType, msg proto.Message) []byte {
	t.Helper()
	b, err := Encode(typ, msg)
	if err != nil {
		t.Fatalf("encode %s: %v", typ, err)
	}
	return b
}

// apply applies one command at the next index and returns its result.
func (h *harness) apply(typ MessageType, msg proto.Message) *Result {
	h.t.Helper()
	h.idx++
	out := h.f.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: encode(h.t, typ, msg)})
	r, ok := out.(*Result)
	if !ok {
		h.t.Fatalf("apply %s at %d: got %T, want *Result", typ, h.idx, out)
	}
	if r.Index != h.idx {
		h.t.Fatalf("apply %s: result index %d, want %d", typ, r.Index, h.idx)
	}
	return r
}

// ok applies a command that must succeed.
func (h *harness) ok(typ MessageType, msg proto.Message) *Result {
	h.t.Helper()
	r := h.apply(typ, msg)
	if r.Err != nil {
		h.t.Fatalf("apply %s: unexpected rejection: %v", typ, r.Err)
	}
	return r
}

// reject applies a command that must be rejected with want, and checks
// that the rejection changed nothing.
func (h *harness) reject(typ MessageType, msg proto.Message, want error) *Result {
	h.t.Helper()
	before := h.f.Hash()
	r := h.apply(typ, msg)
	if r.Err == nil {
		h.t.Fatalf("apply %s: accepted, want rejection %v", typ, want)
	}
	if !errors.Is(r.Err, want) {
		h.t.Fatalf("apply %s: rejected with %q (%T), want code %v", typ, r.Err, r.Err, want)
	}
	var fe *Error
	if !errors.As(r.Err, &fe) || fe.Msg == "" {
		h.t.Fatalf("apply %s: rejection %v is not an *Error with a message", typ, r.Err)
	}
	if r.License != nil || r.Old != nil || r.Expired != 0 {
		h.t.Fatalf("apply %s: rejection carries a result: %+v", typ, r)
	}
	if after := h.f.Hash(); after != before {
		h.t.Fatalf("apply %s: rejection (%v) changed the state hash", typ, r.Err)
	}
	return r
}

func (h *harness) issue(l *pb.License) *License {
	h.t.Helper()
	return h.ok(IssueType, &pb.IssueCommand{License: l}).License
}

func (h *harness) get(id string) *License {
	h.t.Helper()
	l, ok := h.f.Get(id)
	if !ok {
		h.t.Fatalf("license %s not found", id)
	}
	return l
}

// lic returns a valid license to issue at time at(0).
func lic(id, licensee, product string, ents ...*pb.Entitlement) *pb.License {
	return &pb.License{Id: id, Licensee: licensee, Product: product, Entitlements: ents, CreatedUnixNano: at(0)}
}

func seats(feature string, n int64) *pb.Entitlement {
	return &pb.Entitlement{Feature: feature, Limit: &pb.Limit{Kind: &pb.Limit_Count{Count: n}}}
}

func flag(feature string, on bool) *pb.Entitlement {
	return &pb.Entitlement{Feature: feature, Limit: &pb.Limit{Kind: &pb.Limit_Enabled{Enabled: on}}}
}

func manyFeatures(n int) []*pb.Entitlement {
	out := make([]*pb.Entitlement, n)
	for i := range out {
		out[i] = flag(fmt.Sprintf("f%03d", i), true)
	}
	return out
}

func TestIssue(t *testing.T) {
	h := newHarness(t)
	p := lic("L1", "acme", "db", seats("seats", 10), flag("sso", true))
	p.NotBeforeUnixNano, p.NotAfterUnixNano = at(-10), at(100)
	p.Metadata = map[string]string{"po": "123", "region": "eu"}
	// Fields the leader does not own must be reset by Apply.
	p.Status, p.Version, p.Supersedes, p.SupersededBy = StatusRevoked, 7, "X", "Y"
	p.Revocation = &pb.Revocation{Reason: "forged"}

	r := h.ok(IssueType, &pb.IssueCommand{License: p})
	l := r.License
	if l == nil || l.ID != "L1" || l.Licensee != "acme" || l.Product != "db" {
		t.Fatalf("issued license = %+v", l)
	}
	if l.Status != StatusActive || l.Version != 1 || l.Supersedes != "" || l.SupersededBy != "" || l.Revocation != nil {
		t.Errorf("issue did not reset leader-owned fields: %+v", l)
	}
	if l.Created != at(0) || l.Updated != at(0) || l.CreateIndex != 1 || l.ModifyIndex != 1 {
		t.Errorf("times/indexes = %d %d %d %d", l.Created, l.Updated, l.CreateIndex, l.ModifyIndex)
	}
	wantEnts := []Entitlement{{"seats", Limit{Count: 10}}, {"sso", Limit{IsBool: true, Enabled: true}}}
	if !slices.Equal(l.Entitlements, wantEnts) {
		t.Errorf("entitlements = %+v, want %+v", l.Entitlements, wantEnts)
	}
	if !slices.Equal(l.Metadata, []KV{{"po", "123"}, {"region", "eu"}}) {
		t.Errorf("metadata = %+v", l.Metadata)
	}
	if got := h.get("L1"); got != l {
		t.Errorf("Get returned %+v, want the stored license", got)
	}
	if h.f.Count() != 1 || h.f.Clock() != at(0) || h.f.NextExpiry() != at(100) {
		t.Errorf("count=%d clock=%d next=%d", h.f.Count(), h.f.Clock(), h.f.NextExpiry())
	}

	// Boundaries that are allowed.
	long := strings.Repeat("x", MaxNameLen)
	h.issue(lic("L2", long, long, manyFeatures(MaxFeatures)...))
	h.issue(lic("L3", "acme", "db", seats("zero", 0))) // a count of 0 is a limit, not a missing one
	h.issue(&pb.License{Id: "L4", Licensee: "ünïcode ✓", Product: "db"})
}

func TestIssueRejected(t *testing.T) {
	tooLong := strings.Repeat("x", MaxNameLen+1)
	tooMuchMeta := map[string]string{}
	for i := 0; i <= MaxMetadata; i++ {
		tooMuchMeta[fmt.Sprintf("k%d", i)] = "v"
	}
	cases := []struct {
		name string
		mod  func(p *pb.License)
	}{
		{"empty id", func(p *pb.License) { p.Id = "" }},
		{"empty licensee", func(p *pb.License) { p.Licensee = "" }},
		{"empty product", func(p *pb.License) { p.Product = "" }},
		{"long licensee", func(p *pb.License) { p.Licensee = tooLong }},
		{"long product", func(p *pb.License) { p.Product = tooLong }},
		{"long id", func(p *pb.License) { p.Id = tooLong }},
		{"control char in licensee", func(p *pb.License) { p.Licensee = "ac\x01me" }},
		{"newline in product", func(p *pb.License) { p.Product = "db\n" }},
		{"DEL in licensee", func(p *pb.License) { p.Licensee = "acme\x7f" }},
		{"too many features", func(p *pb.License) { p.Entitlements = manyFeatures(MaxFeatures + 1) }},
		{"duplicate feature", func(p *pb.License) { p.Entitlements = []*pb.Entitlement{seats("a", 1), flag("a", true)} }},
		{"empty feature name", func(p *pb.License) { p.Entitlements = []*pb.Entitlement{seats("", 1)} }},
		{"control char in feature", func(p *pb.License) { p.Entitlements = []*pb.Entitlement{seats("a\tb", 1)} }},
		{"negative count", func(p *pb.License) { p.Entitlements = []*pb.Entitlement{seats("seats", -1)} }},
		{"limit without value", func(p *pb.License) {
			p.Entitlements = []*pb.Entitlement{{Feature: "seats", Limit: &pb.Limit{}}}
		}},
		{"nil limit", func(p *pb.License) { p.Entitlements = []*pb.Entitlement{{Feature: "seats"}} }},
		{"empty window", func(p *pb.License) { p.NotBeforeUnixNano, p.NotAfterUnixNano = at(10), at(10) }},
		{"inverted window", func(p *pb.License) { p.NotBeforeUnixNano, p.NotAfterUnixNano = at(20), at(10) }},
		{"not_after in the past", func(p *pb.License) { p.NotAfterUnixNano = at(-1) }},
		{"not_after now", func(p *pb.License) { p.NotAfterUnixNano = at(0) }},
		{"negative not_before", func(p *pb.License) { p.NotBeforeUnixNano = -1 }},
		{"negative not_after", func(p *pb.License) { p.NotAfterUnixNano = -1 }},
		{"too much metadata", func(p *pb.License) { p.Metadata = tooMuchMeta }},
		{"empty metadata key", func(p *pb.License) { p.Metadata = map[string]string{"": "v"} }},
		{"long metadata value", func(p *pb.License) {
			p.Metadata = map[string]string{"k": strings.Repeat("v", MaxMetaValueLen+1)}
		}},
	}
	h := newHarness(t)
	h.issue(lic("existing", "acme", "db", seats("seats", 1)))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			p := lic("new", "acme", "db", seats("seats", 5))
			c.mod(p)
			if err := ValidateLicense(p, p.GetCreatedUnixNano()); !errors.Is(err, ErrInvalid) {
				t.Errorf("ValidateLicense = %v, want ErrInvalid", err)
			}
			h.reject(IssueType, &pb.IssueCommand{License: p}, ErrInvalid)
			if _, ok := h.f.Get(p.GetId()); ok && p.GetId() != "existing" {
				t.Errorf("rejected license %q was stored", p.GetId())
			}
		})
	}
	h.t = t
	// Invalid UTF-8 cannot travel in a log entry (protobuf refuses to
	// encode or decode it), so only the leader-side validation sees it.
	for _, bad := range []*pb.License{
		{Id: "x", Licensee: "acme\xff", Product: "db"},
		{Id: "x", Licensee: "acme", Product: "db", Metadata: map[string]string{"k": "\xc3"}},
	} {
		if err := ValidateLicense(bad, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateLicense(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if h.f.Count() != 1 {
		t.Errorf("count = %d after rejections, want 1", h.f.Count())
	}
}

func TestIssueNilLicense(t *testing.T) {
	h := newHarness(t)
	h.reject(IssueType, &pb.IssueCommand{}, ErrInvalid)
}

func TestIssueDuplicateID(t *testing.T) {
	h := newHarness(t)
	h.issue(lic("L1", "acme", "db"))
	h.reject(IssueType, &pb.IssueCommand{License: lic("L1", "other", "cache")}, ErrExists)
	if l := h.get("L1"); l.Licensee != "acme" {
		t.Errorf("duplicate issue overwrote the license: %+v", l)
	}
}

func TestIssueDomain(t *testing.T) {
	h := newHarness(t)
	// Before the domain is set, any domain is accepted.
	p := lic("L0", "acme", "db")
	p.Domain = "whatever"
	h.issue(p)

	h.ok(InitDomainType, &pb.InitDomainCommand{Domain: "eu", TimeUnixNano: at(1)})
	for _, d := range []string{"us", "", "EU"} {
		p := lic("L1", "acme", "db")
		p.Domain = d
		h.reject(IssueType, &pb.IssueCommand{License: p}, ErrInvalid)
	}
	p = lic("L1", "acme", "db")
	p.Domain = "eu"
	if l := h.issue(p); l.Domain != "eu" {
		t.Errorf("domain = %q", l.Domain)
	}
}

func TestInitDomain(t *testing.T) {
	h := newHarness(t)
	if h.f.Domain() != "" {
		t.Fatalf("fresh FSM domain = %q", h.f.Domain())
	}
	h.reject(InitDomainType, &pb.InitDomainCommand{Domain: "", TimeUnixNano: at(1)}, ErrInvalid)
	h.reject(InitDomainType, &pb.InitDomainCommand{Domain: "bad\x00", TimeUnixNano: at(1)}, ErrInvalid)
	h.ok(InitDomainType, &pb.InitDomainCommand{Domain: "eu", TimeUnixNano: at(1)})
	if h.f.Domain() != "eu" || h.f.Clock() != at(1) {
		t.Errorf("domain=%q clock=%d", h.f.Domain(), h.f.Clock())
	}
	// The same domain again is a no-op success (idempotent bootstrap).
	h.ok(InitDomainType, &pb.InitDomainCommand{Domain: "eu", TimeUnixNano: at(2)})
	h.reject(InitDomainType, &pb.InitDomainCommand{Domain: "us", TimeUnixNano: at(3)}, ErrPrecondition)
	if h.f.Domain() != "eu" {
		t.Errorf("domain = %q after conflict", h.f.Domain())
	}
}

func TestUpdateMerge(t *testing.T) {
	h := newHarness(t)
	p := lic("L1", "acme", "db", seats("seats", 10), flag("sso", true), flag("audit", false))
	p.Metadata = map[string]string{"po": "1", "keep": "yes"}
	h.issue(p)

	r := h.ok(UpdateType, &pb.UpdateCommand{
		Id:              "L1",
		SetEntitlements: []*pb.Entitlement{seats("seats", 20), seats("api", 1000)},
		RemoveFeatures:  []string{"sso", "not-there"},
		SetMetadata:     map[string]string{"po": "2", "keep": "", "new": "x"},
		TimeUnixNano:    at(5),
	})
	l := r.License
	wantEnts := []Entitlement{{"api", Limit{Count: 1000}}, {"audit", Limit{IsBool: true}}, {"seats", Limit{Count: 20}}}
	if !slices.Equal(l.Entitlements, wantEnts) {
		t.Errorf("entitlements = %+v, want %+v", l.Entitlements, wantEnts)
	}
	if want := []KV{{"new", "x"}, {"po", "2"}}; !slices.Equal(l.Metadata, want) {
		t.Errorf("metadata = %+v, want %+v", l.Metadata, want)
	}
	if l.Version != 2 || l.ModifyIndex != 2 || l.CreateIndex != 1 || l.Updated != at(5) || l.Created != at(0) {
		t.Errorf("version=%d modify=%d create=%d updated=%d created=%d", l.Version, l.ModifyIndex, l.CreateIndex, l.Updated, l.Created)
	}
	if h.get("L1") != l || h.f.Clock() != at(5) {
		t.Errorf("stored license or clock not updated")
	}

	// An update with no metadata leaves metadata alone; the old value in
	// the tree is a different object (values are immutable).
	r2 := h.ok(UpdateType, &pb.UpdateCommand{Id: "L1", SetEntitlements: []*pb.Entitlement{flag("sso", true)}, TimeUnixNano: at(6)})
	if !slices.Equal(r2.License.Metadata, l.Metadata) || r2.License.Version != 3 {
		t.Errorf("metadata/version after second update: %+v v%d", r2.License.Metadata, r2.License.Version)
	}
	if _, ok := l.Entitlement("sso"); ok {
		t.Errorf("update mutated the previous license value in place")
	}
	// Removing every feature is allowed.
	r3 := h.ok(UpdateType, &pb.UpdateCommand{Id: "L1", RemoveFeatures: []string{"api", "audit", "seats", "sso"}, TimeUnixNano: at(7)})
	if len(r3.License.Entitlements) != 0 {
		t.Errorf("entitlements = %+v after removing all", r3.License.Entitlements)
	}
}

func TestUpdateExpectedVersion(t *testing.T) {
	h := newHarness(t)
	h.issue(lic("L1", "acme", "db", seats("seats", 1)))
	h.reject(UpdateType, &pb.UpdateCommand{Id: "L1", ExpectedVersion: 2, SetEntitlements: []*pb.Entitlement{seats("seats", 2)}}, ErrPrecondition)
	h.ok(UpdateType, &pb.UpdateCommand{Id: "L1", ExpectedVersion: 1, SetEntitlements: []*pb.Entitlement{seats("seats", 2)}})
	h.reject(UpdateType, &pb.UpdateCommand{Id: "L1", ExpectedVersion: 1, SetEntitlements: []*pb.Entitlement{seats("seats", 3)}}, ErrPrecondition)
	h.ok(UpdateType, &pb.UpdateCommand{Id: "L1", ExpectedVersion: 0, SetEntitlements: []*pb.Entitlement{seats("seats", 3)}})
	if l := h.get("L1"); l.Version != 3 {
		t.Errorf("version = %d, want 3", l.Version)
	}
}

func TestUpdateSuspendResume(t *testing.T) {
	h := newHarness(t)
	p := lic("L1", "acme", "db", flag("sso", true))
	p.NotAfterUnixNano = at(100)
	h.issue(p)
	r := h.ok(UpdateType, &pb.UpdateCommand{Id: "L1", SetStatus: StatusSuspended, TimeUnixNano: at(1)})
	if r.License.Status != StatusSuspended {
		t.Fatalf("status = %v", r.License.Status)
	}
	if c := h.f.Check("acme", "db", "sso", 0, at(2)); c.Allowed || c.Reason != "suspended" || c.Status != StatusSuspended {
		t.Errorf("check on suspended = %+v", c)
	}
	// A suspended license still expires.
	if h.f.NextExpiry() != at(100) {
		t.Errorf("NextExpiry = %d, want %d", h.f.NextExpiry(), at(100))
	}
	r = h.ok(UpdateType, &pb.UpdateCommand{Id: "L1", SetStatus: StatusActive, TimeUnixNano: at(3)})
	if r.License.Status != StatusActive || r.License.Version != 3 {
		t.Fatalf("after resume: %+v", r.License)
	}
	if c := h.f.Check("acme", "db", "sso", 0, at(4)); !c.Allowed {
		t.Errorf("check after resume = %+v", c)
	}
}

func TestUpdateRejected(t *testing.T) {
	h := newHarness(t)
	p := lic("L1", "acme", "db", manyFeatures(MaxFeatures-1)...)
	p.NotBeforeUnixNano, p.NotAfterUnixNano = at(50), at(100)
	h.issue(p)
	h.issue(lic("R", "acme", "db"))
	h.ok(RevokeType, &pb.RevokeCommand{Id: "R", Reason: "fraud", TimeUnixNano: at(1)})

	cases := []struct {
		name string
		cmd  *pb.UpdateCommand
		want error
	}{
		{"status revoked", &pb.UpdateCommand{Id: "L1", SetStatus: StatusRevoked}, ErrInvalid},
		{"status expired", &pb.UpdateCommand{Id: "L1", SetStatus: StatusExpired}, ErrInvalid},
		{"status out of range", &pb.UpdateCommand{Id: "L1", SetStatus: pb.Status(42)}, ErrInvalid},
		{"empty id", &pb.UpdateCommand{SetStatus: StatusSuspended}, ErrInvalid},
		{"unknown id", &pb.UpdateCommand{Id: "nope", SetStatus: StatusSuspended}, ErrNotFound},
		{"revoked", &pb.UpdateCommand{Id: "R", SetStatus: StatusActive}, ErrPrecondition},
		{"revoked, no change", &pb.UpdateCommand{Id: "R"}, ErrPrecondition},
		{"version mismatch", &pb.UpdateCommand{Id: "L1", ExpectedVersion: 9}, ErrPrecondition},
		{"not_after in the past", &pb.UpdateCommand{Id: "L1", SetNotAfter: true, NotAfterUnixNano: at(2), TimeUnixNano: at(3)}, ErrInvalid},
		{"not_after before not_before", &pb.UpdateCommand{Id: "L1", SetNotAfter: true, NotAfterUnixNano: at(40), TimeUnixNano: at(3)}, ErrInvalid},
		{"not_after equals not_before", &pb.UpdateCommand{Id: "L1", SetNotAfter: true, NotAfterUnixNano: at(50), TimeUnixNano: at(3)}, ErrInvalid},
		{"negative not_after", &pb.UpdateCommand{Id: "L1", SetNotAfter: true, NotAfterUnixNano: -5, TimeUnixNano: at(3)}, ErrInvalid},
		{"too many features after merge", &pb.UpdateCommand{Id: "L1", SetEntitlements: []*pb.Entitlement{seats("new1", 1), seats("new2", 1)}}, ErrInvalid},
		{"negative count", &pb.UpdateCommand{Id: "L1", SetEntitlements: []*pb.Entitlement{seats("seats", -3)}}, ErrInvalid},
		{"duplicate feature", &pb.UpdateCommand{Id: "L1", SetEntitlements: []*pb.Entitlement{seats("a", 1), seats("a", 2)}}, ErrInvalid},
		{"limit without value", &pb.UpdateCommand{Id: "L1", SetEntitlements: []*pb.Entitlement{{Feature: "a", Limit: &pb.Limit{}}}}, ErrInvalid},
		{"empty remove feature", &pb.UpdateCommand{Id: "L1", RemoveFeatures: []string{""}}, ErrInvalid},
		{"control char metadata key", &pb.UpdateCommand{Id: "L1", SetMetadata: map[string]string{"a\x1b": "v"}}, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.reject(UpdateType, c.cmd, c.want)
		})
	}
	h.t = t

	// Metadata can be filled to the limit but not beyond, counting
	// what the license already holds.
	meta := map[string]string{}
	for i := 0; i < MaxMetadata; i++ {
		meta[fmt.Sprintf("k%02d", i)] = "v"
	}
	h.ok(UpdateType, &pb.UpdateCommand{Id: "L1", SetMetadata: meta})
	h.reject(UpdateType, &pb.UpdateCommand{Id: "L1", SetMetadata: map[string]string{"one-more": "v"}}, ErrInvalid)
	h.ok(UpdateType, &pb.UpdateCommand{Id: "L1", SetMetadata: map[string]string{"one-more": "v", "k00": ""}})
}

func TestUpdateRenewExpired(t *testing.T) {
	h := newHarness(t)
	p := lic("L1", "acme", "db", flag("sso", true))
	p.NotAfterUnixNano = at(10)
	h.issue(p)
	if r := h.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(10)}); r.Expired != 1 {
		t.Fatalf("expired %d, want 1", r.Expired)
	}
	if l := h.get("L1"); l.Status != StatusExpired || l.Version != 2 {
		t.Fatalf("after sweep: %+v", l)
	}
	if h.f.NextExpiry() != 0 {
		t.Errorf("NextExpiry = %d with nothing left to expire", h.f.NextExpiry())
	}
	// Changing the status of an expired license needs a renewal first.
	h.reject(UpdateType, &pb.UpdateCommand{Id: "L1", SetStatus: StatusActive, TimeUnixNano: at(11)}, ErrPrecondition)
	h.reject(UpdateType, &pb.UpdateCommand{Id: "L1", SetStatus: StatusSuspended, TimeUnixNano: at(11)}, ErrPrecondition)
	// Renewing with an end in the past is refused.
	h.reject(UpdateType, &pb.UpdateCommand{Id: "L1", SetNotAfter: true, NotAfterUnixNano: at(11), TimeUnixNano: at(11)}, ErrInvalid)

	r := h.ok(UpdateType, &pb.UpdateCommand{Id: "L1", SetNotAfter: true, NotAfterUnixNano: at(100), TimeUnixNano: at(12)})
	if l := r.License; l.Status != StatusActive || l.NotAfter != at(100) || l.Version != 3 {
		t.Fatalf("after renewal: %+v", l)
	}
	if h.f.NextExpiry() != at(100) {
		t.Errorf("NextExpiry = %d, want %d", h.f.NextExpiry(), at(100))
	}
	if c := h.f.Check("acme", "db", "sso", 0, at(13)); !c.Allowed {
		t.Errorf("check after renewal = %+v", c)
	}
	// Renewal with status in the same command.
	h.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(100)})
	r = h.ok(UpdateType, &pb.UpdateCommand{Id: "L1", SetNotAfter: true, NotAfterUnixNano: 0, SetStatus: StatusSuspended, TimeUnixNano: at(101)})
	if l := r.License; l.Status != StatusSuspended || l.NotAfter != 0 {
		t.Fatalf("renew-and-suspend: %+v", l)
	}
	if h.f.NextExpiry() != 0 {
		t.Errorf("a license without an end must not be scheduled: NextExpiry = %d", h.f.NextExpiry())
	}
}

func TestRevoke(t *testing.T) {
	h := newHarness(t)
	p := lic("L1", "acme", "db", flag("sso", true))
	p.NotAfterUnixNano = at(100)
	h.issue(p)
	r := h.ok(RevokeType, &pb.RevokeCommand{Id: "L1", Reason: "chargeback", TimeUnixNano: at(5)})
	l := r.License
	if l.Status != StatusRevoked || l.Version != 2 || l.ModifyIndex != 2 || l.Updated != at(5) {
		t.Fatalf("revoked license = %+v", l)
	}
	if want := (&Revocation{Reason: "chargeback", Time: at(5), Index: 2}); l.Revocation == nil || *l.Revocation != *want {
		t.Fatalf("revocation = %+v, want %+v", l.Revocation, want)
	}
	if h.f.NextExpiry() != 0 {
		t.Errorf("revoked license still scheduled to expire at %d", h.f.NextExpiry())
	}
	if c := h.f.Check("acme", "db", "sso", 0, at(6)); c.Allowed || c.Reason != "revoked: chargeback" || c.Status != StatusRevoked {
		t.Errorf("check on revoked = %+v", c)
	}

	h.reject(RevokeType, &pb.RevokeCommand{Id: "L1", Reason: "again", TimeUnixNano: at(6)}, ErrPrecondition)
	h.reject(RevokeType, &pb.RevokeCommand{Id: "nope", Reason: "x", TimeUnixNano: at(6)}, ErrNotFound)
	h.reject(RevokeType, &pb.RevokeCommand{Id: "", Reason: "x", TimeUnixNano: at(6)}, ErrInvalid)
	h.issue(lic("L2", "acme", "db"))
	h.reject(RevokeType, &pb.RevokeCommand{Id: "L2", Reason: "", TimeUnixNano: at(6)}, ErrInvalid)
	h.reject(RevokeType, &pb.RevokeCommand{Id: "L2", Reason: strings.Repeat("r", MaxReasonLen+1), TimeUnixNano: at(6)}, ErrInvalid)
	h.ok(RevokeType, &pb.RevokeCommand{Id: "L2", Reason: strings.Repeat("r", MaxReasonLen), TimeUnixNano: at(6)})
	// Expire sweeps never touch revoked licenses.
	if r := h.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(1000)}); r.Expired != 0 {
		t.Errorf("sweep expired %d revoked licenses", r.Expired)
	}
	if h.get("L1").Status != StatusRevoked {
		t.Errorf("revoked license changed by sweep")
	}
}

func TestRevokeExpired(t *testing.T) {
	h := newHarness(t)
	p := lic("L1", "acme", "db")
	p.NotAfterUnixNano = at(10)
	h.issue(p)
	h.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(20)})
	if r := h.ok(RevokeType, &pb.RevokeCommand{Id: "L1", Reason: "cleanup", TimeUnixNano: at(21)}); r.License.Status != StatusRevoked {
		t.Errorf("status = %v", r.License.Status)
	}
}

func TestReplace(t *testing.T) {
	h := newHarness(t)
	old := lic("L1", "acme", "db", seats("seats", 5))
	old.NotAfterUnixNano = at(50)
	h.issue(old)

	np := &pb.License{
		Id: "L2", Licensee: "someone-else", Product: "other-product", // ignored: copied from the old license
		Entitlements:     []*pb.Entitlement{seats("seats", 50), flag("sso", true)},
		NotAfterUnixNano: at(500), CreatedUnixNano: at(10),
	}
	r := h.ok(ReplaceType, &pb.ReplaceCommand{OldId: "L1", License: np, TimeUnixNano: at(10)})
	nl, ol := r.License, r.Old
	if nl == nil || ol == nil {
		t.Fatalf("replace result = %+v", r)
	}
	if nl.ID != "L2" || nl.Licensee != "acme" || nl.Product != "db" || nl.Supersedes != "L1" || nl.SupersededBy != "" {
		t.Errorf("new license = %+v", nl)
	}
	if nl.Status != StatusActive || nl.Version != 1 || nl.CreateIndex != 2 || nl.Created != at(10) || nl.NotAfter != at(500) {
		t.Errorf("new license status/version/index/time = %+v", nl)
	}
	if want := []Entitlement{{"seats", Limit{Count: 50}}, {"sso", Limit{IsBool: true, Enabled: true}}}; !slices.Equal(nl.Entitlements, want) {
		t.Errorf("new entitlements = %+v", nl.Entitlements)
	}
	if ol.ID != "L1" || ol.Status != StatusRevoked || ol.SupersededBy != "L2" || ol.Version != 2 || ol.Revocation == nil ||
		ol.Revocation.Reason != "replaced" || ol.Revocation.Index != 2 || ol.Revocation.Time != at(10) {
		t.Errorf("old license = %+v rev=%+v", ol, ol.Revocation)
	}
	if h.get("L1") != ol || h.get("L2") != nl {
		t.Errorf("stored licenses differ from the result")
	}
	if h.f.NextExpiry() != at(500) {
		t.Errorf("NextExpiry = %d, want the new license's %d", h.f.NextExpiry(), at(500))
	}
	if c := h.f.Check("acme", "db", "seats", 40, at(11)); !c.Allowed || c.LicenseID != "L2" {
		t.Errorf("check after replace = %+v", c)
	}
	if got, _ := h.f.List(ListOptions{Licensee: "acme", Product: "db"}); len(got) != 2 {
		t.Errorf("list after replace = %d licenses, want 2", len(got))
	}

	// Rejections.
	h.reject(ReplaceType, &pb.ReplaceCommand{OldId: "L1", License: &pb.License{Id: "L3", CreatedUnixNano: at(11)}, TimeUnixNano: at(11)}, ErrPrecondition)
	h.reject(ReplaceType, &pb.ReplaceCommand{OldId: "nope", License: &pb.License{Id: "L3", CreatedUnixNano: at(11)}, TimeUnixNano: at(11)}, ErrNotFound)
	h.reject(ReplaceType, &pb.ReplaceCommand{OldId: "L2", License: &pb.License{Id: "L1", CreatedUnixNano: at(11)}, TimeUnixNano: at(11)}, ErrExists)
	h.reject(ReplaceType, &pb.ReplaceCommand{OldId: "L2", License: &pb.License{Id: "L2", CreatedUnixNano: at(11)}, TimeUnixNano: at(11)}, ErrExists)
	h.reject(ReplaceType, &pb.ReplaceCommand{OldId: "L2", License: &pb.License{Id: "L3", Entitlements: []*pb.Entitlement{seats("s", -1)}, CreatedUnixNano: at(11)}, TimeUnixNano: at(11)}, ErrInvalid)
	h.reject(ReplaceType, &pb.ReplaceCommand{OldId: "L2", License: &pb.License{Id: "", CreatedUnixNano: at(11)}, TimeUnixNano: at(11)}, ErrInvalid)
	h.reject(ReplaceType, &pb.ReplaceCommand{OldId: "L2", License: &pb.License{Id: "L3", NotAfterUnixNano: at(5), CreatedUnixNano: at(11)}, TimeUnixNano: at(11)}, ErrInvalid)
	h.reject(ReplaceType, &pb.ReplaceCommand{OldId: "", License: &pb.License{Id: "L3", CreatedUnixNano: at(11)}, TimeUnixNano: at(11)}, ErrNotFound)
}

func TestReplaceWrongDomain(t *testing.T) {
	h := newHarness(t)
	h.ok(InitDomainType, &pb.InitDomainCommand{Domain: "eu"})
	p := lic("L1", "acme", "db")
	p.Domain = "eu"
	h.issue(p)
	h.reject(ReplaceType, &pb.ReplaceCommand{OldId: "L1", License: &pb.License{Id: "L2", Domain: "us"}, TimeUnixNano: at(1)}, ErrInvalid)
	h.ok(ReplaceType, &pb.ReplaceCommand{OldId: "L1", License: &pb.License{Id: "L2", Domain: "eu"}, TimeUnixNano: at(1)})
}

// A replace command without a new license is a malformed but decodable
// command: it must be rejected like any other bad argument, not crash
// every replica that applies it.
func TestReplaceWithoutLicense(t *testing.T) {
	h := newHarness(t)
	h.issue(lic("L1", "acme", "db"))
	h.reject(ReplaceType, &pb.ReplaceCommand{OldId: "L1", TimeUnixNano: at(1)}, ErrInvalid)
	if h.get("L1").Status != StatusActive {
		t.Errorf("old license changed by a rejected replace")
	}
}

func TestExpire(t *testing.T) {
	h := newHarness(t)
	for i, end := range []int{10, 20, 20, 30} {
		p := lic(fmt.Sprintf("L%d", i), "acme", "db", flag("sso", true))
		p.NotAfterUnixNano = at(end)
		h.issue(p)
	}
	h.issue(lic("forever", "acme", "db"))
	susp := lic("S", "acme", "db")
	susp.NotAfterUnixNano = at(15)
	h.issue(susp)
	h.ok(UpdateType, &pb.UpdateCommand{Id: "S", SetStatus: StatusSuspended, TimeUnixNano: at(1)})

	if h.f.NextExpiry() != at(10) {
		t.Fatalf("NextExpiry = %d, want %d", h.f.NextExpiry(), at(10))
	}
	// A sweep before anything is due changes nothing but the clock.
	if r := h.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(9)}); r.Expired != 0 {
		t.Errorf("early sweep expired %d", r.Expired)
	}
	r := h.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(20)})
	if r.Expired != 4 {
		t.Errorf("expired %d, want 4 (L0, S, L1, L2)", r.Expired)
	}
	for _, id := range []string{"L0", "L1", "L2", "S"} {
		l := h.get(id)
		if l.Status != StatusExpired || l.ModifyIndex != r.Index || l.Updated != at(20) {
			t.Errorf("%s after sweep: %+v", id, l)
		}
	}
	if l := h.get("L0"); l.Version != 2 {
		t.Errorf("L0 version = %d, want 2", l.Version)
	}
	if l := h.get("S"); l.Version != 3 {
		t.Errorf("S version = %d, want 3", l.Version)
	}
	for _, id := range []string{"L3", "forever"} {
		if l := h.get(id); l.Status != StatusActive || l.Version != 1 {
			t.Errorf("%s should be untouched: %+v", id, l)
		}
	}
	if h.f.NextExpiry() != at(30) || h.f.Clock() != at(20) {
		t.Errorf("NextExpiry=%d clock=%d", h.f.NextExpiry(), h.f.Clock())
	}
	// Sweeping again at the same time is a no-op.
	if r := h.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(20)}); r.Expired != 0 {
		t.Errorf("second sweep expired %d", r.Expired)
	}
	// A sweep stamped earlier than the clock does not move it back.
	h.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(5)})
	if h.f.Clock() != at(20) {
		t.Errorf("clock went back to %d", h.f.Clock())
	}
	if r := h.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(31)}); r.Expired != 1 || h.f.NextExpiry() != 0 {
		t.Errorf("last sweep expired %d, NextExpiry %d", r.Expired, h.f.NextExpiry())
	}
}

func TestMembers(t *testing.T) {
	h := newHarness(t)
	h.ok(SetMemberType, &pb.SetMemberCommand{Member: &pb.Member{Id: "n2", RaftAddress: "10.0.0.2:7000", GrpcAddress: "10.0.0.2:9000", Voter: true}, TimeUnixNano: at(1)})
	h.ok(SetMemberType, &pb.SetMemberCommand{Member: &pb.Member{Id: "n1", RaftAddress: "10.0.0.1:7000"}, TimeUnixNano: at(2)})
	ms := h.f.Members()
	if len(ms) != 2 || ms[0].ID != "n1" || ms[1].ID != "n2" || !ms[1].Voter || ms[1].GRPCAddress != "10.0.0.2:9000" {
		t.Fatalf("members = %+v", ms)
	}
	// Overwrite.
	h.ok(SetMemberType, &pb.SetMemberCommand{Member: &pb.Member{Id: "n1", RaftAddress: "10.0.0.9:7000", Voter: true}, TimeUnixNano: at(3)})
	if m, ok := h.f.Member("n1"); !ok || m.RaftAddress != "10.0.0.9:7000" || !m.Voter {
		t.Errorf("n1 = %+v %v", m, ok)
	}
	// Members returned earlier are not changed by later applies.
	if ms[0].RaftAddress != "10.0.0.1:7000" {
		t.Errorf("earlier Members() result changed: %+v", ms[0])
	}
	h.reject(SetMemberType, &pb.SetMemberCommand{Member: &pb.Member{RaftAddress: "x:1"}}, ErrInvalid)
	h.reject(SetMemberType, &pb.SetMemberCommand{Member: &pb.Member{Id: "n3"}}, ErrInvalid)
	h.reject(SetMemberType, &pb.SetMemberCommand{}, ErrInvalid)

	h.ok(RemoveMemberType, &pb.RemoveMemberCommand{Id: "n2", TimeUnixNano: at(4)})
	h.ok(RemoveMemberType, &pb.RemoveMemberCommand{Id: "unknown", TimeUnixNano: at(5)})
	if ms := h.f.Members(); len(ms) != 1 || ms[0].ID != "n1" {
		t.Errorf("members after remove = %+v", ms)
	}
	if _, ok := h.f.Member("n2"); ok {
		t.Errorf("removed member still present")
	}
	if h.f.Clock() != at(5) {
		t.Errorf("clock = %d", h.f.Clock())
	}
}

func TestCheck(t *testing.T) {
	h := newHarness(t)
	issue := func(id, licensee string, nb, na int, ents ...*pb.Entitlement) {
		p := lic(id, licensee, "db", ents...)
		if nb != 0 {
			p.NotBeforeUnixNano = at(nb)
		}
		if na != 0 {
			p.NotAfterUnixNano = at(na)
		}
		h.issue(p)
	}
	ents := []*pb.Entitlement{seats("seats", 10), flag("sso", true), flag("audit", false), seats("zero", 0)}
	issue("ok", "ok", 0, 0, ents...)
	issue("susp", "susp", 0, 0, ents...)
	h.ok(UpdateType, &pb.UpdateCommand{Id: "susp", SetStatus: StatusSuspended})
	issue("rev", "rev", 0, 0, ents...)
	h.ok(RevokeType, &pb.RevokeCommand{Id: "rev", Reason: "fraud"})
	issue("end", "end", 0, 100, ents...)
	issue("later", "later", 50, 0, ents...)
	issue("swept", "swept", 0, 10, ents...)
	h.ok(ExpireType, &pb.ExpireCommand{TimeUnixNano: at(10)})

	cases := []struct {
		name, licensee, feature string
		amount                  int64
		now                     int64
		allowed                 bool
		reason                  string
		status                  pb.Status
	}{
		{"allowed count", "ok", "seats", 10, at(20), true, "ok", StatusActive},
		{"allowed no amount", "ok", "seats", 0, at(20), true, "ok", StatusActive},
		{"allowed bool", "ok", "sso", 0, at(20), true, "ok", StatusActive},
		{"zero limit, zero amount", "ok", "zero", 0, at(20), true, "ok", StatusActive},
		{"zero limit, one", "ok", "zero", 1, at(20), false, "amount 1 of zero exceeds the limit 0", StatusActive},
		{"over limit", "ok", "seats", 11, at(20), false, "amount 11 of seats exceeds the limit 10", StatusActive},
		{"feature missing", "ok", "nope", 0, at(20), false, "feature nope is not licensed", StatusActive},
		{"bool disabled", "ok", "audit", 0, at(20), false, "feature audit is disabled", StatusActive},
		{"suspended", "susp", "sso", 0, at(20), false, "suspended", StatusSuspended},
		{"revoked", "rev", "sso", 0, at(20), false, "revoked: fraud", StatusRevoked},
		{"before end", "end", "sso", 0, at(99), true, "ok", StatusActive},
		{"at end, before sweep", "end", "sso", 0, at(100), false, "expired", StatusExpired},
		{"after end, before sweep", "end", "sso", 0, at(1000), false, "expired", StatusExpired},
		{"swept", "swept", "sso", 0, at(5), false, "expired", StatusExpired},
		{"not yet valid", "later", "sso", 0, at(49), false, "not yet valid", StatusActive},
		{"valid from not_before", "later", "sso", 0, at(50), true, "ok", StatusActive},
		{"no license", "nobody", "sso", 0, at(20), false, "no license for licensee nobody and product db", pb.Status_STATUS_UNSPECIFIED},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.f.Check(c.licensee, "db", c.feature, c.amount, c.now)
			if r.Allowed != c.allowed || r.Reason != c.reason || r.Status != c.status {
				t.Errorf("Check = %+v, want allowed=%v reason=%q status=%v", r, c.allowed, c.reason, c.status)
			}
			if c.licensee != "nobody" {
				if r.LicenseID != c.licensee {
					t.Errorf("LicenseID = %q, want %q", r.LicenseID, c.licensee)
				}
				if byID := h.f.CheckLicense(c.licensee, c.feature, c.amount, c.now); byID != r {
					t.Errorf("CheckLicense = %+v, Check = %+v", byID, r)
				}
			}
		})
	}
	if r := h.f.Check("ok", "other-product", "sso", 0, at(20)); r.Allowed {
		t.Errorf("check for another product allowed: %+v", r)
	}
	if r := h.f.CheckLicense("nope", "sso", 0, at(20)); r.Allowed || r.LicenseID != "nope" || !strings.Contains(r.Reason, "not found") {
		t.Errorf("CheckLicense unknown = %+v", r)
	}
}

func TestCheckSeveralLicenses(t *testing.T) {
	h := newHarness(t)
	// Ids sort so the allowing license is neither first nor last.
	h.issue(lic("a-revoked", "acme", "db", seats("seats", 100)))
	h.ok(RevokeType, &pb.RevokeCommand{Id: "a-revoked", Reason: "x"})
	h.issue(lic("b-small", "acme", "db", seats("seats", 5)))
	h.issue(lic("c-big", "acme", "db", seats("seats", 50)))
	h.issue(lic("d-susp", "acme", "db", seats("seats", 500)))
	h.ok(UpdateType, &pb.UpdateCommand{Id: "d-susp", SetStatus: StatusSuspended})
	h.issue(lic("other", "acme", "cache", seats("seats", 1000)))

	if r := h.f.Check("acme", "db", "seats", 20, at(1)); !r.Allowed || r.LicenseID != "c-big" {
		t.Errorf("Check(20) = %+v, want allowed by c-big", r)
	}
	if r := h.f.Check("acme", "db", "seats", 3, at(1)); !r.Allowed || r.LicenseID != "b-small" {
		t.Errorf("Check(3) = %+v, want allowed by b-small (first in id order)", r)
	}
	// No license allows: the most telling denial wins (over limit beats
	// suspended beats revoked).
	r := h.f.Check("acme", "db", "seats", 200, at(1))
	if r.Allowed || !strings.Contains(r.Reason, "exceeds the limit") {
		t.Errorf("Check(200) = %+v, want an over-limit denial", r)
	}
	h.ok(RevokeType, &pb.RevokeCommand{Id: "b-small", Reason: "x"})
	h.ok(RevokeType, &pb.RevokeCommand{Id: "c-big", Reason: "x"})
	if r := h.f.Check("acme", "db", "seats", 1, at(1)); r.Allowed || r.Reason != "suspended" || r.LicenseID != "d-susp" {
		t.Errorf("Check with only suspended/revoked = %+v", r)
	}
}

func TestList(t *testing.T) {
	h := newHarness(t)
	licensees := []string{"acme", "bolt", "acme-eu", "zed"}
	products := []string{"db", "cache", "db-pro"}
	type key struct{ licensee, product string }
	var all []string
	by := map[key][]string{}
	byLicensee := map[string][]string{}
	byProduct := map[string][]string{}
	for i := 0; i < 157; i++ {
		// Ids not in issue order, so id order is really tested.
		id := fmt.Sprintf("lic-%03d", (i*37)%157)
		k := key{licensees[i%len(licensees)], products[(i/3)%len(products)]}
		h.issue(lic(id, k.licensee, k.product))
		all = append(all, id)
		by[k] = append(by[k], id)
		byLicensee[k.licensee] = append(byLicensee[k.licensee], id)
		byProduct[k.product] = append(byProduct[k.product], id)
	}
	// Revoked licenses are still listed.
	h.ok(RevokeType, &pb.RevokeCommand{Id: "lic-000", Reason: "x"})

	pageAll := func(t *testing.T, opts ListOptions) []string {
		t.Helper()
		var got []string
		for pages := 0; ; pages++ {
			if pages > 1000 {
				t.Fatalf("paging does not end")
			}
			ls, more := h.f.List(opts)
			if len(ls) > opts.Limit && opts.Limit > 0 {
				t.Fatalf("page of %d, limit %d", len(ls), opts.Limit)
			}
			for _, l := range ls {
				if (opts.Licensee != "" && l.Licensee != opts.Licensee) || (opts.Product != "" && l.Product != opts.Product) {
					t.Fatalf("%s (%s/%s) does not match filter %+v", l.ID, l.Licensee, l.Product, opts)
				}
				got = append(got, l.ID)
			}
			if !more {
				return got
			}
			if len(ls) == 0 {
				t.Fatalf("more=true with an empty page")
			}
			opts.After = ls[len(ls)-1].ID
		}
	}
	check := func(t *testing.T, opts ListOptions, want []string) {
		t.Helper()
		want = slices.Clone(want)
		slices.Sort(want)
		if got := pageAll(t, opts); !slices.Equal(got, want) {
			t.Errorf("List(%+v) paged = %v\nwant %v", opts, got, want)
		}
	}
	for _, limit := range []int{1, 2, 7, 10, 156, 157, 158, 0} {
		t.Run(fmt.Sprintf("all/limit=%d", limit), func(t *testing.T) {
			check(t, ListOptions{Limit: limit}, all)
		})
	}
	for _, l := range licensees {
		for _, limit := range []int{1, 3, 100} {
			check(t, ListOptions{Licensee: l, Limit: limit}, byLicensee[l])
		}
	}
	for _, p := range products {
		for _, limit := range []int{1, 4, 100} {
			check(t, ListOptions{Product: p, Limit: limit}, byProduct[p])
		}
	}
	for k, ids := range by {
		for _, limit := range []int{1, 5} {
			check(t, ListOptions{Licensee: k.licensee, Product: k.product, Limit: limit}, ids)
		}
	}
	check(t, ListOptions{Licensee: "nobody"}, nil)
	check(t, ListOptions{Licensee: "acme", Product: "nothing"}, nil)
	check(t, ListOptions{Product: "nothing"}, nil)

	// Default limit is 100; More reports the rest.
	if ls, more := h.f.List(ListOptions{}); len(ls) != 100 || !more {
		t.Errorf("default page: %d licenses, more=%v", len(ls), more)
	}
	// After a key that is not an id starts at the next id.
	if ls, _ := h.f.List(ListOptions{After: "lic-0995", Limit: 1}); len(ls) != 1 || ls[0].ID != "lic-100" {
		t.Errorf("after a non-id: %+v", ls)
	}
	if ls, more := h.f.List(ListOptions{After: "zzz"}); len(ls) != 0 || more {
		t.Errorf("after the last id: %d, more=%v", len(ls), more)
	}
}

func TestUnknownTypePanics(t *testing.T) {
	f := New(nil)
	for _, typ := range []byte{0, 50, 100, 127} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("type %d applied without panic", typ)
				}
			}()
			f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{typ, 0x0a, 0x00}})
		}()
	}
}

func TestIgnoreUnknownTypeFlag(t *testing.T) {
	h := newHarness(t)
	h.issue(lic("L1", "acme", "db"))
	before := h.f.Hash()
	for i, typ := range []MessageType{50 | IgnoreUnknownTypeFlag, 127 | IgnoreUnknownTypeFlag, IgnoreUnknownTypeFlag, IssueType | IgnoreUnknownTypeFlag} {
		idx := uint64(10 + i)
		data := append([]byte{byte(typ)}, []byte("any payload \xff\xff at all")...)
		if out := h.f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data}); out != nil {
			t.Errorf("type %d: Apply = %v, want nil", typ, out)
		}
		if h.f.AppliedIndex() != idx {
			t.Errorf("type %d: applied index %d, want %d", typ, h.f.AppliedIndex(), idx)
		}
	}
	if h.f.Hash() != before {
		t.Errorf("ignored entries changed the state")
	}
}

func TestCorruptPayloadPanics(t *testing.T) {
	good := encode(t, IssueType, &pb.IssueCommand{License: lic("L1", "acme", "db")})
	cases := map[string][]byte{
		"empty entry":       {},
		"truncated payload": good[:len(good)-3],
		"bad wire type":     {byte(IssueType), 0x0f},
		"garbage":           {byte(RevokeType), 0xff, 0xff, 0xff, 0xff},
		"bad utf8 string":   append([]byte{byte(RevokeType), 0x0a, 0x02}, 0xff, 0xfe),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			f := New(nil)
			defer func() {
				if recover() == nil {
					t.Errorf("corrupt entry %x applied without panic", data)
				}
			}()
			f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
		})
	}
}

func TestApplyBatch(t *testing.T) {
	f := New(nil)
	var notified []uint64
	f.OnApply = func(i uint64) { notified = append(notified, i) }
	cmd := func(i uint64, typ MessageType, msg proto.Message) *raft.Log {
		return &raft.Log{Index: i, Type: raft.LogCommand, Data: encode(t, typ, msg)}
	}
	logs := []*raft.Log{
		{Index: 1, Type: raft.LogNoop},
		cmd(2, IssueType, &pb.IssueCommand{License: lic("L1", "acme", "db")}),
		{Index: 3, Type: raft.LogConfiguration},
		cmd(4, IssueType, &pb.IssueCommand{License: lic("L1", "acme", "db")}),
		{Index: 5, Type: raft.LogBarrier},
		cmd(6, RevokeType, &pb.RevokeCommand{Id: "L1", Reason: "x"}),
		{Index: 7, Type: raft.LogNoop},
	}
	out := f.ApplyBatch(logs)
	if len(out) != len(logs) {
		t.Fatalf("ApplyBatch returned %d results for %d logs", len(out), len(logs))
	}
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			if out[i] != nil {
				t.Errorf("result %d for %v entry = %v, want nil", i, l.Type, out[i])
			}
			continue
		}
		r, ok := out[i].(*Result)
		if !ok || r.Index != l.Index {
			t.Errorf("result %d = %#v", i, out[i])
		}
	}
	if r := out[3].(*Result); !errors.Is(r.Err, ErrExists) {
		t.Errorf("second issue: %v, want ErrExists", r.Err)
	}
	if r := out[5].(*Result); r.Err != nil || r.License.Status != StatusRevoked {
		t.Errorf("revoke: %+v", r)
	}
	if f.AppliedIndex() != 7 {
		t.Errorf("AppliedIndex = %d, want 7", f.AppliedIndex())
	}
	if !slices.Equal(notified, []uint64{7}) {
		t.Errorf("OnApply calls = %v, want [7]", notified)
	}
	// A batch of only non-command entries still advances the index.
	if out := f.ApplyBatch([]*raft.Log{{Index: 8, Type: raft.LogNoop}, {Index: 9, Type: raft.LogNoop}}); len(out) != 2 || out[0] != nil || out[1] != nil {
		t.Errorf("noop batch = %v", out)
	}
	if f.AppliedIndex() != 9 {
		t.Errorf("AppliedIndex = %d, want 9", f.AppliedIndex())
	}
	if out := f.ApplyBatch(nil); len(out) != 0 || f.AppliedIndex() != 9 {
		t.Errorf("empty batch: %v, applied %d", out, f.AppliedIndex())
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestWaitApplied(t *testing.T) {
	h := newHarness(t)
	w2 := h.f.WaitApplied(2)
	w3 := h.f.WaitApplied(3)
	cancelled := h.f.WaitApplied(2)
	h.f.CancelWait(cancelled)
	if isClosed(w2) || isClosed(w3) {
		t.Fatalf("waiters closed before anything was applied")
	}
	h.issue(lic("L1", "acme", "db"))
	if isClosed(w2) {
		t.Fatalf("wait(2) closed at index 1")
	}
	h.issue(lic("L2", "acme", "db"))
	if !isClosed(w2) {
		t.Errorf("wait(2) not closed at index 2")
	}
	if isClosed(w3) || isClosed(cancelled) {
		t.Errorf("wait(3) or a cancelled wait closed at index 2")
	}
	if !isClosed(h.f.WaitApplied(1)) || !isClosed(h.f.WaitApplied(2)) {
		t.Errorf("wait for an applied index is not closed at once")
	}
	// A waiter in another goroutine is woken by a later apply.
	done := make(chan struct{})
	go func() {
		<-w3
		close(done)
	}()
	h.reject(RevokeType, &pb.RevokeCommand{Id: "nope", Reason: "x"}, ErrNotFound) // rejections advance the index too
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("wait(3) not closed after index 3 was applied")
	}
	h.f.waitMu.Lock() // internal: no waiter may stay registered

	n := len(h.f.waiters)
	h.f.waitMu.Unlock()
	if n != 0 {
		t.Errorf("%d waiters left registered", n)
	}
}

func TestErrorIs(t *testing.T) {
	e := errorf(CodeNotFound, "license x not found")
	wrapped := fmt.Errorf("apply: %w", e)
	if !errors.Is(e, ErrNotFound) || !errors.Is(wrapped, ErrNotFound) {
		t.Errorf("errors.Is does not match the code")
	}
	for _, other := range []error{ErrInvalid, ErrExists, ErrPrecondition, errors.New("not found")} {
		if errors.Is(e, other) {
			t.Errorf("%v matches %v", e, other)
		}
	}
	// Two concrete errors with messages are not each other's sentinel.
	if errors.Is(e, errorf(CodeNotFound, "other")) {
		t.Errorf("errors with messages should not match each other")
	}
	if e.Error() != "license x not found" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestEncode(t *testing.T) {
	b := encode(t, RevokeType, &pb.RevokeCommand{Id: "L1", Reason: "x"})
	if MessageType(b[0]) != RevokeType {
		t.Fatalf("type byte = %d", b[0])
	}
	var c pb.RevokeCommand
	if err := proto.Unmarshal(b[1:], &c); err != nil || c.GetId() != "L1" || c.GetReason() != "x" {
		t.Fatalf("payload = %v, %v", &c, err)
	}
	// Deterministic encoding: the same map always gives the same bytes.
	meta := map[string]string{}
	for i := 0; i < 20; i++ {
		meta[fmt.Sprint(i)] = "v"
	}
	first := encode(t, UpdateType, &pb.UpdateCommand{Id: "L1", SetMetadata: meta})
	for i := 0; i < 10; i++ {
		if again := encode(t, UpdateType, &pb.UpdateCommand{Id: "L1", SetMetadata: meta}); string(again) != string(first) {
			t.Fatalf("encoding is not deterministic")
		}
	}
	if IssueType.String() != "issue" || MessageType(99).String() != "type(99)" {
		t.Errorf("String() = %q, %q", IssueType, MessageType(99))
	}
}
