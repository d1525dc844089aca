package fsm

import (
	"sort"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/license"
	"google.golang.org/protobuf/proto"
)

// Peer anchors: the newest trust anchor of each trusted peer domain,
// verified at apply time against the pinned root fingerprint of this
// domain's trust policy and the command's leader-stamped time. Signature
// checks are pure, so every replica reaches the same verdict.

func init() {
	register(PeerAnchorType, "peer-anchor", func() proto.Message { return &pb.PeerAnchorCommand{} }, applyPeerAnchor)
}

// CheckPeerAnchor decides whether a peer anchor may be stored at time
// now given the trust policy and what is stored. unchanged reports that
// this exact serial is already stored.
func (s *state) checkPeerAnchor(raw []byte, now int64) (sa *license.SignedAnchor, unchanged bool, err error) {
	sa, derr := license.DecodeAnchor(raw)
	if derr != nil {
		return nil, false, errorf(CodeInvalid, "peer anchor: %v", derr)
	}
	domain := sa.Anchor.Domain
	if domain == s.domain {
		return nil, false, errorf(CodeInvalid, "anchor of domain %q is this domain's own", domain)
	}
	t, ok := s.trust[domain]
	if !ok {
		return nil, false, errorf(CodePrecondition, "untrusted domain %q: add it with 'fedlic trust add' before accepting its anchor", domain)
	}
	if verr := sa.Verify(t.GetRootFingerprint(), time.Unix(0, now)); verr != nil {
		return nil, false, errorf(CodeInvalid, "peer anchor of %q: %v", domain, verr)
	}
	if cur, ok := s.peers[domain]; ok {
		switch {
		case sa.Anchor.Serial < cur.GetSerial():
			return nil, false, errorf(CodePrecondition, "peer anchor of %q: serial %d is older than the stored %d (rollback refused)", domain, sa.Anchor.Serial, cur.GetSerial())
		case sa.Anchor.Serial == cur.GetSerial():
			if string(cur.GetAnchor()) != string(raw) {
				return nil, false, errorf(CodePrecondition, "peer anchor of %q: serial %d already stored with different content", domain, sa.Anchor.Serial)
			}
			return sa, true, nil
		}
	}
	return sa, false, nil
}

func applyPeerAnchor(s *state, _ uint64, msg proto.Message) *Result {
	c := msg.(*pb.PeerAnchorCommand)
	sa, unchanged, err := s.checkPeerAnchor(c.GetAnchor(), c.GetTimeUnixNano())
	if err != nil {
		return fail(err)
	}
	s.tick(c.GetTimeUnixNano())
	rec := &pb.PeerAnchorRecord{Domain: sa.Anchor.Domain, Anchor: c.GetAnchor(), Serial: sa.Anchor.Serial, ReceivedUnixNano: c.GetTimeUnixNano()}
	next := make(map[string]*pb.PeerAnchorRecord, len(s.peers)+1)
	for k, v := range s.peers {
		next[k] = v
	}
	next[rec.GetDomain()] = rec // a re-sent serial refreshes the received time
	s.peers = next
	return &Result{Unchanged: unchanged}
}

// CheckPeerAnchor is the leader's pre-check before proposing.
func (f *FSM) CheckPeerAnchor(raw []byte, now int64) (*license.SignedAnchor, bool, error) {
	var sa *license.SignedAnchor
	var unchanged bool
	var err error
	f.view(func(s *state) { sa, unchanged, err = s.checkPeerAnchor(raw, now) })
	return sa, unchanged, err
}

// PeerAnchor returns the stored anchor of a peer domain.
func (f *FSM) PeerAnchor(domain string) (*license.SignedAnchor, *pb.PeerAnchorRecord, bool) {
	var rec *pb.PeerAnchorRecord
	f.view(func(s *state) { rec = s.peers[domain] })
	if rec == nil {
		return nil, nil, false
	}
	sa, err := license.DecodeAnchor(rec.GetAnchor())
	if err != nil {
		panic("fsm: stored peer anchor does not decode: " + err.Error())
	}
	return sa, rec, true
}

func (s *state) sortedPeers() []*pb.PeerAnchorRecord {
	out := make([]*pb.PeerAnchorRecord, 0, len(s.peers))
	for _, p := range s.peers {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetDomain() < out[j].GetDomain() })
	return out
}

// Peers lists stored peer anchors sorted by domain.
func (f *FSM) Peers() []*pb.PeerAnchorRecord {
	var out []*pb.PeerAnchorRecord
	f.view(func(s *state) { out = s.sortedPeers() })
	return out
}
