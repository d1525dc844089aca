package cluster

import (
	"crypto/ed25519"

	"github.com/fedlic/fedlic/license"
)

// revocationSigContext separates revocation signatures from token and
// anchor signatures made with the same kind of key.
const revocationSigContext = "fedlic-revocation-v1\x00"

// RevocationNotice tells trusting domains that a license was revoked. It
// is signed by one of the issuing domain's signing keys, so a node that
// forwards it cannot alter or forge it.
//
// On the wire: Domain, LicenseID, Reason (16-bit length strings),
// RevokedAt, Index (8 bytes each), KeyID, then the 64-byte signature. The
// signature covers revocationSigContext and everything before it.
type RevocationNotice struct {
	Domain    string // issuing domain
	LicenseID string
	Reason    string // may be empty; at most MaxReasonLen bytes
	RevokedAt int64  // unix ns, set by the issuing domain's leader; > 0
	Index     uint64 // raft index of the revocation in the issuing domain; > 0
	KeyID     string // the signing key, listed in the domain's anchor
	Signature []byte // Ed25519, ed25519.SignatureSize bytes
}

// Type is TypeRevocation.
func (*RevocationNotice) Type() MessageType { return TypeRevocation }

func (n *RevocationNotice) keyParts() (string, string, string) {
	return "revocation", n.Domain, n.LicenseID
}

// validateBody checks every field but the signature.
func (n *RevocationNotice) validateBody() error {
	const what = "revocation notice"
	for _, f := range []struct {
		name, v string
		max     int
		req     bool
	}{
		{"domain", n.Domain, MaxFieldLen, true},
		{"license id", n.LicenseID, MaxFieldLen, true},
		{"reason", n.Reason, MaxReasonLen, false},
		{"key id", n.KeyID, MaxFieldLen, true},
	} {
		if err := checkString(what, f.name, f.v, f.max, f.req); err != nil {
			return err
		}
	}
	if n.RevokedAt <= 0 {
		return wireErrorf(ErrMalformed, "%s: revoked_at %d is not a time after 1970", what, n.RevokedAt)
	}
	if n.Index == 0 {
		return wireErrorf(ErrMalformed, "%s: raft index is 0; revocations are committed at index 1 or later", what)
	}
	return nil
}

func (n *RevocationNotice) validate() error {
	if err := n.validateBody(); err != nil {
		return err
	}
	if len(n.Signature) != ed25519.SignatureSize {
		return wireErrorf(ErrMalformed, "revocation notice: signature is %d bytes, want %d", len(n.Signature), ed25519.SignatureSize)
	}
	return nil
}

// appendBody appends the signed fields; validateBody must have passed.
func (n *RevocationNotice) appendBody(e *encoder) {
	e.str(n.Domain)
	e.str(n.LicenseID)
	e.str(n.Reason)
	e.i64(n.RevokedAt)
	e.u64(n.Index)
	e.str(n.KeyID)
}

// signedBytes is what the signature covers.
func (n *RevocationNotice) signedBytes() []byte {
	e := encoder{b: make([]byte, 0, 128+len(n.Reason))}
	e.raw([]byte(revocationSigContext))
	n.appendBody(&e)
	return e.b
}

func (n *RevocationNotice) appendPayload(e *encoder) error {
	if err := n.validate(); err != nil {
		return err
	}
	n.appendBody(e)
	e.raw(n.Signature)
	return nil
}

func decodeRevocation(d *decoder) *RevocationNotice {
	n := &RevocationNotice{}
	n.Domain = d.str("domain", MaxFieldLen)
	n.LicenseID = d.str("license id", MaxFieldLen)
	n.Reason = d.str("reason", MaxReasonLen)
	n.RevokedAt = d.i64("revoked_at")
	n.Index = d.u64("raft index")
	n.KeyID = d.str("key id", MaxFieldLen)
	n.Signature = d.copyN(ed25519.SignatureSize, "signature")
	d.end()
	if d.err != nil {
		return nil
	}
	if err := n.validate(); err != nil {
		d.err = err
		return nil
	}
	return n
}

// SignRevocation returns a copy of n with KeyID set to kid and signed by
// priv, which must be the private half of the key the issuing domain's
// anchor lists under kid. The fields are validated first (code
// "malformed").
func SignRevocation(n RevocationNotice, kid string, priv ed25519.PrivateKey) (*RevocationNotice, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, wireErrorf(ErrMalformed, "sign revocation: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	n.KeyID = kid
	if err := n.validateBody(); err != nil {
		return nil, err
	}
	n.Signature = ed25519.Sign(priv, n.signedBytes())
	return &n, nil
}

// Verify checks the notice against sa, the issuing domain's anchor, which
// the caller must already have accepted (verified against its pin). In
// order: the notice's structure (malformed), its domain is the anchor's
// (wrong domain), its key is listed in the anchor (unknown key), and the
// signature verifies with that key (bad signature).
//
// A key that the anchor lists as retired (NotAfter in the past) is still
// accepted, and no clock is consulted: a revocation is never undone, a
// notice signed just before a key rotation may arrive after it, and
// refusing it would keep a revoked license valid in the trusting domain.
// A key removed from the anchor altogether is unknown. The cost is that a
// leaked retired key could revoke licenses (never grant them) until the
// domain drops it from its anchor.
func (n *RevocationNotice) Verify(sa *license.SignedAnchor) error {
	if n == nil {
		return wireErrorf(ErrMalformed, "no revocation notice")
	}
	if sa == nil {
		return licenseErrorf(license.CodeAnchorInvalid, "no trust anchor to verify the revocation of %q against", n.LicenseID)
	}
	if err := n.validate(); err != nil {
		return err
	}
	a := &sa.Anchor
	if n.Domain != a.Domain {
		return licenseErrorf(license.CodeWrongDomain, "revocation of %q is from domain %q, but the anchor is for %q", n.LicenseID, n.Domain, a.Domain)
	}
	k, ok := a.Key(n.KeyID)
	if !ok {
		return licenseErrorf(license.CodeUnknownKey, "revocation of %q is signed by key %q, which domain %q's anchor (serial %d) does not list; fetch the domain's newer anchor",
			n.LicenseID, n.KeyID, a.Domain, a.Serial)
	}
	if len(k.PublicKey) != ed25519.PublicKeySize || !ed25519.Verify(k.PublicKey, n.signedBytes(), n.Signature) {
		return licenseErrorf(license.CodeBadSignature, "revocation of %q: signature does not verify with key %q of domain %q; the notice was altered or signed by another key",
			n.LicenseID, n.KeyID, a.Domain)
	}
	return nil
}
