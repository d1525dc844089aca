package fsm

import (
	"fmt"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"google.golang.org/protobuf/proto"
)

// Result is what Apply returns for every fedlic command. Err holds a
// business rejection (*Error); nothing was changed when it is set.
type Result struct {
	Index     uint64
	License   *License // the license written (the new one for replace)
	Old       *License // replace: the old license, now revoked
	Expired   int      // expire: how many licenses expired
	Unchanged bool     // peer anchor: this serial was already stored
	Err       error
}

type handler struct {
	name  string
	new   func() proto.Message
	apply func(s *state, index uint64, msg proto.Message) *Result
}

var handlers = map[MessageType]handler{}

// register adds a command handler. A duplicate registration is a
// programming error and panics at start-up.
func register(t MessageType, name string, newMsg func() proto.Message, apply func(*state, uint64, proto.Message) *Result) {
	if t&IgnoreUnknownTypeFlag != 0 {
		panic(fmt.Sprintf("fsm: type %d uses the ignore-unknown bit", t))
	}
	if _, dup := handlers[t]; dup {
		panic(fmt.Sprintf("fsm: duplicate handler for type %d", t))
	}
	handlers[t] = handler{name: name, new: newMsg, apply: apply}
}

func init() {
	register(IssueType, "issue", func() proto.Message { return &pb.IssueCommand{} }, applyIssue)
	register(UpdateType, "update", func() proto.Message { return &pb.UpdateCommand{} }, applyUpdate)
	register(RevokeType, "revoke", func() proto.Message { return &pb.RevokeCommand{} }, applyRevoke)
	register(ReplaceType, "replace", func() proto.Message { return &pb.ReplaceCommand{} }, applyReplace)
	register(ExpireType, "expire", func() proto.Message { return &pb.ExpireCommand{} }, applyExpire)
	register(SetMemberType, "set-member", func() proto.Message { return &pb.SetMemberCommand{} }, applySetMember)
	register(RemoveMemberType, "remove-member", func() proto.Message { return &pb.RemoveMemberCommand{} }, applyRemoveMember)
	register(InitDomainType, "init-domain", func() proto.Message { return &pb.InitDomainCommand{} }, applyInitDomain)
}

func (s *state) tick(t int64) {
	if t > s.clock {
		s.clock = t
	}
}

func fail(err error) *Result { return &Result{Err: err} }

// newLicense builds a license to store from a command. Whether its id is
// new is checked when it is stored (state.insertNew).
func newLicense(s *state, index uint64, p *pb.License, now int64) (*License, error) {
	if err := ValidateLicense(p, now); err != nil {
		return nil, err
	}
	if !s.inScope(p.GetProduct()) {
		return nil, errorf(CodeInvalid, "product %q is outside this domain's scope %v: issue it from the domain that owns it", p.GetProduct(), s.keys.GetScope())
	}
	if s.domain != "" && p.GetDomain() != s.domain {
		return nil, errorf(CodeInvalid, "license domain %q is not this domain %q", p.GetDomain(), s.domain)
	}
	l, err := licenseFromProto(p)
	if err != nil {
		return nil, err
	}
	l.Status, l.Version = StatusActive, 1
	l.Supersedes, l.SupersededBy, l.Revocation = "", "", nil
	l.Created, l.Updated = now, now
	l.CreateIndex, l.ModifyIndex = index, index
	return l, nil
}

func errExists(id string) error {
	return errorf(CodeExists, "license %s already exists", id)
}

func applyIssue(s *state, index uint64, msg proto.Message) *Result {
	c := msg.(*pb.IssueCommand)
	now := c.GetLicense().GetCreatedUnixNano()
	l, err := newLicense(s, index, c.GetLicense(), now)
	if err != nil {
		return fail(err)
	}
	if !s.insertNew(l) {
		return fail(errExists(l.ID))
	}
	s.tick(now)
	return &Result{License: l}
}

func lookupWritable(s *state, id, verb string) (*License, error) {
	l, ok := s.get(id)
	if !ok {
		return nil, errorf(CodeNotFound, "license %s not found: check the id with 'fedlic license list'", id)
	}
	if l.Status == StatusRevoked {
		return nil, errorf(CodePrecondition, "license %s is revoked (%s) and cannot be %s: revocation is permanent; issue a new license", id, l.Revocation.GetReason(), verb)
	}
	return l, nil
}

func applyUpdate(s *state, index uint64, msg proto.Message) *Result {
	c := msg.(*pb.UpdateCommand)
	if err := ValidateUpdate(c); err != nil {
		return fail(err)
	}
	old, err := lookupWritable(s, c.GetId(), "updated")
	if err != nil {
		return fail(err)
	}
	if ev := c.GetExpectedVersion(); ev != 0 && ev != old.Version {
		return fail(errorf(CodePrecondition, "license %s is at version %d, not the expected %d: read it again and retry", c.GetId(), old.Version, ev))
	}
	l := old.clone()
	set, err := entitlementsFromProto(c.GetSetEntitlements())
	if err != nil {
		return fail(err)
	}
	l.Entitlements = mergeEntitlements(l.Entitlements, set, c.GetRemoveFeatures())
	if len(l.Entitlements) > MaxFeatures {
		return fail(errorf(CodeInvalid, "update would leave %d features: a license may have at most %d", len(l.Entitlements), MaxFeatures))
	}
	l.Metadata = mergeMetadata(l.Metadata, c.GetSetMetadata())
	if len(l.Metadata) > MaxMetadata {
		return fail(errorf(CodeInvalid, "update would leave %d metadata keys: at most %d are allowed", len(l.Metadata), MaxMetadata))
	}
	now := c.GetTimeUnixNano()
	if c.GetSetNotAfter() {
		if err := checkWindow(l.NotBefore, c.GetNotAfterUnixNano(), now); err != nil {
			return fail(err)
		}
		l.NotAfter = c.GetNotAfterUnixNano()
		if l.Status == StatusExpired {
			l.Status = StatusActive // renewed
		}
	}
	if st := c.GetSetStatus(); st != pb.Status_STATUS_UNSPECIFIED {
		if l.Status == StatusExpired {
			return fail(errorf(CodePrecondition, "license %s has expired: extend it with a new expiry before changing its status", c.GetId()))
		}
		l.Status = st
	}
	l.Version++
	l.Updated, l.ModifyIndex = now, index
	s.tick(now)
	s.put(l)
	return &Result{License: l}
}

func mergeEntitlements(cur, set []Entitlement, remove []string) []Entitlement {
	m := make(map[string]Limit, len(cur)+len(set))
	for _, e := range cur {
		m[e.Feature] = e.Limit
	}
	for _, e := range set {
		m[e.Feature] = e.Limit
	}
	for _, f := range remove {
		delete(m, f)
	}
	out := make([]Entitlement, 0, len(m))
	for f, lim := range m {
		out = append(out, Entitlement{f, lim})
	}
	sortEntitlements(out)
	return out
}

func mergeMetadata(cur []KV, set map[string]string) []KV {
	if len(set) == 0 {
		return cur
	}
	m := make(map[string]string, len(cur)+len(set))
	for _, kv := range cur {
		m[kv.Key] = kv.Value
	}
	for k, v := range set {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return metadataFromMap(m)
}

func revoke(l *License, reason string, now int64, index uint64) *License {
	r := l.clone()
	r.Status = StatusRevoked
	r.Revocation = &Revocation{Reason: reason, Time: now, Index: index}
	r.Version++
	r.Updated, r.ModifyIndex = now, index
	return r
}

func applyRevoke(s *state, index uint64, msg proto.Message) *Result {
	c := msg.(*pb.RevokeCommand)
	if err := ValidateRevoke(c); err != nil {
		return fail(err)
	}
	old, err := lookupWritable(s, c.GetId(), "revoked again")
	if err != nil {
		return fail(err)
	}
	l := revoke(old, c.GetReason(), c.GetTimeUnixNano(), index)
	s.tick(c.GetTimeUnixNano())
	s.put(l)
	return &Result{License: l}
}

func applyReplace(s *state, index uint64, msg proto.Message) *Result {
	c := msg.(*pb.ReplaceCommand)
	old, err := lookupWritable(s, c.GetOldId(), "replaced")
	if err != nil {
		return fail(err)
	}
	now := c.GetTimeUnixNano()
	if c.GetLicense() == nil { // proto.Clone(nil) is a nil *pb.License: reject, do not crash every replica
		return fail(errorf(CodeInvalid, "replace of %s has no new license: give the license to issue in its place", old.ID))
	}
	p := proto.Clone(c.GetLicense()).(*pb.License)
	p.Licensee, p.Product = old.Licensee, old.Product
	nl, err := newLicense(s, index, p, now)
	if err != nil {
		return fail(err)
	}
	nl.Supersedes = old.ID
	if !s.insertNew(nl) {
		return fail(errExists(nl.ID))
	}
	ol := revoke(old, "replaced", now, index)
	ol.SupersededBy = nl.ID
	s.tick(now)
	s.put(ol)
	return &Result{License: nl, Old: ol}
}

func applyExpire(s *state, index uint64, msg proto.Message) *Result {
	c := msg.(*pb.ExpireCommand)
	now := c.GetTimeUnixNano()
	var due []*License
	s.byExpiry.Ascend(func(k expKey) bool {
		if k.at > now {
			return false
		}
		if l, ok := s.get(k.id); ok {
			due = append(due, l)
		}
		return true
	})
	for _, old := range due {
		l := old.clone()
		l.Status = StatusExpired
		l.Version++
		l.Updated, l.ModifyIndex = now, index
		s.put(l)
	}
	s.tick(now)
	return &Result{Expired: len(due)}
}

func applySetMember(s *state, _ uint64, msg proto.Message) *Result {
	c := msg.(*pb.SetMemberCommand)
	m := c.GetMember()
	if m.GetId() == "" || m.GetRaftAddress() == "" {
		return fail(errorf(CodeInvalid, "member needs an id and a raft address"))
	}
	s.tick(c.GetTimeUnixNano())
	s.setMember(&Member{ID: m.GetId(), RaftAddress: m.GetRaftAddress(), GRPCAddress: m.GetGrpcAddress(), Voter: m.GetVoter()})
	return &Result{}
}

func applyRemoveMember(s *state, _ uint64, msg proto.Message) *Result {
	c := msg.(*pb.RemoveMemberCommand)
	s.tick(c.GetTimeUnixNano())
	s.removeMember(c.GetId())
	return &Result{}
}

func applyInitDomain(s *state, _ uint64, msg proto.Message) *Result {
	c := msg.(*pb.InitDomainCommand)
	if err := checkName("domain", c.GetDomain()); err != nil {
		return fail(err)
	}
	if s.domain != "" && s.domain != c.GetDomain() {
		return fail(errorf(CodePrecondition, "this cluster already holds domain %q, not %q: check --domain", s.domain, c.GetDomain()))
	}
	s.domain = c.GetDomain()
	s.tick(c.GetTimeUnixNano())
	return &Result{}
}
