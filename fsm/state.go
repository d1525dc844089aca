package fsm

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/google/btree"
	"google.golang.org/protobuf/proto"
)

const btreeDegree = 32

// lpKey indexes licenses by (licensee, product) for checks and filters.
type lpKey struct{ licensee, product, id string }

// expKey indexes licenses that can still expire, by expiry time.
type expKey struct {
	at int64
	id string
}

// revKey indexes revoked licenses by the raft index of their
// revocation, for the revocation feed peers pull (Revocations).
type revKey struct {
	index uint64
	id    string
}

// state is one version of the replicated data. The trees are
// copy-on-write: clone() is O(1) and the clone is a frozen view that may
// be read while the original keeps changing.
type state struct {
	licenses *btree.BTreeG[*License]
	byLP     *btree.BTreeG[lpKey]
	byExpiry *btree.BTreeG[expKey]
	byRevoke *btree.BTreeG[revKey]
	members  map[string]*Member // small; replaced, never mutated
	domain   string
	clock    int64          // newest leader-stamped time applied
	keys     *pb.KeysRecord // domain keys; immutable, replaced on change
	trust    map[string]*pb.TrustEntry
	peers    map[string]*pb.PeerAnchorRecord // newest anchor of each trusted peer
	peerRevs map[string]*pb.PeerRevocationRecord
	revMark  uint64 // index of the newest revocation in this domain (derived)
}

func newState() *state {
	return &state{
		licenses: btree.NewG(btreeDegree, func(a, b *License) bool { return a.ID < b.ID }),
		byLP: btree.NewG(btreeDegree, func(a, b lpKey) bool {
			if c := cmp.Compare(a.licensee, b.licensee); c != 0 {
				return c < 0
			}
			if c := cmp.Compare(a.product, b.product); c != 0 {
				return c < 0
			}
			return a.id < b.id
		}),
		byExpiry: btree.NewG(btreeDegree, func(a, b expKey) bool {
			if a.at != b.at {
				return a.at < b.at
			}
			return a.id < b.id
		}),
		byRevoke: btree.NewG(btreeDegree, func(a, b revKey) bool {
			if a.index != b.index {
				return a.index < b.index
			}
			return a.id < b.id
		}),
		members: map[string]*Member{},
	}
}

func (s *state) clone() *state {
	c := *s
	c.licenses = s.licenses.Clone()
	c.byLP = s.byLP.Clone()
	c.byExpiry = s.byExpiry.Clone()
	c.byRevoke = s.byRevoke.Clone()
	return &c
}

func (s *state) get(id string) (*License, bool) {
	return s.licenses.Get(&License{ID: id})
}

func expires(l *License) bool {
	return l.NotAfter != 0 && (l.Status == StatusActive || l.Status == StatusSuspended)
}

func revoked(l *License) bool { return l.Status == StatusRevoked && l.Revocation != nil }

// put stores l, keeping the secondary indexes in step with the primary.
func (s *state) put(l *License) {
	if old, ok := s.licenses.ReplaceOrInsert(l); ok {
		if old.Licensee != l.Licensee || old.Product != l.Product {
			s.byLP.Delete(lpKey{old.Licensee, old.Product, old.ID})
		}
		if expires(old) {
			s.byExpiry.Delete(expKey{old.NotAfter, old.ID})
		}
		if revoked(old) {
			s.byRevoke.Delete(revKey{old.Revocation.Index, old.ID})
		}
	}
	s.index(l)
}

// insertNew stores a license whose id must be new, in one walk of the
// primary tree rather than a lookup and then an insert (the lookup was
// half of an issue's state-machine time on a large domain). It reports false, with
// nothing changed, when the id is taken.
func (s *state) insertNew(l *License) bool {
	if old, ok := s.licenses.ReplaceOrInsert(l); ok {
		s.licenses.ReplaceOrInsert(old)
		return false
	}
	s.index(l)
	return true
}

// index adds l to the secondary indexes.
func (s *state) index(l *License) {
	s.byLP.ReplaceOrInsert(lpKey{l.Licensee, l.Product, l.ID})
	if l.Revocation != nil && l.Revocation.Index > s.revMark {
		s.revMark = l.Revocation.Index
	}
	if revoked(l) {
		s.byRevoke.ReplaceOrInsert(revKey{l.Revocation.Index, l.ID})
	}
	if expires(l) {
		s.byExpiry.ReplaceOrInsert(expKey{l.NotAfter, l.ID})
	}
}

func (s *state) setMember(m *Member) {
	next := make(map[string]*Member, len(s.members)+1)
	for k, v := range s.members {
		next[k] = v
	}
	next[m.ID] = m
	s.members = next
}

func (s *state) removeMember(id string) {
	next := make(map[string]*Member, len(s.members))
	for k, v := range s.members {
		if k != id {
			next[k] = v
		}
	}
	s.members = next
}

func (s *state) sortedMembers() []*Member {
	out := make([]*Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// hash is a SHA-256 over a canonical encoding of everything replicated.
func (s *state) hash() string {
	h := sha256.New()
	h.Write([]byte("fedlic-state-v1\x00"))
	writeField(h, []byte(s.domain))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(s.clock))
	h.Write(b[:])
	opts := proto.MarshalOptions{Deterministic: true}
	s.licenses.Ascend(func(l *License) bool {
		p, err := opts.Marshal(l.ToProto())
		if err != nil {
			panic("fsm: marshal license for hash: " + err.Error())
		}
		writeField(h, p)
		return true
	})
	h.Write([]byte{0xff})
	if s.keys != nil {
		p, _ := opts.Marshal(s.keys)
		writeField(h, p)
	}
	h.Write([]byte{0xfe})
	for _, e := range s.sortedTrust() {
		p, _ := opts.Marshal(e)
		writeField(h, p)
	}
	h.Write([]byte{0xfd})
	for _, p := range s.sortedPeers() {
		b, _ := opts.Marshal(p)
		writeField(h, b)
	}
	h.Write([]byte{0xfc})
	for _, r := range s.sortedPeerRevs() {
		b, _ := opts.Marshal(r)
		writeField(h, b)
	}
	for _, m := range s.sortedMembers() {
		p, _ := opts.Marshal(m.ToProto())
		writeField(h, p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeField(h hash.Hash, p []byte) {
	var b [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(b[:], uint64(len(p)))
	h.Write(b[:n])
	h.Write(p)
}
