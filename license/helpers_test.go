package license

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func seedKey(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

// fixture is a domain "acme" with a root key, an active signing key, an
// older key retired an hour before t0, and an anchor valid around t0.
type fixture struct {
	rootPub    ed25519.PublicKey
	rootPriv   ed25519.PrivateKey
	sigPub     ed25519.PublicKey
	sigPriv    ed25519.PrivateKey
	oldPub     ed25519.PublicKey
	oldPriv    ed25519.PrivateKey
	anchor     Anchor
	sa         *SignedAnchor
	pin        string
	keyID      string
	retiredKID string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{}
	f.rootPub, f.rootPriv = seedKey(1)
	f.sigPub, f.sigPriv = seedKey(2)
	f.oldPub, f.oldPriv = seedKey(3)
	f.keyID, f.retiredKID = KeyIDFor(f.sigPub), KeyIDFor(f.oldPub)
	f.anchor = Anchor{
		Version: 1,
		Domain:  "acme",
		RootKey: f.rootPub,
		SigningKeys: []SigningKey{
			{ID: f.retiredKID, PublicKey: f.oldPub, NotBefore: t0.Add(-48 * time.Hour).UnixNano(), NotAfter: t0.Add(-time.Hour).UnixNano()},
			{ID: f.keyID, PublicKey: f.sigPub, NotBefore: t0.Add(-time.Hour).UnixNano(), Active: true},
		},
		Scope:     []string{"acme/*"},
		Serial:    7,
		IssuedAt:  t0.Add(-time.Hour).UnixNano(),
		ExpiresAt: t0.Add(24 * time.Hour).UnixNano(),
	}
	sa, err := SignAnchor(f.anchor, f.rootPriv)
	if err != nil {
		t.Fatalf("SignAnchor: %v", err)
	}
	f.sa = sa
	f.pin = Fingerprint(f.rootPub)
	return f
}

// claims is a license of product acme/db with n features, valid for 30
// days around t0.
func (f *fixture) claims(n int) Claims {
	c := Claims{
		Domain:       "acme",
		KeyID:        f.keyID,
		LicenseID:    "lic-7f3c2a9e-41b8-4d0a-9c3e-2b5d8f1e6a70",
		Version:      3,
		Licensee:     "globex-corporation",
		Product:      "acme/db",
		Entitlements: map[string]Limit{},
		NotBefore:    t0.Add(-24 * time.Hour).UnixNano(),
		NotAfter:     t0.Add(30 * 24 * time.Hour).UnixNano(),
		IssuedAt:     t0.Add(-24 * time.Hour).UnixNano(),
	}
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			c.Entitlements[fmt.Sprintf("feature-%02d-seats", i)] = Limit{Count: int64(100 * (i + 1))}
		} else {
			c.Entitlements[fmt.Sprintf("feature-%02d-enabled", i)] = Limit{IsBool: true, Enabled: i%3 != 0}
		}
	}
	return c
}

func (f *fixture) sign(t testing.TB, c Claims) string {
	t.Helper()
	tok, err := SignToken(c, f.sigPriv)
	if err != nil {
		t.Fatalf("SignToken: %v", err)
	}
	return tok
}

// assemble builds a token string from raw parts without any checks.
func assemble(payload, sig []byte) string {
	return tokenPrefix + "." + b64.EncodeToString(payload) + "." + b64.EncodeToString(sig)
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %q", code)
	}
	if got := Reason(err); got != code {
		t.Fatalf("got code %q (%v), want %q", got, err, code)
	}
	if !errors.Is(err, &Error{Code: code}) {
		t.Fatalf("errors.Is(%v, code %q) = false", err, code)
	}
}
