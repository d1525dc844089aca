package fsm

import (
	"encoding/hex"
	"sort"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/license"
	"google.golang.org/protobuf/proto"
)

// The trust policy is a small map of immutable entries, replaced (never
// mutated) on change, like the member records.

func init() {
	register(TrustSetType, "trust-set", func() proto.Message { return &pb.TrustSetCommand{} }, applyTrustSet)
	register(TrustRemoveType, "trust-remove", func() proto.Message { return &pb.TrustRemoveCommand{} }, applyTrustRemove)
}

// ValidateTrustEntry checks an entry an operator wants to add.
func ValidateTrustEntry(e *pb.TrustEntry, ownDomain string) error {
	if err := checkName("peer domain", e.GetDomain()); err != nil {
		return err
	}
	if e.GetDomain() == ownDomain {
		return errorf(CodeInvalid, "domain %q is this domain: a domain trusts its own keys already", e.GetDomain())
	}
	fp := e.GetRootFingerprint()
	if b, err := hex.DecodeString(fp); err != nil || len(b) != 32 || hex.EncodeToString(b) != fp {
		return errorf(CodeInvalid, "root fingerprint must be 64 lowercase hex characters (the SHA-256 'fedlic domain status' prints on the peer)")
	}
	if len(e.GetScope()) == 0 {
		return errorf(CodeInvalid, "give at least one --scope: the products this peer may license, e.g. 'partner/*'")
	}
	if err := license.ValidateScope(e.GetScope()); err != nil {
		return errorf(CodeInvalid, "scope: %v", err)
	}
	if e.GetMaxStalenessNano() < 0 {
		return errorf(CodeInvalid, "max staleness must not be negative")
	}
	return nil
}

func applyTrustSet(s *state, _ uint64, msg proto.Message) *Result {
	c := msg.(*pb.TrustSetCommand)
	if err := ValidateTrustEntry(c.GetEntry(), s.domain); err != nil {
		return fail(err)
	}
	next := make(map[string]*pb.TrustEntry, len(s.trust)+1)
	for k, v := range s.trust {
		next[k] = v
	}
	e := proto.Clone(c.GetEntry()).(*pb.TrustEntry)
	e.AddedUnixNano = c.GetTimeUnixNano()
	next[e.GetDomain()] = e
	s.trust = next
	if p, ok := s.peers[e.GetDomain()]; ok {
		if sa, err := license.DecodeAnchor(p.GetAnchor()); err != nil || sa.Fingerprint() != e.GetRootFingerprint() {
			s.dropPeer(e.GetDomain()) // pinned to another root now
		}
	}
	s.tick(c.GetTimeUnixNano())
	return &Result{}
}

func applyTrustRemove(s *state, _ uint64, msg proto.Message) *Result {
	c := msg.(*pb.TrustRemoveCommand)
	if _, ok := s.trust[c.GetDomain()]; !ok {
		return fail(errorf(CodeNotFound, "domain %q is not trusted: see 'fedlic trust list'", c.GetDomain()))
	}
	next := make(map[string]*pb.TrustEntry, len(s.trust))
	for k, v := range s.trust {
		if k != c.GetDomain() {
			next[k] = v
		}
	}
	s.trust = next
	s.dropPeer(c.GetDomain())
	s.tick(c.GetTimeUnixNano())
	return &Result{}
}

func (s *state) dropPeer(domain string) {
	if _, ok := s.peers[domain]; !ok {
		return
	}
	next := make(map[string]*pb.PeerAnchorRecord, len(s.peers))
	for k, v := range s.peers {
		if k != domain {
			next[k] = v
		}
	}
	s.peers = next
}

func (s *state) sortedTrust() []*pb.TrustEntry {
	out := make([]*pb.TrustEntry, 0, len(s.trust))
	for _, e := range s.trust {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetDomain() < out[j].GetDomain() })
	return out
}

// Trust returns the trust policy sorted by domain.
func (f *FSM) Trust() []*pb.TrustEntry {
	var out []*pb.TrustEntry
	f.view(func(s *state) { out = s.sortedTrust() })
	return out
}

// TrustFor returns the entry for a peer domain.
func (f *FSM) TrustFor(domain string) (*pb.TrustEntry, bool) {
	var e *pb.TrustEntry
	var ok bool
	f.view(func(s *state) { e, ok = s.trust[domain] })
	return e, ok
}
