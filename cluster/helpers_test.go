package cluster

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/fedlic/fedlic/license"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func seedKey(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

// domain is a license domain with a root key, an active signing key, a
// key retired an hour before t0, and an anchor valid around t0.
type domain struct {
	name       string
	rootPriv   ed25519.PrivateKey
	sigPriv    ed25519.PrivateKey
	oldPriv    ed25519.PrivateKey
	keyID      string
	retiredKID string
	anchor     license.Anchor
	sa         *license.SignedAnchor
	pin        string
}

func newDomain(t testing.TB, name string, seed byte) *domain {
	t.Helper()
	rootPub, rootPriv := seedKey(seed)
	sigPub, sigPriv := seedKey(seed + 1)
	oldPub, oldPriv := seedKey(seed + 2)
	d := &domain{name: name, rootPriv: rootPriv, sigPriv: sigPriv, oldPriv: oldPriv,
		keyID: license.KeyIDFor(sigPub), retiredKID: license.KeyIDFor(oldPub)}
	d.anchor = license.Anchor{
		Version: 1,
		Domain:  name,
		RootKey: rootPub,
		SigningKeys: []license.SigningKey{
			{ID: d.retiredKID, PublicKey: oldPub, NotBefore: t0.Add(-48 * time.Hour).UnixNano(), NotAfter: t0.Add(-time.Hour).UnixNano()},
			{ID: d.keyID, PublicKey: sigPub, NotBefore: t0.Add(-time.Hour).UnixNano(), Active: true},
		},
		Scope:     []string{name + "/*"},
		Serial:    7,
		IssuedAt:  t0.Add(-time.Hour).UnixNano(),
		ExpiresAt: t0.Add(24 * time.Hour).UnixNano(),
	}
	d.sa = d.signAnchor(t, d.anchor)
	d.pin = license.Fingerprint(rootPub)
	return d
}

func (d *domain) signAnchor(t testing.TB, a license.Anchor) *license.SignedAnchor {
	t.Helper()
	sa, err := license.SignAnchor(a, d.rootPriv)
	if err != nil {
		t.Fatalf("SignAnchor: %v", err)
	}
	return sa
}

func (d *domain) notice() RevocationNotice {
	return RevocationNotice{
		Domain:    d.name,
		LicenseID: "lic-7f3c2a9e-41b8-4d0a-9c3e-2b5d8f1e6a70",
		Reason:    "chargeback on invoice 2026-0042",
		RevokedAt: t0.Add(-time.Minute).UnixNano(),
		Index:     4711,
	}
}

func (d *domain) signedNotice(t testing.TB) *RevocationNotice {
	t.Helper()
	n, err := SignRevocation(d.notice(), d.keyID, d.sigPriv)
	if err != nil {
		t.Fatalf("SignRevocation: %v", err)
	}
	return n
}

func mustEncode(t testing.TB, m Message) []byte {
	t.Helper()
	b, err := Encode(m)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b
}

var kinds = []error{ErrTruncated, ErrOversized, ErrMalformed, ErrUnknownVersion, ErrUnknownType}

// wantKind checks that err is exactly one wire failure kind, the one
// wanted, and that it carries license's malformed code.
func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", kind)
	}
	for _, k := range kinds {
		if got := errors.Is(err, k); got != (k == kind) {
			t.Fatalf("errors.Is(%v, %v) = %v, want %v", err, k, got, k == kind)
		}
	}
	if !errors.Is(err, license.ErrMalformed) || license.Reason(err) != license.CodeMalformed {
		t.Fatalf("%v: not license malformed (reason %q)", err, license.Reason(err))
	}
}

// wantCode checks a verification failure's license code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %q", code)
	}
	if got := license.Reason(err); got != code {
		t.Fatalf("got code %q (%v), want %q", got, err, code)
	}
	if !errors.Is(err, &license.Error{Code: code}) {
		t.Fatalf("errors.Is(%v, code %q) = false", err, code)
	}
}
