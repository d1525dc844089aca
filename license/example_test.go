package license_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/fedlic/fedlic/license"
)

// A service verifies license tokens offline. It was configured with the
// pinned root fingerprint of the issuing domain and receives that domain's
// signed anchor (by gossip or from a file); tokens arrive with requests.
func ExampleVerifier() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	// The issuing domain (normally a fedlic server): a root key and an
	// active signing key endorsed by an anchor. Fixed seeds keep the example
	// deterministic; real keys come from license.GenerateKey(rand.Reader).
	rootPriv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	signPriv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	signPub := signPriv.Public().(ed25519.PublicKey)
	anchor, err := license.SignAnchor(license.Anchor{
		Version:     1,
		Domain:      "acme",
		SigningKeys: []license.SigningKey{{ID: license.KeyIDFor(signPub), PublicKey: signPub, Active: true}},
		Scope:       []string{"acme/*"},
		Serial:      1,
		IssuedAt:    now.Add(-time.Hour).UnixNano(),
		ExpiresAt:   now.Add(90 * 24 * time.Hour).UnixNano(),
	}, rootPriv)
	if err != nil {
		panic(err)
	}
	token, err := license.SignToken(license.Claims{
		Domain:    "acme",
		KeyID:     license.KeyIDFor(signPub),
		LicenseID: "lic-42",
		Version:   1,
		Licensee:  "globex",
		Product:   "acme/db",
		Entitlements: map[string]license.Limit{
			"seats":       {Count: 25},
			"replication": {IsBool: true, Enabled: true},
		},
		IssuedAt: now.Add(-time.Hour).UnixNano(),
		NotAfter: now.Add(30 * 24 * time.Hour).UnixNano(),
	}, signPriv)
	if err != nil {
		panic(err)
	}

	// The service.
	pin := anchor.Fingerprint() // in practice, from the operator's config
	v := license.NewVerifier(pin)
	if err := v.Accept(anchor, now); err != nil {
		fmt.Println("anchor refused:", err)
		return
	}
	claims, err := v.Verify(token, now)
	if err != nil {
		fmt.Println("license refused:", license.Reason(err))
		return
	}
	if !license.ScopeAllows([]string{"acme/*"}, claims.Product) {
		fmt.Println("product out of scope")
		return
	}
	fmt.Printf("%s may use %s with %d seats\n", claims.Licensee, claims.Product, claims.Entitlements["seats"].Count)

	// Two months later the license has expired.
	_, err = v.Verify(token, now.Add(60*24*time.Hour))
	fmt.Println("later:", license.Reason(err), errors.Is(err, license.ErrExpired))
	// Output:
	// globex may use acme/db with 25 seats
	// later: expired true
}
