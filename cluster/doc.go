// Package cluster will own fedlic's federation pool on memberlist: node
// metadata, the exchange of trust anchors and revocations between domains,
// peer-domain health, and applying the trust policy to what arrives.
//
// This first part is the versioned wire format of what travels by gossip,
// and the verification of what arrives. Everything a peer sends is
// untrusted until it is verified against a root key fingerprint pinned by
// the operator: an anchor by (*AnchorMessage).Verify, a revocation by
// (*RevocationNotice).Verify against an anchor that was itself accepted
// that way. A node forwards what it received as it received it; it holds
// no key that could forge an anchor or a revocation of another domain.
//
// # Wire format
//
// Node metadata (NodeMeta) travels in memberlist's per-node meta field,
// limited to MaxMetaSize (512) bytes; it starts with its own version byte
// and is not enveloped. Every other gossip message is an envelope:
//
//	version (1 byte, 1) | type (1 byte) | payload
//
// Type 1 is reserved for node metadata, 2 is an AnchorMessage, 3 a
// RevocationNotice. Integers are big-endian and fixed width; strings carry
// a 16-bit length and are valid UTF-8 within a stated bound. Each value
// has exactly one encoding, so a decoded message re-encodes to the same
// bytes, and a signature over the encoding is a signature over the value.
//
// Decoding is strict and bounded and never panics: a message is at most
// MaxMessageSize bytes, every length is checked against its bound and the
// bytes left before anything is allocated, trailing bytes are refused,
// and the decoded value never aliases the input buffer (memberlist reuses
// its buffers). Failures are distinguishable with errors.Is against
// ErrTruncated, ErrOversized, ErrMalformed, ErrUnknownVersion and
// ErrUnknownType; every one also matches license.ErrMalformed.
//
// # Sizes
//
// MaxMessageSize is 16 KiB, but memberlist's UDP gossip packets are much
// smaller (UDPBufferSize, 1400 bytes by default, less its own framing). A
// revocation notice is about 200 bytes in practice and 1,370 at the field
// bounds. An anchor with a few keys is a few hundred bytes, but one with
// many keys or scope patterns can exceed a packet: large anchors must go
// by push-pull state exchange (TCP), not by UDP broadcast. The delegates
// decide which path a message takes; this package only bounds it.
//
// # Superseding broadcasts
//
// Key names what a message is about, so that a memberlist
// TransmitLimitedQueue can drop a queued broadcast when a newer one about
// the same thing is queued (as serf's broadcast.go does with Invalidates).
//
// It uses only the standard library and package license. It must never
// import raft, grpc, or the fsm, node or api packages: what gossip learns
// reaches Raft only through the leader, by the node package.
package cluster
