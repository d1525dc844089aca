package license

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
)

// Bounds on tokens. Parsing refuses anything larger before decoding it.
const (
	MaxTokenSize = 4096 // bytes of the whole token string
	MaxFieldLen  = 256  // bytes of any string field
	MaxFeatures  = 64   // entitlements per license
)

const (
	tokenPrefix         = "fl1"
	tokenPayloadVersion = 1
	tokenSigContext     = "fedlic-license-token-v1\x00"
)

var b64 = base64.RawURLEncoding.Strict()

// Limit is an entitlement limit: either a boolean feature or a numeric
// limit (seats, quota). A boolean limit has IsBool set and Count 0; a
// numeric limit has IsBool and Enabled unset and Count >= 0.
type Limit struct {
	IsBool  bool  `json:"is_bool,omitempty"`
	Enabled bool  `json:"enabled,omitempty"`
	Count   int64 `json:"count,omitempty"`
}

func (l Limit) validate() error {
	switch {
	case l.IsBool && l.Count != 0:
		return fmt.Errorf("a boolean limit has count %d: set either a count or true/false", l.Count)
	case !l.IsBool && l.Enabled:
		return fmt.Errorf("a numeric limit has enabled set: set either a count or true/false")
	case l.Count < 0:
		return fmt.Errorf("count %d is negative: use 0 or more", l.Count)
	}
	return nil
}

// Claims are the signed contents of a license token.
type Claims struct {
	Domain       string           `json:"domain"`
	KeyID        string           `json:"key_id"`
	LicenseID    string           `json:"license_id"`
	Version      uint64           `json:"version"`
	Licensee     string           `json:"licensee"`
	Product      string           `json:"product"`
	Entitlements map[string]Limit `json:"entitlements"`
	NotBefore    int64            `json:"not_before"` // unix nanoseconds; 0 = no lower bound
	NotAfter     int64            `json:"not_after"`  // unix nanoseconds; 0 = never expires
	IssuedAt     int64            `json:"issued_at"`  // unix nanoseconds
}

// validate checks what SignToken requires and ParseToken enforces.
func (c *Claims) validate() error {
	for _, f := range []struct{ name, v string }{
		{"domain", c.Domain}, {"key id", c.KeyID}, {"license id", c.LicenseID},
		{"licensee", c.Licensee}, {"product", c.Product},
	} {
		if err := checkString(f.name, f.v); err != nil {
			return err
		}
	}
	if len(c.Entitlements) > MaxFeatures {
		return fmt.Errorf("oversized field: %d features, the limit is %d", len(c.Entitlements), MaxFeatures)
	}
	for name, l := range c.Entitlements {
		if err := checkString("feature name", name); err != nil {
			return err
		}
		if err := l.validate(); err != nil {
			return fmt.Errorf("invalid limit for feature %q: %v", name, err)
		}
	}
	switch {
	case c.NotBefore < 0 || c.NotAfter < 0 || c.IssuedAt < 0:
		return fmt.Errorf("negative time: not_before %d, not_after %d, issued_at %d", c.NotBefore, c.NotAfter, c.IssuedAt)
	case c.NotBefore != 0 && c.NotAfter != 0 && c.NotAfter <= c.NotBefore:
		return fmt.Errorf("empty validity window: not_after %d is not after not_before %d", c.NotAfter, c.NotBefore)
	}
	return nil
}

// encode is the deterministic payload: a version byte, then every field in
// order, features sorted by name. validate must have passed.
func (c *Claims) encode() []byte {
	e := encoder{b: make([]byte, 0, 256)}
	e.u8(tokenPayloadVersion)
	e.str(c.Domain)
	e.str(c.KeyID)
	e.str(c.LicenseID)
	e.u64(c.Version)
	e.str(c.Licensee)
	e.str(c.Product)
	names := make([]string, 0, len(c.Entitlements))
	for n := range c.Entitlements {
		names = append(names, n)
	}
	sort.Strings(names)
	e.u16(uint16(len(names)))
	for _, n := range names {
		l := c.Entitlements[n]
		e.str(n)
		if l.IsBool {
			e.u8(limitBool)
			e.boolean(l.Enabled)
		} else {
			e.u8(limitCount)
			e.i64(l.Count)
		}
	}
	e.i64(c.NotBefore)
	e.i64(c.NotAfter)
	e.i64(c.IssuedAt)
	return e.b
}

const (
	limitCount = 0
	limitBool  = 1
)

func decodeClaims(payload []byte) (*Claims, error) {
	d := decoder{b: payload, what: "token payload"}
	if len(payload) == 0 {
		return nil, errorf(CodeMalformed, "token payload is empty")
	}
	if v := d.u8("version"); v != tokenPayloadVersion {
		return nil, errorf(CodeMalformed, "unsupported payload version %d: this build reads version %d; upgrade the verifier", v, tokenPayloadVersion)
	}
	c := &Claims{}
	c.Domain = d.str("domain", MaxFieldLen)
	c.KeyID = d.str("key id", MaxFieldLen)
	c.LicenseID = d.str("license id", MaxFieldLen)
	c.Version = d.u64("license version")
	c.Licensee = d.str("licensee", MaxFieldLen)
	c.Product = d.str("product", MaxFieldLen)
	n := int(d.u16("feature count"))
	if d.err == nil && n > MaxFeatures {
		d.fail("oversized field: %d features, the limit is %d", n, MaxFeatures)
	}
	if d.err != nil {
		return nil, d.err
	}
	c.Entitlements = make(map[string]Limit, n)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		name := d.str("feature name", MaxFieldLen)
		if d.err == nil && i > 0 && name <= prev {
			d.fail("features are not in strictly increasing order (%q after %q)", name, prev)
		}
		prev = name
		var l Limit
		switch kind := d.u8("limit kind"); kind {
		case limitCount:
			l.Count = d.i64("limit count")
		case limitBool:
			l.IsBool = true
			l.Enabled = d.boolean("limit enabled")
		default:
			d.fail("invalid limit: feature %q has limit kind %d", name, kind)
		}
		c.Entitlements[name] = l
	}
	c.NotBefore = d.i64("not_before")
	c.NotAfter = d.i64("not_after")
	c.IssuedAt = d.i64("issued_at")
	d.end()
	if d.err != nil {
		return nil, d.err
	}
	if err := c.validate(); err != nil {
		return nil, errorf(CodeMalformed, "token payload: %v", err)
	}
	return c, nil
}

// Token is a parsed license token. Its signature is not yet checked.
type Token struct {
	Claims    Claims
	Payload   []byte // the signed payload bytes
	Signature []byte // Ed25519 signature over the domain-separated payload
}

// signedMessage is what the signing key signs: a context string, then the
// payload, so a token signature can never be taken for another fedlic
// signature.
func signedMessage(context string, body []byte) []byte {
	m := make([]byte, 0, len(context)+len(body))
	return append(append(m, context...), body...)
}

// SignToken validates c and signs it with priv, returning the token string
// "fl1.<payload>.<signature>". c.KeyID must name priv in the domain's anchor.
func SignToken(c Claims, priv ed25519.PrivateKey) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", errorf(CodeMalformed, "sign token: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if err := c.validate(); err != nil {
		return "", errorf(CodeMalformed, "sign token: %v", err)
	}
	payload := c.encode()
	sig := ed25519.Sign(priv, signedMessage(tokenSigContext, payload))
	tok := tokenPrefix + "." + b64.EncodeToString(payload) + "." + b64.EncodeToString(sig)
	if len(tok) > MaxTokenSize {
		return "", errorf(CodeMalformed, "sign token: token would be %d bytes, the limit is %d; use fewer or shorter features", len(tok), MaxTokenSize)
	}
	return tok, nil
}

// ParseToken parses a token strictly and within MaxTokenSize. It does not
// check the signature: use Verify or a Verifier for that.
func ParseToken(s string) (*Token, error) {
	if len(s) > MaxTokenSize {
		return nil, errorf(CodeMalformed, "oversized token: %d bytes, the limit is %d", len(s), MaxTokenSize)
	}
	prefix, rest, _ := strings.Cut(s, ".")
	if prefix != tokenPrefix {
		if len(prefix) > 2 && prefix[:2] == "fl" && isDigits(prefix[2:]) {
			return nil, errorf(CodeMalformed, "unsupported token version %q: this build reads %q tokens; upgrade the verifier", prefix, tokenPrefix)
		}
		if len(prefix) > 8 {
			prefix = prefix[:8] + "..."
		}
		return nil, errorf(CodeMalformed, "wrong prefix %q: a license token starts with %q", prefix, tokenPrefix+".")
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 2 {
		return nil, errorf(CodeMalformed, "wrong number of parts: got %d, want 3 (%s.<payload>.<signature>)", len(parts)+1, tokenPrefix)
	}
	payload, err := decodeB64(parts[0])
	if err != nil {
		return nil, errorf(CodeMalformed, "bad base64 in payload: %v", err)
	}
	sig, err := decodeB64(parts[1])
	if err != nil {
		return nil, errorf(CodeMalformed, "bad base64 in signature: %v", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, errorf(CodeMalformed, "bad signature length: %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	c, err := decodeClaims(payload)
	if err != nil {
		return nil, err
	}
	return &Token{Claims: *c, Payload: payload, Signature: sig}, nil
}

// decodeB64 accepts only canonical unpadded base64url. The standard decoder
// skips '\r' and '\n', so the alphabet is checked first.
func decodeB64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, fmt.Errorf("byte %q at offset %d is not unpadded base64url", c, i)
		}
	}
	return b64.DecodeString(s)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (t *Token) signatureValid(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize &&
		ed25519.Verify(pub, signedMessage(tokenSigContext, t.Payload), t.Signature)
}

func cloneClaims(c *Claims) *Claims {
	out := *c
	if c.Entitlements != nil {
		out.Entitlements = make(map[string]Limit, len(c.Entitlements))
		for k, v := range c.Entitlements {
			out.Entitlements[k] = v
		}
	}
	return &out
}
