package fsm

import (
	"slices"
	"sort"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
)

// Limit is one entitlement limit: a count or a boolean.
type Limit struct {
	IsBool  bool
	Enabled bool
	Count   int64
}

// Entitlement pairs a feature with its limit. A license keeps them
// sorted by feature so encodings and hashes are deterministic.
type Entitlement struct {
	Feature string
	Limit   Limit
}

// KV is one metadata pair; kept sorted by key.
type KV struct{ Key, Value string }

// Revocation records why and when a license was revoked.
type Revocation struct {
	Reason string
	Time   int64
	Index  uint64
}

// License is the stored form of a license. Values in the state trees are
// immutable: every change stores a modified copy.
type License struct {
	ID           string
	Domain       string
	Licensee     string
	Product      string
	Entitlements []Entitlement
	NotBefore    int64
	NotAfter     int64
	Status       pb.Status
	Version      uint64
	Supersedes   string
	SupersededBy string
	Metadata     []KV
	Created      int64
	Updated      int64
	CreateIndex  uint64
	ModifyIndex  uint64
	Revocation   *Revocation
}

// Entitlement returns the limit for feature, if the license has it.
func (l *License) Entitlement(feature string) (Limit, bool) {
	i := sort.Search(len(l.Entitlements), func(i int) bool { return l.Entitlements[i].Feature >= feature })
	if i < len(l.Entitlements) && l.Entitlements[i].Feature == feature {
		return l.Entitlements[i].Limit, true
	}
	return Limit{}, false
}

func (l *License) clone() *License {
	c := *l
	c.Entitlements = slices.Clone(l.Entitlements)
	c.Metadata = slices.Clone(l.Metadata)
	if l.Revocation != nil {
		r := *l.Revocation
		c.Revocation = &r
	}
	return &c
}

// Member is a server of this domain as recorded in the replicated state,
// so that any node can find the leader's gRPC address.
type Member struct {
	ID          string
	RaftAddress string
	GRPCAddress string
	Voter       bool
}

// LimitToProto converts a limit to its wire form.
func LimitToProto(l Limit) *pb.Limit {
	if l.IsBool {
		return &pb.Limit{Kind: &pb.Limit_Enabled{Enabled: l.Enabled}}
	}
	return &pb.Limit{Kind: &pb.Limit_Count{Count: l.Count}}
}

// LimitFromProto converts and validates a wire limit.
func LimitFromProto(p *pb.Limit) (Limit, error) {
	switch k := p.GetKind().(type) {
	case *pb.Limit_Enabled:
		return Limit{IsBool: true, Enabled: k.Enabled}, nil
	case *pb.Limit_Count:
		if k.Count < 0 {
			return Limit{}, errorf(CodeInvalid, "limit %d is negative: use a count of 0 or more, or true/false", k.Count)
		}
		return Limit{Count: k.Count}, nil
	default:
		return Limit{}, errorf(CodeInvalid, "limit has no value: give a count or true/false")
	}
}

// ToProto converts a stored license to its wire form.
func (l *License) ToProto() *pb.License {
	p := &pb.License{
		Id: l.ID, Domain: l.Domain, Licensee: l.Licensee, Product: l.Product,
		NotBeforeUnixNano: l.NotBefore, NotAfterUnixNano: l.NotAfter,
		Status: l.Status, Version: l.Version, Supersedes: l.Supersedes, SupersededBy: l.SupersededBy,
		CreatedUnixNano: l.Created, UpdatedUnixNano: l.Updated,
		CreateIndex: l.CreateIndex, ModifyIndex: l.ModifyIndex,
	}
	for _, e := range l.Entitlements {
		p.Entitlements = append(p.Entitlements, &pb.Entitlement{Feature: e.Feature, Limit: LimitToProto(e.Limit)})
	}
	if len(l.Metadata) > 0 {
		p.Metadata = make(map[string]string, len(l.Metadata))
		for _, kv := range l.Metadata {
			p.Metadata[kv.Key] = kv.Value
		}
	}
	if l.Revocation != nil {
		p.Revocation = &pb.Revocation{Reason: l.Revocation.Reason, TimeUnixNano: l.Revocation.Time, Index: l.Revocation.Index}
	}
	return p
}

// licenseFromProto converts a wire license (from a command or snapshot)
// to the stored form. Entitlements and metadata are sorted.
func licenseFromProto(p *pb.License) (*License, error) {
	l := &License{
		ID: p.GetId(), Domain: p.GetDomain(), Licensee: p.GetLicensee(), Product: p.GetProduct(),
		NotBefore: p.GetNotBeforeUnixNano(), NotAfter: p.GetNotAfterUnixNano(),
		Status: p.GetStatus(), Version: p.GetVersion(), Supersedes: p.GetSupersedes(), SupersededBy: p.GetSupersededBy(),
		Created: p.GetCreatedUnixNano(), Updated: p.GetUpdatedUnixNano(),
		CreateIndex: p.GetCreateIndex(), ModifyIndex: p.GetModifyIndex(),
	}
	ents, err := entitlementsFromProto(p.GetEntitlements())
	if err != nil {
		return nil, err
	}
	l.Entitlements = ents
	l.Metadata = metadataFromMap(p.GetMetadata())
	if r := p.GetRevocation(); r != nil {
		l.Revocation = &Revocation{Reason: r.GetReason(), Time: r.GetTimeUnixNano(), Index: r.GetIndex()}
	}
	return l, nil
}

func entitlementsFromProto(in []*pb.Entitlement) ([]Entitlement, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]Entitlement, 0, len(in))
	for _, e := range in {
		lim, err := LimitFromProto(e.GetLimit())
		if err != nil {
			return nil, errorf(CodeInvalid, "feature %q: %v", e.GetFeature(), err)
		}
		out = append(out, Entitlement{Feature: e.GetFeature(), Limit: lim})
	}
	sortEntitlements(out)
	return out, nil
}

func metadataFromMap(m map[string]string) []KV {
	if len(m) == 0 {
		return nil
	}
	out := make([]KV, 0, len(m))
	for k, v := range m {
		out = append(out, KV{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// MemberToProto converts a member to its wire form.
func (m *Member) ToProto() *pb.Member {
	return &pb.Member{Id: m.ID, RaftAddress: m.RaftAddress, GrpcAddress: m.GRPCAddress, Voter: m.Voter}
}

// Status values, re-exported for readability.
const (
	StatusActive    = pb.Status_STATUS_ACTIVE
	StatusSuspended = pb.Status_STATUS_SUSPENDED
	StatusRevoked   = pb.Status_STATUS_REVOKED
	StatusExpired   = pb.Status_STATUS_EXPIRED
)

// SortEntitlements sorts by feature, the order License.Entitlement needs.
func SortEntitlements(e []Entitlement) { sortEntitlements(e) }

func sortEntitlements(e []Entitlement) {
	sort.Slice(e, func(i, j int) bool { return e[i].Feature < e[j].Feature })
}

// GetReason returns the reason, or "" for a nil revocation.
func (r *Revocation) GetReason() string {
	if r == nil {
		return ""
	}
	return r.Reason
}

func sortStrings(s []string) { sort.Strings(s) }
