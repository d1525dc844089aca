package cluster

import (
	"fmt"
	"net/url"
)

const (
	// WireVersion is the envelope format version this build writes and
	// the only one it reads.
	WireVersion = 1
	// MaxMessageSize bounds one enveloped gossip message. See the package
	// doc: anything larger than a UDP packet goes by push-pull.
	MaxMessageSize = 16 << 10
	// MaxFieldLen bounds every string field but a revocation's reason.
	MaxFieldLen = 256
	// MaxReasonLen bounds a revocation's reason.
	MaxReasonLen = 512

	headerLen = 2 // version byte, type byte
)

// MessageType is the second byte of an envelope.
type MessageType byte

const (
	// TypeNodeMeta is reserved for node metadata, which travels in
	// memberlist's meta field and is never enveloped; Decode refuses it.
	TypeNodeMeta MessageType = 1
	// TypeAnchor is an AnchorMessage.
	TypeAnchor MessageType = 2
	// TypeRevocation is a RevocationNotice.
	TypeRevocation MessageType = 3
)

func (t MessageType) String() string {
	switch t {
	case TypeNodeMeta:
		return "node-meta"
	case TypeAnchor:
		return "anchor"
	case TypeRevocation:
		return "revocation"
	}
	return fmt.Sprintf("type-%d", byte(t))
}

// Message is a gossip message: *AnchorMessage or *RevocationNotice. The
// set is closed; Decode returns one of them, Encode takes one.
type Message interface {
	// Type is the envelope type byte of the message.
	Type() MessageType
	// appendPayload validates the message and appends its payload.
	appendPayload(e *encoder) error
	// keyParts names what the message is about; Key escapes and joins them.
	keyParts() (kind, domain, rest string)
}

// Encode validates m and returns its envelope: version, type, payload. It
// refuses a message larger than MaxMessageSize (ErrOversized).
func Encode(m Message) ([]byte, error) {
	if isNil(m) {
		return nil, wireErrorf(ErrMalformed, "encode: nil message")
	}
	e := encoder{b: make([]byte, 0, 256)}
	e.u8(WireVersion)
	e.u8(byte(m.Type()))
	if err := m.appendPayload(&e); err != nil {
		return nil, err
	}
	if len(e.b) > MaxMessageSize {
		return nil, wireErrorf(ErrOversized, "encode %s: %d bytes, the limit is %d; send it by push-pull state exchange in parts",
			m.Type(), len(e.b), MaxMessageSize)
	}
	return e.b, nil
}

// Decode reads one envelope strictly. It checks structure only: call the
// message's Verify before trusting it. The message does not alias b.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxMessageSize {
		return nil, wireErrorf(ErrOversized, "message is %d bytes, the limit is %d", len(b), MaxMessageSize)
	}
	if len(b) < 1 {
		return nil, wireErrorf(ErrTruncated, "empty message")
	}
	if b[0] != WireVersion {
		return nil, wireErrorf(ErrUnknownVersion, "message format version %d, this build reads %d; upgrade this node", b[0], WireVersion)
	}
	if len(b) < headerLen {
		return nil, wireErrorf(ErrTruncated, "message ends before its type byte")
	}
	d := &decoder{b: b[headerLen:]}
	var m Message
	switch t := MessageType(b[1]); t {
	case TypeAnchor:
		d.what = "anchor message"
		m = decodeAnchorMessage(d)
	case TypeRevocation:
		d.what = "revocation notice"
		m = decodeRevocation(d)
	case TypeNodeMeta:
		return nil, wireErrorf(ErrUnknownType, "type %d is node metadata, which travels in memberlist meta (DecodeMeta), never as a message", byte(t))
	default:
		return nil, wireErrorf(ErrUnknownType, "message type %d; this build knows %d (anchor) and %d (revocation)", byte(t), TypeAnchor, TypeRevocation)
	}
	d.end()
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

// Key names what m is about, for superseding queued broadcasts (serf's
// Invalidates): "anchor/<domain>" for an anchor, and
// "revocation/<domain>/<license id>" for a revocation. A new broadcast
// replaces a queued one with the same key, so a node must queue only
// anchors it has accepted (whose serials only grow).
//
// The domain is path-escaped (url.PathEscape), which leaves ordinary
// domain names such as "acme" or "partner.billing" unchanged but keeps a
// domain containing "/" from colliding with another domain's key.
// Key of a nil message is "".
func Key(m Message) string {
	if isNil(m) {
		return ""
	}
	kind, domain, rest := m.keyParts()
	k := kind + "/" + url.PathEscape(domain)
	if rest != "" {
		k += "/" + rest
	}
	return k
}

// isNil reports a nil interface or a typed nil pointer.
func isNil(m Message) bool {
	switch v := m.(type) {
	case nil:
		return true
	case *AnchorMessage:
		return v == nil
	case *RevocationNotice:
		return v == nil
	}
	return false
}
