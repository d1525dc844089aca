package cluster

import "fmt"

const (
	// MetaVersion is the node metadata format version.
	MetaVersion = 1
	// MaxMetaSize is memberlist's limit on node metadata
	// (memberlist.MetaMaxSize).
	MaxMetaSize = 512
)

// Role is a node's Raft role in its domain.
type Role string

const (
	RoleVoter    Role = "voter"
	RoleNonvoter Role = "nonvoter" // a read replica
)

// Wire values of the roles.
const (
	roleVoterByte    = 1
	roleNonvoterByte = 2
)

// NodeMeta is what a node tells the pool about itself in memberlist's
// node metadata. Like everything learned by gossip it is a claim, not a
// fact: the serial and watermark say what to ask the node for, and
// nothing in them is trusted until the anchor or revocations verify.
//
// On the wire: version byte, Domain, NodeID, GRPCAddr (16-bit length
// strings), role byte (1 voter, 2 nonvoter), AnchorSerial,
// RevocationWatermark (8 bytes each).
type NodeMeta struct {
	Domain   string
	NodeID   string
	GRPCAddr string // host:port of the node's API; empty if it serves none
	Role     Role
	// AnchorSerial is the serial of the node's own domain's current anchor.
	AnchorSerial uint64
	// RevocationWatermark is the highest raft index of a revocation the
	// node has applied; peers behind it ask for what they miss.
	RevocationWatermark uint64
}

func (m *NodeMeta) validate() error {
	const what = "node meta"
	if err := checkString(what, "domain", m.Domain, MaxFieldLen, true); err != nil {
		return err
	}
	if err := checkString(what, "node id", m.NodeID, MaxFieldLen, true); err != nil {
		return err
	}
	if err := checkString(what, "grpc address", m.GRPCAddr, MaxFieldLen, false); err != nil {
		return err
	}
	if _, err := roleByte(m.Role); err != nil {
		return err
	}
	return nil
}

func roleByte(r Role) (byte, error) {
	switch r {
	case RoleVoter:
		return roleVoterByte, nil
	case RoleNonvoter:
		return roleNonvoterByte, nil
	}
	return 0, wireErrorf(ErrMalformed, "node meta: role %q, want %q or %q", string(r), RoleVoter, RoleNonvoter)
}

// EncodeMeta validates m and encodes it. It refuses an encoding larger
// than MaxMetaSize (ErrOversized): memberlist would refuse it at start-up.
func EncodeMeta(m NodeMeta) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	rb, _ := roleByte(m.Role)
	e := encoder{b: make([]byte, 0, 64+len(m.Domain)+len(m.NodeID)+len(m.GRPCAddr))}
	e.u8(MetaVersion)
	e.str(m.Domain)
	e.str(m.NodeID)
	e.str(m.GRPCAddr)
	e.u8(rb)
	e.u64(m.AnchorSerial)
	e.u64(m.RevocationWatermark)
	if len(e.b) > MaxMetaSize {
		return nil, wireErrorf(ErrOversized, "node meta is %d bytes, memberlist's limit is %d; shorten the domain, node id or gRPC address",
			len(e.b), MaxMetaSize)
	}
	return e.b, nil
}

// DecodeMeta decodes EncodeMeta's output strictly: at most MaxMetaSize
// bytes, known version and role, bounded UTF-8 strings, a non-empty domain
// and node id, no trailing bytes. The result does not alias b.
func DecodeMeta(b []byte) (NodeMeta, error) {
	if len(b) > MaxMetaSize {
		return NodeMeta{}, wireErrorf(ErrOversized, "node meta is %d bytes, the limit is %d", len(b), MaxMetaSize)
	}
	if len(b) == 0 {
		return NodeMeta{}, wireErrorf(ErrTruncated, "node meta is empty")
	}
	if b[0] != MetaVersion {
		return NodeMeta{}, wireErrorf(ErrUnknownVersion, "node meta format version %d, this build reads %d; upgrade this node", b[0], MetaVersion)
	}
	d := &decoder{b: b[1:], what: "node meta"}
	var m NodeMeta
	m.Domain = d.str("domain", MaxFieldLen)
	m.NodeID = d.str("node id", MaxFieldLen)
	m.GRPCAddr = d.str("grpc address", MaxFieldLen)
	switch rb := d.u8("role"); {
	case d.err != nil:
	case rb == roleVoterByte:
		m.Role = RoleVoter
	case rb == roleNonvoterByte:
		m.Role = RoleNonvoter
	default:
		d.fail(ErrMalformed, "role byte %d, want %d (voter) or %d (nonvoter)", rb, roleVoterByte, roleNonvoterByte)
	}
	m.AnchorSerial = d.u64("anchor serial")
	m.RevocationWatermark = d.u64("revocation watermark")
	d.end()
	if d.err != nil {
		return NodeMeta{}, d.err
	}
	if err := m.validate(); err != nil {
		return NodeMeta{}, err
	}
	return m, nil
}

// String is a short description for logs.
func (m NodeMeta) String() string {
	return fmt.Sprintf("%s/%s (%s, %s, anchor serial %d, revocations to %d)",
		m.Domain, m.NodeID, m.Role, m.GRPCAddr, m.AnchorSerial, m.RevocationWatermark)
}
