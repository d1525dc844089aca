package license

import (
	"sync"
	"sync/atomic"
	"time"
)

// Verify checks a token offline against a domain's signed anchor, in this
// order: the token parses (malformed); the anchor verifies against the pin
// (anchor invalid); the token's domain is the anchor's (wrong domain); its
// key is in the anchor (unknown key) and not retired at now (key retired);
// the signature (bad signature); the validity window (not yet valid,
// expired). It returns the claims of a token that passes every check.
//
// Verify does not apply product scope: the caller's trust policy decides
// which products a domain may license (see ScopeAllows).
func Verify(token string, sa *SignedAnchor, pinnedFingerprint string, now time.Time) (*Claims, error) {
	tok, err := ParseToken(token)
	if err != nil {
		return nil, err
	}
	if err := sa.Verify(pinnedFingerprint, now); err != nil {
		return nil, err
	}
	key, err := keyFor(&tok.Claims, &sa.Anchor, now)
	if err != nil {
		return nil, err
	}
	if !tok.signatureValid(key.PublicKey) {
		return nil, badSignature(&tok.Claims)
	}
	if err := checkValidity(&tok.Claims, now); err != nil {
		return nil, err
	}
	return &tok.Claims, nil
}

// keyFor finds the signing key that must have signed c and checks that it
// is usable at now.
func keyFor(c *Claims, a *Anchor, now time.Time) (SigningKey, error) {
	if c.Domain != a.Domain {
		return SigningKey{}, errorf(CodeWrongDomain, "license %q is from domain %q, but the anchor is for %q", c.LicenseID, c.Domain, a.Domain)
	}
	k, ok := a.Key(c.KeyID)
	if !ok {
		return SigningKey{}, errorf(CodeUnknownKey, "license %q is signed by key %q, which domain %q's anchor (serial %d) does not list; the key may be retired or the anchor stale", c.LicenseID, c.KeyID, a.Domain, a.Serial)
	}
	if k.NotAfter != 0 && k.NotAfter <= now.UnixNano() {
		return SigningKey{}, errorf(CodeKeyRetired, "license %q is signed by key %q, retired at %s; ask domain %q for a token signed by its current key", c.LicenseID, c.KeyID, fmtTime(k.NotAfter), a.Domain)
	}
	return k, nil
}

func badSignature(c *Claims) error {
	return errorf(CodeBadSignature, "license %q: signature does not verify with key %q; the token was altered or signed by another key", c.LicenseID, c.KeyID)
}

func checkValidity(c *Claims, now time.Time) error {
	t := now.UnixNano()
	if c.NotBefore > t {
		return errorf(CodeNotYetValid, "license %q is valid from %s", c.LicenseID, fmtTime(c.NotBefore))
	}
	if c.NotAfter != 0 && t >= c.NotAfter {
		return errorf(CodeExpired, "license %q expired at %s; renew it", c.LicenseID, fmtTime(c.NotAfter))
	}
	return nil
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339) }

// maxCachedTokens bounds the Verifier's signature cache.
const maxCachedTokens = 4096

// Verifier verifies tokens for one domain against the newest anchor it has
// accepted. It remembers which token strings had a good signature under the
// current anchor, so repeated checks of a token cost no signature check;
// time and key-retirement checks are made on every call. It is safe for
// concurrent use.
type Verifier struct {
	pin string

	mu     sync.RWMutex
	anchor *SignedAnchor
	canon  []byte // EncodeAnchor(anchor), to spot a changed anchor with the same serial
	gen    uint64 // bumped when the anchor changes; guards cache inserts
	cache  map[string]*Claims

	sigChecks atomic.Uint64 // signature verifications made, for tests
}

// NewVerifier returns a Verifier that accepts only anchors whose root key
// has pinnedFingerprint ("" accepts any root key for the first anchor; later
// anchors must keep that root key).
func NewVerifier(pinnedFingerprint string) *Verifier {
	return &Verifier{pin: pinnedFingerprint, cache: make(map[string]*Claims)}
}

// Accept verifies sa and makes it the current anchor. It refuses an anchor
// with a lower serial than the current one, or the same serial with other
// content (anchor rollback), and one for another domain or root key (anchor
// invalid). Accepting the current anchor again is a no-op.
func (v *Verifier) Accept(sa *SignedAnchor, now time.Time) error {
	if err := sa.Verify(v.pin, now); err != nil {
		return err
	}
	enc, err := EncodeAnchor(sa)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if cur := v.anchor; cur != nil {
		c, n := &cur.Anchor, &sa.Anchor
		switch {
		case n.Domain != c.Domain:
			return errorf(CodeAnchorInvalid, "anchor is for domain %q, this verifier holds domain %q", n.Domain, c.Domain)
		case string(n.RootKey) != string(c.RootKey):
			return errorf(CodeAnchorInvalid, "anchor for domain %q has root key %s, the accepted one has %s; a root key change needs a new pin", n.Domain, Fingerprint(n.RootKey), Fingerprint(c.RootKey))
		case n.Serial < c.Serial:
			return errorf(CodeAnchorRollback, "anchor for domain %q has serial %d, older than the accepted serial %d", n.Domain, n.Serial, c.Serial)
		case n.Serial == c.Serial && string(enc) != string(v.canon):
			return errorf(CodeAnchorRollback, "anchor for domain %q reuses serial %d with different content; the domain must publish a higher serial", n.Domain, n.Serial)
		case n.Serial == c.Serial:
			return nil
		}
	}
	v.anchor = cloneSignedAnchor(sa)
	v.canon = enc
	v.gen++
	clear(v.cache)
	return nil
}

// Anchor returns a copy of the current anchor, or nil before the first
// Accept.
func (v *Verifier) Anchor() *SignedAnchor {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.anchor == nil {
		return nil
	}
	return cloneSignedAnchor(v.anchor)
}

// Verify checks token against the current anchor, as the package-level
// Verify does, and returns a copy of its claims.
func (v *Verifier) Verify(token string, now time.Time) (*Claims, error) {
	v.mu.RLock()
	sa, gen, cached := v.anchor, v.gen, v.cache[token]
	v.mu.RUnlock()
	if sa == nil {
		return nil, errorf(CodeAnchorInvalid, "no trust anchor accepted yet")
	}
	a := &sa.Anchor // never mutated after Accept: Accept installs a new copy
	if cached != nil {
		if err := checkAnchorTime(a, now); err != nil {
			return nil, err
		}
		if _, err := keyFor(cached, a, now); err != nil {
			return nil, err
		}
		if err := checkValidity(cached, now); err != nil {
			return nil, err
		}
		return cloneClaims(cached), nil
	}

	tok, err := ParseToken(token)
	if err != nil {
		return nil, err
	}
	if err := checkAnchorTime(a, now); err != nil {
		return nil, err
	}
	key, err := keyFor(&tok.Claims, a, now)
	if err != nil {
		return nil, err
	}
	v.sigChecks.Add(1)
	if !tok.signatureValid(key.PublicKey) {
		return nil, badSignature(&tok.Claims)
	}
	v.remember(token, gen, &tok.Claims)
	if err := checkValidity(&tok.Claims, now); err != nil {
		return nil, err
	}
	return cloneClaims(&tok.Claims), nil
}

// remember caches claims whose signature verified under anchor generation
// gen, unless the anchor has changed since.
func (v *Verifier) remember(token string, gen uint64, c *Claims) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.gen != gen {
		return
	}
	if len(v.cache) >= maxCachedTokens {
		for k := range v.cache { // evict an arbitrary entry
			delete(v.cache, k)
			break
		}
	}
	v.cache[token] = cloneClaims(c)
}
