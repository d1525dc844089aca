package fsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// Snapshot stream format (version 1):
//
//	"FLSNAP" 0x01
//	record*  where record = type byte, uvarint length, protobuf payload
//	end record: recEnd, no payload
//
// The first record is a SnapshotHeader with counts that Restore checks.
const (
	snapMagic   = "FLSNAP"
	snapVersion = 1

	recHeader  byte = 1
	recLicense byte = 2
	recMember  byte = 3
	recKeys    byte = 4
	recTrust   byte = 5
	recPeer    byte = 6
	recPeerRev byte = 7
	recEnd     byte = 0xff

	maxRecord = 1 << 20
)

type snapshot struct{ st *state }

// Snapshot returns a point-in-time view. Cloning is O(1), so Apply is
// held up only for the clone, never for the write-out.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{st: f.frozen()}, nil
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.st.writeTo(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}

// WriteSnapshot writes a point-in-time snapshot of the state to w.
func (f *FSM) WriteSnapshot(w io.Writer) error { return f.frozen().writeTo(w) }

func (st *state) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	if _, err := bw.WriteString(snapMagic); err != nil {
		return err
	}
	bw.WriteByte(snapVersion)
	opts := proto.MarshalOptions{Deterministic: true}
	var buf []byte
	write := func(t byte, m proto.Message) error {
		var err error
		buf, err = opts.MarshalAppend(buf[:0], m)
		if err != nil {
			return err
		}
		var hdr [1 + binary.MaxVarintLen64]byte
		hdr[0] = t
		n := binary.PutUvarint(hdr[1:], uint64(len(buf)))
		if _, err := bw.Write(hdr[:1+n]); err != nil {
			return err
		}
		_, err = bw.Write(buf)
		return err
	}
	members := st.sortedMembers()
	if err := write(recHeader, &pb.SnapshotHeader{Format: snapVersion, Domain: st.domain, ClockUnixNano: st.clock,
		Licenses: uint64(st.licenses.Len()), Members: uint64(len(members))}); err != nil {
		return err
	}
	var werr error
	st.licenses.Ascend(func(l *License) bool {
		werr = write(recLicense, l.ToProto())
		return werr == nil
	})
	if werr != nil {
		return werr
	}
	for _, m := range members {
		if err := write(recMember, m.ToProto()); err != nil {
			return err
		}
	}
	if st.keys != nil {
		if err := write(recKeys, st.keys); err != nil {
			return err
		}
	}
	for _, e := range st.sortedTrust() {
		if err := write(recTrust, e); err != nil {
			return err
		}
	}
	for _, p := range st.sortedPeers() {
		if err := write(recPeer, p); err != nil {
			return err
		}
	}
	for _, r := range st.sortedPeerRevs() {
		if err := write(recPeerRev, r); err != nil {
			return err
		}
	}
	if err := bw.WriteByte(recEnd); err != nil {
		return err
	}
	return bw.Flush()
}

// Restore replaces the state with a snapshot. The new state is built
// aside and swapped in under the lock, so a failed restore changes
// nothing.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := readSnapshot(rc)
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
	return nil
}

// readSnapshot decodes and validates a snapshot stream into a new state.
// License records are decoded in parallel (they dominate restore time)
// and inserted by one goroutine; the trees do not depend on order.
func readSnapshot(r io.Reader) (*state, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	magic := make([]byte, len(snapMagic)+1)
	if _, err := io.ReadFull(br, magic); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	if string(magic[:len(snapMagic)]) != snapMagic {
		return nil, errors.New("not a fedlic snapshot (bad magic)")
	}
	if magic[len(snapMagic)] != snapVersion {
		return nil, fmt.Errorf("snapshot format %d is not supported by this binary (want %d)", magic[len(snapMagic)], snapVersion)
	}
	st := newState()
	dec := newLicenseDecoder(st)
	var hdr *pb.SnapshotHeader
	var nLic, nMem uint64
	fail := func(err error) (*state, error) {
		dec.abort()
		return nil, err
	}
	for {
		t, err := br.ReadByte()
		if err != nil {
			return fail(fmt.Errorf("snapshot truncated: %w", err))
		}
		if t == recEnd {
			break
		}
		size, err := binary.ReadUvarint(br)
		if err != nil {
			return fail(fmt.Errorf("snapshot truncated: %w", err))
		}
		if size > maxRecord {
			return fail(fmt.Errorf("snapshot record of %d bytes exceeds %d", size, maxRecord))
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(br, buf); err != nil {
			return fail(fmt.Errorf("snapshot truncated: %w", err))
		}
		switch t {
		case recHeader:
			hdr = &pb.SnapshotHeader{}
			if err := proto.Unmarshal(buf, hdr); err != nil {
				return fail(fmt.Errorf("decode header: %w", err))
			}
			st.domain, st.clock = hdr.GetDomain(), hdr.GetClockUnixNano()
		case recLicense:
			dec.add(buf)
			nLic++
		case recMember:
			var p pb.Member
			if err := proto.Unmarshal(buf, &p); err != nil {
				return fail(fmt.Errorf("decode member record: %w", err))
			}
			st.members[p.GetId()] = &Member{ID: p.GetId(), RaftAddress: p.GetRaftAddress(), GRPCAddress: p.GetGrpcAddress(), Voter: p.GetVoter()}
			nMem++
		case recKeys:
			k := &pb.KeysRecord{}
			if err := proto.Unmarshal(buf, k); err != nil {
				return fail(fmt.Errorf("decode keys record: %w", err))
			}
			st.keys = k
		case recTrust:
			e := &pb.TrustEntry{}
			if err := proto.Unmarshal(buf, e); err != nil {
				return fail(fmt.Errorf("decode trust record: %w", err))
			}
			if st.trust == nil {
				st.trust = map[string]*pb.TrustEntry{}
			}
			st.trust[e.GetDomain()] = e
		case recPeer:
			p := &pb.PeerAnchorRecord{}
			if err := proto.Unmarshal(buf, p); err != nil {
				return fail(fmt.Errorf("decode peer anchor record: %w", err))
			}
			if st.peers == nil {
				st.peers = map[string]*pb.PeerAnchorRecord{}
			}
			st.peers[p.GetDomain()] = p
		case recPeerRev:
			r := &pb.PeerRevocationRecord{}
			if err := proto.Unmarshal(buf, r); err != nil {
				return fail(fmt.Errorf("decode peer revocation record: %w", err))
			}
			if st.peerRevs == nil {
				st.peerRevs = map[string]*pb.PeerRevocationRecord{}
			}
			st.peerRevs[peerRevKey(r.GetDomain(), r.GetLicenseId())] = r
		default:
			return fail(fmt.Errorf("unknown snapshot record type %d", t))
		}
	}
	if err := dec.wait(); err != nil {
		return nil, err
	}
	if hdr == nil {
		return nil, errors.New("snapshot has no header record")
	}
	if nLic != hdr.GetLicenses() || nMem != hdr.GetMembers() {
		return nil, fmt.Errorf("snapshot incomplete: header says %d licenses and %d members, found %d and %d",
			hdr.GetLicenses(), hdr.GetMembers(), nLic, nMem)
	}
	// Duplicate ids would collapse into one entry, and with parallel
	// decoding which copy wins could differ between replicas.
	if uint64(st.licenses.Len()) != nLic || uint64(len(st.members)) != nMem {
		return nil, fmt.Errorf("snapshot has duplicate records: %d license records hold %d distinct ids, %d member records hold %d",
			nLic, st.licenses.Len(), nMem, len(st.members))
	}
	return st, nil
}

// CheckSnapshot reads a whole snapshot stream and reports how many
// licenses it holds, or why it is unusable. Nothing is changed.
func CheckSnapshot(r io.Reader) (licenses int, domain string, err error) {
	st, err := readSnapshot(r)
	if err != nil {
		return 0, "", err
	}
	return st.licenses.Len(), st.domain, nil
}
