package cluster

import (
	"time"

	"github.com/fedlic/fedlic/license"
)

// AnchorMessage carries a domain's signed trust anchor. On the wire its
// payload is a 16-bit length and license.EncodeAnchor's bytes.
type AnchorMessage struct {
	Anchor *license.SignedAnchor
}

// Type is TypeAnchor.
func (*AnchorMessage) Type() MessageType { return TypeAnchor }

func (m *AnchorMessage) appendPayload(e *encoder) error {
	if m.Anchor == nil {
		return wireErrorf(ErrMalformed, "encode anchor message: no anchor")
	}
	bin, err := license.EncodeAnchor(m.Anchor)
	if err != nil {
		return wireErrorf(ErrMalformed, "encode anchor message: %v", err)
	}
	if len(bin) > MaxMessageSize-headerLen-2 {
		return wireErrorf(ErrOversized, "encode anchor message: anchor for domain %q is %d bytes, the limit is %d; send it by push-pull",
			m.Anchor.Anchor.Domain, len(bin), MaxMessageSize-headerLen-2)
	}
	e.u16(uint16(len(bin)))
	e.raw(bin)
	return nil
}

func (m *AnchorMessage) keyParts() (string, string, string) {
	if m.Anchor == nil {
		return "anchor", "", ""
	}
	return "anchor", m.Anchor.Anchor.Domain, ""
}

// decodeAnchorMessage reads the payload: the length is checked against
// the bytes left before the anchor is decoded (which copies what it keeps).
func decodeAnchorMessage(d *decoder) *AnchorMessage {
	n := int(d.u16("anchor length"))
	bin := d.take(n, "anchor")
	if d.err != nil {
		return nil
	}
	sa, err := license.DecodeAnchor(bin)
	if err != nil {
		d.fail(ErrMalformed, "%v", err)
		return nil
	}
	return &AnchorMessage{Anchor: sa}
}

// Verify checks the anchor against the operator's pin: its structure, the
// root key's signature, that the root key's fingerprint is
// pinnedFingerprint, and that it has not expired at now (all code "anchor
// invalid"); then that its serial is not below lastSerial, the highest
// serial accepted so far for the domain (code "anchor rollback"). An equal
// serial is accepted: peers re-broadcast the current anchor. An empty pin
// is refused: nothing learned by gossip is trusted without one.
//
// Verify does not compare the anchor's domain with the pin's domain or
// its content with an accepted anchor of the same serial; the caller
// holding the per-domain state (license.Verifier.Accept) does.
func (m *AnchorMessage) Verify(pinnedFingerprint string, now time.Time, lastSerial uint64) error {
	if m == nil || m.Anchor == nil {
		return licenseErrorf(license.CodeAnchorInvalid, "anchor message carries no anchor")
	}
	if pinnedFingerprint == "" {
		return licenseErrorf(license.CodeAnchorInvalid, "anchor for domain %q: no pinned root fingerprint; pin the domain's root key before accepting its anchors", m.Anchor.Anchor.Domain)
	}
	if err := m.Anchor.Verify(pinnedFingerprint, now); err != nil {
		return err
	}
	if s := m.Anchor.Anchor.Serial; s < lastSerial {
		return licenseErrorf(license.CodeAnchorRollback, "anchor for domain %q has serial %d, older than the last accepted serial %d", m.Anchor.Anchor.Domain, s, lastSerial)
	}
	return nil
}
