package license

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestVerifierCache(t *testing.T) {
	f := newFixture(t)
	v := NewVerifier(f.pin)
	sa := f.longAnchor(t)
	if err := v.Accept(sa, t0); err != nil {
		t.Fatal(err)
	}
	c := f.claims(3)
	tok := f.sign(t, c)
	for i := 0; i < 3; i++ {
		got, err := v.Verify(tok, t0)
		if err != nil {
			t.Fatalf("Verify %d: %v", i, err)
		}
		if got.LicenseID != c.LicenseID {
			t.Fatalf("claims %+v", got)
		}
		got.Entitlements["injected"] = Limit{Count: 1} // must not reach the cache
	}
	if n := v.sigChecks.Load(); n != 1 {
		t.Fatalf("%d signature checks for three verifications, want 1", n)
	}
	if got, _ := v.Verify(tok, t0); len(got.Entitlements) != 3 {
		t.Fatalf("cache was mutated through returned claims: %v", got.Entitlements)
	}
	// Time is checked on every call, even from the cache.
	_, err := v.Verify(tok, time.Unix(0, c.NotAfter))
	wantCode(t, err, CodeExpired)
	_, err = v.Verify(tok, time.Unix(0, c.NotBefore-1))
	wantCode(t, err, CodeNotYetValid)
	_, err = v.Verify(tok, time.Unix(0, sa.Anchor.ExpiresAt))
	wantCode(t, err, CodeAnchorInvalid)
	if n := v.sigChecks.Load(); n != 1 {
		t.Fatalf("%d signature checks, want 1", n)
	}

	// A bad signature is never cached: each attempt is checked again.
	p, _ := ParseToken(tok)
	sig := append([]byte(nil), p.Signature...)
	sig[0] ^= 1
	bad := assemble(p.Payload, sig)
	for i := 0; i < 2; i++ {
		_, err := v.Verify(bad, t0)
		wantCode(t, err, CodeBadSignature)
	}
	if n := v.sigChecks.Load(); n != 3 {
		t.Fatalf("%d signature checks, want 3", n)
	}

	// A new anchor clears the cache; a key removed by it is refused even
	// for a token verified before.
	a := sa.Anchor
	a.Serial++
	a.SigningKeys = a.SigningKeys[:1]
	next, err := SignAnchor(a, f.rootPriv)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Accept(next, t0); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(tok, t0)
	wantCode(t, err, CodeUnknownKey)
}

func TestVerifierRetiredKeyFromCache(t *testing.T) {
	// A key whose NotAfter passes after the token was cached is refused.
	f := newFixture(t)
	a := f.anchor
	retire := t0.Add(time.Hour)
	a.SigningKeys[1].NotAfter = retire.UnixNano()
	sa, err := SignAnchor(a, f.rootPriv)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(f.pin)
	if err := v.Accept(sa, t0); err != nil {
		t.Fatal(err)
	}
	tok := f.sign(t, f.claims(1))
	if _, err := v.Verify(tok, t0); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(tok, retire)
	wantCode(t, err, CodeKeyRetired)
}

func TestVerifierAccept(t *testing.T) {
	f := newFixture(t)
	v := NewVerifier(f.pin)
	tok := f.sign(t, f.claims(1))
	_, err := v.Verify(tok, t0)
	wantCode(t, err, CodeAnchorInvalid) // nothing accepted yet

	if err := v.Accept(f.sa, t0); err != nil {
		t.Fatal(err)
	}
	if err := v.Accept(f.sa, t0); err != nil {
		t.Fatalf("accepting the same anchor again: %v", err)
	}
	resign := func(mut func(a *Anchor)) *SignedAnchor {
		a := *cloneAnchor(&f.anchor)
		mut(&a)
		sa, err := SignAnchor(a, f.rootPriv)
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	newer := resign(func(a *Anchor) { a.Serial = 9 })
	if err := v.Accept(newer, t0); err != nil {
		t.Fatal(err)
	}
	if got := v.Anchor(); got.Anchor.Serial != 9 {
		t.Fatalf("current serial %d, want 9", got.Anchor.Serial)
	}
	// Rollback to the older serial.
	wantCode(t, v.Accept(f.sa, t0), CodeAnchorRollback)
	// Same serial, different content.
	err = v.Accept(resign(func(a *Anchor) { a.Serial = 9; a.Scope = []string{"*"} }), t0)
	wantCode(t, err, CodeAnchorRollback)
	if !strings.Contains(err.Error(), "different content") {
		t.Fatalf("message %q", err)
	}
	// Another domain signed by the same root.
	wantCode(t, v.Accept(resign(func(a *Anchor) { a.Serial = 10; a.Domain = "other" }), t0), CodeAnchorInvalid)
	// Pin mismatch.
	_, otherRoot := seedKey(11)
	a := f.anchor
	a.RootKey = nil
	a.Serial = 20
	foreign, _ := SignAnchor(a, otherRoot)
	wantCode(t, v.Accept(foreign, t0), CodeAnchorInvalid)
	// Expired.
	wantCode(t, v.Accept(resign(func(a *Anchor) { a.Serial = 21 }), t0.Add(48*time.Hour)), CodeAnchorInvalid)
	if got := v.Anchor(); got.Anchor.Serial != 9 {
		t.Fatalf("refused anchors changed the current one: serial %d", got.Anchor.Serial)
	}
	// Anchor() is a copy.
	v.Anchor().Anchor.SigningKeys[0].ID = "mutated"
	if v.Anchor().Anchor.SigningKeys[0].ID == "mutated" {
		t.Fatal("Anchor() exposes internal state")
	}
}

func TestVerifierUnpinned(t *testing.T) {
	// Without a pin the first root key is kept: a different root is refused.
	f := newFixture(t)
	v := NewVerifier("")
	if err := v.Accept(f.sa, t0); err != nil {
		t.Fatal(err)
	}
	_, otherRoot := seedKey(11)
	a := f.anchor
	a.RootKey = nil
	a.Serial = 100
	foreign, _ := SignAnchor(a, otherRoot)
	wantCode(t, v.Accept(foreign, t0), CodeAnchorInvalid)
}

func TestVerifierCacheBound(t *testing.T) {
	f := newFixture(t)
	v := NewVerifier(f.pin)
	if err := v.Accept(f.sa, t0); err != nil {
		t.Fatal(err)
	}
	c := f.claims(0)
	for i := 0; i < maxCachedTokens+50; i++ {
		c.LicenseID = fmt.Sprintf("lic-%d", i)
		if _, err := v.Verify(f.sign(t, c), t0); err != nil {
			t.Fatal(err)
		}
	}
	v.mu.RLock()
	n := len(v.cache)
	v.mu.RUnlock()
	if n > maxCachedTokens {
		t.Fatalf("cache holds %d entries, bound is %d", n, maxCachedTokens)
	}
}

func TestVerifierConcurrent(t *testing.T) {
	f := newFixture(t)
	v := NewVerifier(f.pin)
	if err := v.Accept(f.sa, t0); err != nil {
		t.Fatal(err)
	}
	toks := make([]string, 8)
	for i := range toks {
		c := f.claims(2)
		c.LicenseID = fmt.Sprintf("lic-%d", i)
		toks[i] = f.sign(t, c)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, err := v.Verify(toks[(i+g)%len(toks)], t0); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for s := uint64(8); s < 40; s++ {
			a := *cloneAnchor(&f.anchor)
			a.Serial = s
			sa, _ := SignAnchor(a, f.rootPriv)
			if err := v.Accept(sa, t0); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
}
