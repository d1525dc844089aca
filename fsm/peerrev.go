package fsm

import (
	"sort"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"google.golang.org/protobuf/proto"
)

// Peer revocations: revocations committed in trusted peer domains. The
// leader verifies each signed notice against the peer's stored anchor
// before proposing; Apply only records it. Like every revocation, it is
// never undone: a later notice for the same license changes nothing.

func init() {
	register(PeerRevocationType, "peer-revocation", func() proto.Message { return &pb.PeerRevocationCommand{} }, applyPeerRevocation)
}

func peerRevKey(domain, licenseID string) string { return domain + "\x00" + licenseID }

func applyPeerRevocation(s *state, _ uint64, msg proto.Message) *Result {
	r := msg.(*pb.PeerRevocationCommand).GetRevocation()
	if r.GetDomain() == "" || r.GetLicenseId() == "" {
		return fail(errorf(CodeInvalid, "peer revocation needs a domain and a license id"))
	}
	if _, ok := s.trust[r.GetDomain()]; !ok {
		return fail(errorf(CodePrecondition, "untrusted domain %q: its revocations are not recorded", r.GetDomain()))
	}
	s.tick(r.GetReceivedUnixNano())
	k := peerRevKey(r.GetDomain(), r.GetLicenseId())
	if _, ok := s.peerRevs[k]; ok {
		return &Result{Unchanged: true}
	}
	// Copy-on-write, like every map in the state: snapshot clones share
	// it. O(n) per peer revocation, which are rare.
	next := make(map[string]*pb.PeerRevocationRecord, len(s.peerRevs)+1)
	for key, v := range s.peerRevs {
		next[key] = v
	}
	next[k] = proto.Clone(r).(*pb.PeerRevocationRecord)
	s.peerRevs = next
	return &Result{}
}

// PeerRevoked returns the recorded revocation of a peer's license.
func (f *FSM) PeerRevoked(domain, licenseID string) (*pb.PeerRevocationRecord, bool) {
	var r *pb.PeerRevocationRecord
	f.view(func(s *state) { r = s.peerRevs[peerRevKey(domain, licenseID)] })
	return r, r != nil
}

// Revocations returns this domain's revoked licenses whose revocation
// committed after index, in index order, for spreading to peers. A page
// never ends inside an index: revocations coalesced into one batch share
// it, and callers ask for the next page after the last index they got,
// so a page may exceed limit by the rest of its last batch.
func (f *FSM) Revocations(after uint64, limit int) []*License {
	var out []*License
	f.view(func(s *state) {
		s.byRevoke.AscendGreaterOrEqual(revKey{index: after + 1}, func(k revKey) bool {
			if limit > 0 && len(out) >= limit && k.index != out[len(out)-1].Revocation.Index {
				return false
			}
			if l, ok := s.get(k.id); ok {
				out = append(out, l)
			}
			return true
		})
	})
	return out
}

func (s *state) sortedPeerRevs() []*pb.PeerRevocationRecord {
	out := make([]*pb.PeerRevocationRecord, 0, len(s.peerRevs))
	for _, r := range s.peerRevs {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		return peerRevKey(out[i].GetDomain(), out[i].GetLicenseId()) < peerRevKey(out[j].GetDomain(), out[j].GetLicenseId())
	})
	return out
}

// PeerWatermark is the highest peer-domain index of a revocation
// recorded from domain: anti-entropy asks the peer for what follows.
func (f *FSM) PeerWatermark(domain string) uint64 {
	var w uint64
	f.view(func(s *state) {
		for _, r := range s.peerRevs {
			if r.GetDomain() == domain && r.GetIndex() > w {
				w = r.GetIndex()
			}
		}
	})
	return w
}

// RevocationWatermark is the index of this domain's newest revocation.
func (f *FSM) RevocationWatermark() uint64 {
	var w uint64
	f.view(func(s *state) { w = s.revMark })
	return w
}
