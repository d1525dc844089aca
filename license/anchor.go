package license

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

const (
	// AnchorVersion is the only anchor format version this build reads.
	AnchorVersion = 1
	// MaxAnchorSize bounds an anchor in JSON and in binary form.
	MaxAnchorSize = 64 << 10
	// MaxSigningKeys bounds the signing keys listed in one anchor.
	MaxSigningKeys = 64

	anchorEncodingVersion = 1
	anchorSigContext      = "fedlic-trust-anchor-v1\x00"
)

// SigningKey is a domain signing key endorsed by the root key.
type SigningKey struct {
	ID        string            `json:"id"`
	PublicKey ed25519.PublicKey `json:"public_key"` // JSON as base64 (std)
	NotBefore int64             `json:"not_before"` // unix ns
	NotAfter  int64             `json:"not_after"`  // unix ns, 0 = no end (not retired)
	Active    bool              `json:"active"`     // the one that signs new tokens
}

// Anchor is a domain's trust anchor: its root key, the signing keys the
// root endorses, the product scope it claims, and a serial that only grows.
type Anchor struct {
	Version     int               `json:"version"` // format version, 1
	Domain      string            `json:"domain"`
	RootKey     ed25519.PublicKey `json:"root_key"`
	SigningKeys []SigningKey      `json:"signing_keys"`
	Scope       []string          `json:"scope"` // product patterns, e.g. "acme/*", "*"
	Serial      uint64            `json:"serial"`
	IssuedAt    int64             `json:"issued_at"`  // unix ns
	ExpiresAt   int64             `json:"expires_at"` // unix ns
}

// SignedAnchor is an Anchor with the root key's signature over its
// canonical encoding.
type SignedAnchor struct {
	Anchor    Anchor `json:"anchor"`
	Signature []byte `json:"signature"`
}

// Key returns the signing key with the given id.
func (a *Anchor) Key(id string) (SigningKey, bool) {
	for _, k := range a.SigningKeys {
		if k.ID == id {
			return k, true
		}
	}
	return SigningKey{}, false
}

// ActiveKey returns the key that signs new tokens, if one is marked active.
func (a *Anchor) ActiveKey() (SigningKey, bool) {
	for _, k := range a.SigningKeys {
		if k.Active {
			return k, true
		}
	}
	return SigningKey{}, false
}

// validate checks structure only: no signature, no clock.
func (a *Anchor) validate() error {
	if a.Version != AnchorVersion {
		return fmt.Errorf("unsupported anchor version %d, want %d", a.Version, AnchorVersion)
	}
	if err := checkString("domain", a.Domain); err != nil {
		return err
	}
	if len(a.RootKey) != ed25519.PublicKeySize {
		return fmt.Errorf("root key is %d bytes, want %d", len(a.RootKey), ed25519.PublicKeySize)
	}
	if len(a.SigningKeys) > MaxSigningKeys {
		return fmt.Errorf("%d signing keys, the limit is %d", len(a.SigningKeys), MaxSigningKeys)
	}
	seen := make(map[string]bool, len(a.SigningKeys))
	active := 0
	for i, k := range a.SigningKeys {
		if err := checkString(fmt.Sprintf("signing key %d id", i), k.ID); err != nil {
			return err
		}
		if seen[k.ID] {
			return fmt.Errorf("signing key id %q appears twice", k.ID)
		}
		seen[k.ID] = true
		if len(k.PublicKey) != ed25519.PublicKeySize {
			return fmt.Errorf("signing key %q is %d bytes, want %d", k.ID, len(k.PublicKey), ed25519.PublicKeySize)
		}
		if k.NotBefore < 0 || k.NotAfter < 0 {
			return fmt.Errorf("signing key %q has a negative validity time", k.ID)
		}
		if k.Active {
			active++
		}
	}
	if active > 1 {
		return fmt.Errorf("%d signing keys are marked active, at most one may be", active)
	}
	if err := ValidateScope(a.Scope); err != nil {
		return err
	}
	if a.ExpiresAt <= a.IssuedAt {
		return fmt.Errorf("expires_at %d is not after issued_at %d", a.ExpiresAt, a.IssuedAt)
	}
	return nil
}

// canonical is the deterministic encoding the root key signs. validate
// must have passed (it bounds every length).
func (a *Anchor) canonical() []byte {
	e := encoder{b: make([]byte, 0, 256+len(a.SigningKeys)*64)}
	e.u8(anchorEncodingVersion)
	e.u32(uint32(a.Version))
	e.str(a.Domain)
	e.bytes(a.RootKey)
	e.u16(uint16(len(a.SigningKeys)))
	for _, k := range a.SigningKeys {
		e.str(k.ID)
		e.bytes(k.PublicKey)
		e.i64(k.NotBefore)
		e.i64(k.NotAfter)
		e.boolean(k.Active)
	}
	e.u16(uint16(len(a.Scope)))
	for _, p := range a.Scope {
		e.str(p)
	}
	e.u64(a.Serial)
	e.i64(a.IssuedAt)
	e.i64(a.ExpiresAt)
	return e.b
}

func decodeAnchorBody(d *decoder) Anchor {
	var a Anchor
	if v := d.u8("encoding version"); d.err == nil && v != anchorEncodingVersion {
		d.fail("unsupported encoding version %d, want %d", v, anchorEncodingVersion)
	}
	a.Version = int(d.u32("version"))
	a.Domain = d.str("domain", MaxFieldLen)
	a.RootKey = d.bytesN("root key", ed25519.PublicKeySize)
	n := int(d.u16("signing key count"))
	if d.err == nil && n > MaxSigningKeys {
		d.fail("%d signing keys, the limit is %d", n, MaxSigningKeys)
	}
	for i := 0; i < n && d.err == nil; i++ {
		var k SigningKey
		k.ID = d.str("signing key id", MaxFieldLen)
		k.PublicKey = d.bytesN("signing key", ed25519.PublicKeySize)
		k.NotBefore = d.i64("signing key not_before")
		k.NotAfter = d.i64("signing key not_after")
		k.Active = d.boolean("signing key active")
		a.SigningKeys = append(a.SigningKeys, k)
	}
	n = int(d.u16("scope count"))
	if d.err == nil && n > MaxScopePatterns {
		d.fail("%d scope patterns, the limit is %d", n, MaxScopePatterns)
	}
	for i := 0; i < n && d.err == nil; i++ {
		a.Scope = append(a.Scope, d.str("scope pattern", MaxFieldLen))
	}
	a.Serial = d.u64("serial")
	a.IssuedAt = d.i64("issued_at")
	a.ExpiresAt = d.i64("expires_at")
	return a
}

// SignAnchor checks a's structure and signs it with the root private key.
// An empty a.RootKey is filled in from rootPriv; a different one is refused.
func SignAnchor(a Anchor, rootPriv ed25519.PrivateKey) (*SignedAnchor, error) {
	if len(rootPriv) != ed25519.PrivateKeySize {
		return nil, errorf(CodeAnchorInvalid, "sign anchor: root private key is %d bytes, want %d", len(rootPriv), ed25519.PrivateKeySize)
	}
	pub := rootPriv.Public().(ed25519.PublicKey)
	if len(a.RootKey) == 0 {
		a.RootKey = pub
	}
	if !bytes.Equal(a.RootKey, pub) {
		return nil, errorf(CodeAnchorInvalid, "sign anchor: root key %s does not belong to the private key given (%s)", Fingerprint(a.RootKey), Fingerprint(pub))
	}
	if err := a.validate(); err != nil {
		return nil, errorf(CodeAnchorInvalid, "sign anchor: %v", err)
	}
	sa := &SignedAnchor{Anchor: *cloneAnchor(&a)}
	sa.Signature = ed25519.Sign(rootPriv, signedMessage(anchorSigContext, sa.Anchor.canonical()))
	return sa, nil
}

// Verify checks, in order, the anchor's structure, the root key's
// signature, that the root key's fingerprint is pinnedFingerprint (skipped
// when it is ""), and that the anchor has not expired at now. Every failure
// has code "anchor invalid".
func (sa *SignedAnchor) Verify(pinnedFingerprint string, now time.Time) error {
	if sa == nil {
		return errorf(CodeAnchorInvalid, "no trust anchor")
	}
	a := &sa.Anchor
	if err := a.validate(); err != nil {
		return errorf(CodeAnchorInvalid, "anchor for domain %q: %v", a.Domain, err)
	}
	if len(sa.Signature) != ed25519.SignatureSize ||
		!ed25519.Verify(a.RootKey, signedMessage(anchorSigContext, a.canonical()), sa.Signature) {
		return errorf(CodeAnchorInvalid, "anchor for domain %q: root key signature does not verify; the anchor was altered or not signed by its root key", a.Domain)
	}
	if pinnedFingerprint != "" {
		if fp := Fingerprint(a.RootKey); fp != strings.ToLower(strings.TrimSpace(pinnedFingerprint)) {
			return errorf(CodeAnchorInvalid, "anchor for domain %q: root key fingerprint %s is not the pinned %s; check the pin with the domain's operator", a.Domain, fp, pinnedFingerprint)
		}
	}
	return checkAnchorTime(a, now)
}

func checkAnchorTime(a *Anchor, now time.Time) error {
	if now.UnixNano() >= a.ExpiresAt {
		return errorf(CodeAnchorInvalid, "anchor for domain %q (serial %d) expired at %s; fetch a fresh anchor from the domain",
			a.Domain, a.Serial, time.Unix(0, a.ExpiresAt).UTC().Format(time.RFC3339))
	}
	return nil
}

// Fingerprint is the fingerprint of the anchor's root key.
func (sa *SignedAnchor) Fingerprint() string { return Fingerprint(sa.Anchor.RootKey) }

// EncodeAnchor is the compact binary form for gossip: the canonical anchor
// encoding followed by the signature. The anchor's structure must be valid.
func EncodeAnchor(sa *SignedAnchor) ([]byte, error) {
	if sa == nil {
		return nil, errorf(CodeAnchorInvalid, "encode anchor: nil anchor")
	}
	if err := sa.Anchor.validate(); err != nil {
		return nil, errorf(CodeAnchorInvalid, "encode anchor: %v", err)
	}
	if len(sa.Signature) != ed25519.SignatureSize {
		return nil, errorf(CodeAnchorInvalid, "encode anchor: signature is %d bytes, want %d", len(sa.Signature), ed25519.SignatureSize)
	}
	e := encoder{b: sa.Anchor.canonical()}
	e.bytes(sa.Signature)
	return e.b, nil
}

// DecodeAnchor decodes EncodeAnchor's output strictly: bounded sizes, no
// trailing bytes, a valid structure. It does not check the signature; call
// Verify.
func DecodeAnchor(b []byte) (*SignedAnchor, error) {
	if len(b) > MaxAnchorSize {
		return nil, errorf(CodeMalformed, "anchor: %d bytes, the limit is %d", len(b), MaxAnchorSize)
	}
	d := decoder{b: b, what: "anchor"}
	a := decodeAnchorBody(&d)
	sig := d.bytesN("signature", ed25519.SignatureSize)
	d.end()
	if d.err != nil {
		return nil, d.err
	}
	if err := a.validate(); err != nil {
		return nil, errorf(CodeMalformed, "anchor: %v", err)
	}
	return &SignedAnchor{Anchor: a, Signature: sig}, nil
}

// ParseAnchorJSON decodes the JSON form strictly: at most MaxAnchorSize
// bytes, no unknown or duplicate fields, nothing after the object, a valid
// structure. It does not check the signature; call Verify.
func ParseAnchorJSON(b []byte) (*SignedAnchor, error) {
	if len(b) > MaxAnchorSize {
		return nil, errorf(CodeMalformed, "anchor JSON: %d bytes, the limit is %d", len(b), MaxAnchorSize)
	}
	if err := checkNoDuplicateKeys(b); err != nil {
		return nil, errorf(CodeMalformed, "anchor JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var sa SignedAnchor
	if err := dec.Decode(&sa); err != nil {
		return nil, errorf(CodeMalformed, "anchor JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf(CodeMalformed, "anchor JSON: data after the anchor object")
	}
	if err := sa.Anchor.validate(); err != nil {
		return nil, errorf(CodeMalformed, "anchor JSON: %v", err)
	}
	if len(sa.Signature) != ed25519.SignatureSize {
		return nil, errorf(CodeMalformed, "anchor JSON: signature is %d bytes, want %d", len(sa.Signature), ed25519.SignatureSize)
	}
	return &sa, nil
}

// anchorJSONKeys are the only object keys an anchor document has.
// encoding/json matches keys case-insensitively, so "Domain" and "domain"
// would both land in one field; naming them exactly closes that gap.
var anchorJSONKeys = map[string]bool{
	"anchor": true, "signature": true, "version": true, "domain": true,
	"root_key": true, "signing_keys": true, "scope": true, "serial": true,
	"issued_at": true, "expires_at": true, "id": true, "public_key": true,
	"not_before": true, "not_after": true, "active": true,
}

// checkNoDuplicateKeys walks the JSON tokens and refuses an object that
// names a key twice (encoding/json would silently keep the last) or a key
// not spelled exactly as in the format.
func checkNoDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	var walk func(depth int) error
	walk = func(depth int) error {
		if depth > 16 {
			return errors.New("nested too deeply")
		}
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				if !anchorJSONKeys[key] {
					return fmt.Errorf("unknown field %q", key)
				}
				if seen[key] {
					return fmt.Errorf("key %q appears twice", key)
				}
				seen[key] = true
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
			_, err = dec.Token() // '}'
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
			_, err = dec.Token() // ']'
			return err
		}
		return nil
	}
	return walk(0)
}

func cloneAnchor(a *Anchor) *Anchor {
	out := *a
	out.RootKey = bytes.Clone(a.RootKey)
	if a.SigningKeys != nil {
		out.SigningKeys = make([]SigningKey, len(a.SigningKeys))
		for i, k := range a.SigningKeys {
			k.PublicKey = bytes.Clone(k.PublicKey)
			out.SigningKeys[i] = k
		}
	}
	out.Scope = append([]string(nil), a.Scope...)
	return &out
}

func cloneSignedAnchor(sa *SignedAnchor) *SignedAnchor {
	return &SignedAnchor{Anchor: *cloneAnchor(&sa.Anchor), Signature: bytes.Clone(sa.Signature)}
}
