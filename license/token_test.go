package license

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	f := newFixture(t)
	c := f.claims(10)
	tok := f.sign(t, c)
	if len(tok) >= 1024 {
		t.Errorf("token with 10 features is %d bytes, want < 1024", len(tok))
	}
	t.Logf("10-feature token: %d bytes", len(tok))
	p, err := ParseToken(tok)
	if err != nil {
		t.Fatalf("ParseToken: %v", err)
	}
	if !reflect.DeepEqual(p.Claims, c) {
		t.Fatalf("parsed claims differ:\n got %+v\nwant %+v", p.Claims, c)
	}
	got, err := Verify(tok, f.sa, f.pin, t0)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !reflect.DeepEqual(*got, c) {
		t.Fatalf("verified claims differ")
	}
	// Deterministic: signing the same claims again gives the same token.
	if tok2 := f.sign(t, c); tok2 != tok {
		t.Fatalf("signing is not deterministic")
	}
}

func TestTokenNoFeaturesNoExpiry(t *testing.T) {
	f := newFixture(t)
	c := f.claims(0)
	c.NotBefore, c.NotAfter, c.IssuedAt = 0, 0, 0
	tok := f.sign(t, c)
	got, err := Verify(tok, f.sa, f.pin, t0.Add(20*time.Hour))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(got.Entitlements) != 0 || got.NotAfter != 0 {
		t.Fatalf("unexpected claims %+v", got)
	}
}

func TestSignTokenRejectsInvalidClaims(t *testing.T) {
	f := newFixture(t)
	cases := map[string]func(c *Claims){
		"empty domain":     func(c *Claims) { c.Domain = "" },
		"empty key id":     func(c *Claims) { c.KeyID = "" },
		"empty license id": func(c *Claims) { c.LicenseID = "" },
		"empty licensee":   func(c *Claims) { c.Licensee = "" },
		"empty product":    func(c *Claims) { c.Product = "" },
		"long product":     func(c *Claims) { c.Product = strings.Repeat("p", MaxFieldLen+1) },
		"bad utf8":         func(c *Claims) { c.Licensee = "\xff" },
		"empty feature":    func(c *Claims) { c.Entitlements[""] = Limit{Count: 1} },
		"negative count":   func(c *Claims) { c.Entitlements["x"] = Limit{Count: -1} },
		"bool with count":  func(c *Claims) { c.Entitlements["x"] = Limit{IsBool: true, Count: 2} },
		"count enabled":    func(c *Claims) { c.Entitlements["x"] = Limit{Enabled: true} },
		"negative time":    func(c *Claims) { c.IssuedAt = -1 },
		"empty window":     func(c *Claims) { c.NotAfter = c.NotBefore },
		"too many features": func(c *Claims) {
			for i := 0; i <= MaxFeatures; i++ {
				c.Entitlements[string(rune('A'+i%26))+strings.Repeat("x", i)] = Limit{Count: 1}
			}
		},
		"too big": func(c *Claims) {
			for i := 0; i < 40; i++ {
				c.Entitlements[strings.Repeat(string(rune('a'+i%26)), 100+i)] = Limit{Count: 1}
			}
		},
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			c := f.claims(2)
			mut(&c)
			_, err := SignToken(c, f.sigPriv)
			wantCode(t, err, CodeMalformed)
		})
	}
	if _, err := SignToken(f.claims(1), f.sigPriv[:10]); err == nil {
		t.Fatal("SignToken accepted a short private key")
	}
}

// TestParseTokenMalformed gives every malformed-token case its own message.
func TestParseTokenMalformed(t *testing.T) {
	f := newFixture(t)
	good := f.sign(t, f.claims(2))
	gp, err := ParseToken(good)
	if err != nil {
		t.Fatal(err)
	}
	payload, sig := gp.Payload, gp.Signature
	parts := strings.Split(good, ".")

	patch := func(mut func(p []byte) []byte) string {
		return assemble(mut(bytes.Clone(payload)), sig)
	}
	encodeRaw := func(mut func(c *Claims)) string {
		c := f.claims(2)
		mut(&c)
		return assemble(c.encode(), sig)
	}
	// A payload whose base64 has spare bits in its last character.
	nonCanon := func() string {
		c := f.claims(2)
		for len(c.encode())%3 == 0 {
			c.Licensee += "x"
		}
		p := b64.EncodeToString(c.encode())
		last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", p[len(p)-1])
		alt := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last^1]
		return tokenPrefix + "." + p[:len(p)-1] + string(alt) + "." + parts[2]
	}
	// Offset of the limit-kind byte of the feature named name.
	kindAt := func(name string) int {
		i := bytes.Index(payload, []byte(name))
		if i < 0 {
			t.Fatalf("feature %q not in payload", name)
		}
		return i + len(name)
	}
	feat0, feat1 := "feature-00-seats", "feature-01-enabled"

	cases := []struct {
		name, tok, want string
	}{
		{"oversized token", strings.Repeat("a", MaxTokenSize+1), "oversized token"},
		{"wrong prefix", "xyz." + parts[1] + "." + parts[2], "wrong prefix"},
		{"no prefix", parts[1], "wrong prefix"},
		{"unsupported version", "fl2." + parts[1] + "." + parts[2], "unsupported token version"},
		{"two parts", parts[0] + "." + parts[1], "wrong number of parts: got 2"},
		{"four parts", good + ".x", "wrong number of parts: got 4"},
		{"padded base64", parts[0] + "." + parts[1] + "==." + parts[2], "bad base64 in payload"},
		{"std alphabet", parts[0] + "." + parts[1] + "+/." + parts[2], "bad base64 in payload"},
		{"newline in base64", parts[0] + "." + parts[1][:4] + "\n" + parts[1][4:] + "." + parts[2], "bad base64 in payload"},
		{"non-canonical base64", nonCanon(), "bad base64 in payload: illegal"},
		{"bad base64 signature", parts[0] + "." + parts[1] + "." + parts[2] + "=", "bad base64 in signature"},
		{"short signature", assemble(payload, sig[:63]), "bad signature length: 63"},
		{"long signature", assemble(payload, append(bytes.Clone(sig), 0)), "bad signature length: 65"},
		{"empty payload", assemble(nil, sig), "token payload is empty"},
		{"unsupported payload version", patch(func(p []byte) []byte { p[0] = 2; return p }), "unsupported payload version 2"},
		{"trailing bytes", patch(func(p []byte) []byte { return append(p, 0) }), "1 trailing bytes"},
		{"truncated", patch(func(p []byte) []byte { return p[:len(p)-3] }), "truncated reading issued_at"},
		{"truncated in string", patch(func(p []byte) []byte { return p[:6] }), "truncated reading domain"},
		{"oversized string", encodeRaw(func(c *Claims) { c.Licensee = strings.Repeat("l", MaxFieldLen+1) }), "oversized field: licensee is 257 bytes"},
		{"too many features", encodeRaw(func(c *Claims) {
			for i := 0; i <= MaxFeatures; i++ {
				c.Entitlements[string(rune(0x100+i))] = Limit{Count: 1}
			}
		}), "oversized field: 67 features"},
		{"empty field", encodeRaw(func(c *Claims) { c.Product = "" }), "product is empty"},
		{"invalid utf8", encodeRaw(func(c *Claims) { c.Licensee = "bad\xffname" }), "licensee is not valid UTF-8"},
		{"invalid limit kind", patch(func(p []byte) []byte { p[kindAt(feat0)] = 7; return p }), "invalid limit: feature \"feature-00-seats\" has limit kind 7"},
		{"invalid limit count", encodeRaw(func(c *Claims) { c.Entitlements["q"] = Limit{Count: -5} }), "invalid limit for feature \"q\": count -5"},
		{"invalid limit bool byte", patch(func(p []byte) []byte { p[kindAt(feat1)+1] = 2; return p }), "limit enabled: boolean byte is 2"},
		{"features out of order", patch(func(p []byte) []byte {
			// Put feature-01-enabled (a bool limit) first by renaming the first feature.
			i := bytes.Index(p, []byte(feat0))
			copy(p[i:], "feature-99-seats")
			return p
		}), "not in strictly increasing order"},
		{"negative time", encodeRaw(func(c *Claims) { c.NotBefore = -3 }), "negative time"},
		{"empty window", encodeRaw(func(c *Claims) { c.NotAfter = c.NotBefore - 1 }), "empty validity window"},
		{"huge string length", patch(func(p []byte) []byte { binary.BigEndian.PutUint16(p[1:], 0xffff); return p }), "oversized field: domain is 65535 bytes"},
	}
	seen := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseToken(tc.tok)
			wantCode(t, err, CodeMalformed)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("errors.Is(err, ErrMalformed) = false")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("message %q does not contain %q", msg, tc.want)
			}
			if other, ok := seen[msg]; ok {
				t.Fatalf("message %q is shared with case %q", msg, other)
			}
			seen[msg] = tc.name
			// Verify reports the same parse error.
			if _, err2 := Verify(tc.tok, f.sa, f.pin, t0); err2 == nil || err2.Error() != msg {
				t.Fatalf("Verify error %v, want %q", err2, msg)
			}
		})
	}
}

// TestTokenTamper changes each claim, keeps the signature, and checks the
// error code.
func TestTokenTamper(t *testing.T) {
	f := newFixture(t)
	orig := f.claims(4)
	tok := f.sign(t, orig)
	p, _ := ParseToken(tok)
	otherKey := KeyIDFor(f.rootPub) // not in the anchor

	cases := []struct {
		name string
		mut  func(c *Claims)
		code string
	}{
		{"domain", func(c *Claims) { c.Domain = "evil" }, CodeWrongDomain},
		{"key id unknown", func(c *Claims) { c.KeyID = otherKey }, CodeUnknownKey},
		{"key id retired", func(c *Claims) { c.KeyID = f.retiredKID }, CodeKeyRetired},
		{"license id", func(c *Claims) { c.LicenseID += "x" }, CodeBadSignature},
		{"version", func(c *Claims) { c.Version++ }, CodeBadSignature},
		{"licensee", func(c *Claims) { c.Licensee = "initech" }, CodeBadSignature},
		{"product", func(c *Claims) { c.Product = "acme/other" }, CodeBadSignature},
		{"feature count", func(c *Claims) {
			for k, l := range c.Entitlements {
				if !l.IsBool {
					c.Entitlements[k] = Limit{Count: l.Count + 1}
				}
			}
		}, CodeBadSignature},
		{"feature flag", func(c *Claims) {
			for k, l := range c.Entitlements {
				if l.IsBool {
					c.Entitlements[k] = Limit{IsBool: true, Enabled: !l.Enabled}
				}
			}
		}, CodeBadSignature},
		{"feature added", func(c *Claims) { c.Entitlements["extra"] = Limit{IsBool: true, Enabled: true} }, CodeBadSignature},
		{"feature removed", func(c *Claims) { delete(c.Entitlements, "feature-00-seats") }, CodeBadSignature},
		{"feature renamed", func(c *Claims) {
			c.Entitlements["feature-00-seatz"] = c.Entitlements["feature-00-seats"]
			delete(c.Entitlements, "feature-00-seats")
		}, CodeBadSignature},
		{"not before", func(c *Claims) { c.NotBefore-- }, CodeBadSignature},
		{"not after", func(c *Claims) { c.NotAfter += int64(time.Hour) }, CodeBadSignature},
		{"not after cleared", func(c *Claims) { c.NotAfter = 0 }, CodeBadSignature},
		{"issued at", func(c *Claims) { c.IssuedAt++ }, CodeBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *cloneClaims(&orig)
			tc.mut(&c)
			if err := c.validate(); err != nil {
				t.Fatalf("tampered claims invalid: %v", err)
			}
			_, err := Verify(assemble(c.encode(), p.Signature), f.sa, f.pin, t0)
			wantCode(t, err, tc.code)
		})
	}
	t.Run("key id of another listed key", func(t *testing.T) {
		// Make the retired key current, so the check reaches the signature.
		a := f.anchor
		a.SigningKeys = []SigningKey{a.SigningKeys[0], a.SigningKeys[1]}
		a.SigningKeys[0].NotAfter = 0
		sa, err := SignAnchor(a, f.rootPriv)
		if err != nil {
			t.Fatal(err)
		}
		c := *cloneClaims(&orig)
		c.KeyID = f.retiredKID
		_, err = Verify(assemble(c.encode(), p.Signature), sa, f.pin, t0)
		wantCode(t, err, CodeBadSignature)
	})
	t.Run("signature bytes", func(t *testing.T) {
		for i := range p.Signature {
			s := bytes.Clone(p.Signature)
			s[i] ^= 0x01
			_, err := Verify(assemble(p.Payload, s), f.sa, f.pin, t0)
			wantCode(t, err, CodeBadSignature)
		}
	})
	t.Run("every payload byte", func(t *testing.T) {
		for i := range p.Payload {
			for _, x := range []byte{0x01, 0x80} {
				b := bytes.Clone(p.Payload)
				b[i] ^= x
				if _, err := Verify(assemble(b, p.Signature), f.sa, f.pin, t0); err == nil {
					t.Fatalf("flipping bit %#x of payload byte %d was accepted", x, i)
				}
			}
		}
	})
}

func TestVerifyErrors(t *testing.T) {
	f := newFixture(t)
	tok := f.sign(t, f.claims(3))

	t.Run("wrong key", func(t *testing.T) {
		_, otherPriv := seedKey(9)
		bad, err := SignToken(f.claims(3), otherPriv) // claims name the real key id
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(bad, f.sa, f.pin, t0)
		wantCode(t, err, CodeBadSignature)
	})
	t.Run("wrong domain", func(t *testing.T) {
		c := f.claims(3)
		c.Domain = "globex"
		_, err := Verify(f.sign(t, c), f.sa, f.pin, t0)
		wantCode(t, err, CodeWrongDomain)
	})
	t.Run("unknown key", func(t *testing.T) {
		c := f.claims(3)
		c.KeyID = "k-nope"
		_, err := Verify(f.sign(t, c), f.sa, f.pin, t0)
		wantCode(t, err, CodeUnknownKey)
	})
	t.Run("retired key", func(t *testing.T) {
		c := f.claims(3)
		c.KeyID = f.retiredKID
		tok, err := SignToken(c, f.oldPriv)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(tok, f.sa, f.pin, t0)
		wantCode(t, err, CodeKeyRetired)
		// Before its retirement the same token verifies.
		if _, err := Verify(tok, f.sa, f.pin, t0.Add(-2*time.Hour)); err != nil {
			t.Fatalf("before retirement: %v", err)
		}
	})
	t.Run("retired at exactly now", func(t *testing.T) {
		c := f.claims(3)
		c.KeyID = f.retiredKID
		tok, _ := SignToken(c, f.oldPriv)
		_, err := Verify(tok, f.sa, f.pin, time.Unix(0, f.anchor.SigningKeys[0].NotAfter))
		wantCode(t, err, CodeKeyRetired)
	})
	t.Run("not yet valid", func(t *testing.T) {
		_, err := Verify(tok, f.sa, f.pin, t0.Add(-25*time.Hour))
		wantCode(t, err, CodeNotYetValid)
	})
	t.Run("expired license", func(t *testing.T) {
		sa := f.longAnchor(t)
		_, err := Verify(tok, sa, f.pin, t0.Add(30*24*time.Hour))
		wantCode(t, err, CodeExpired)
		if !errors.Is(err, ErrExpired) || errors.Is(err, ErrNotYetValid) {
			t.Fatal("errors.Is mismatch")
		}
		if _, err := Verify(tok, sa, f.pin, t0.Add(30*24*time.Hour-1)); err != nil {
			t.Fatalf("one ns before expiry: %v", err)
		}
	})
	t.Run("expired anchor", func(t *testing.T) {
		_, err := Verify(tok, f.sa, f.pin, t0.Add(24*time.Hour))
		wantCode(t, err, CodeAnchorInvalid)
		if !strings.Contains(err.Error(), "expired") {
			t.Fatalf("message %q does not say the anchor expired", err)
		}
	})
	t.Run("pin mismatch", func(t *testing.T) {
		_, err := Verify(tok, f.sa, Fingerprint(f.sigPub), t0)
		wantCode(t, err, CodeAnchorInvalid)
		if !strings.Contains(err.Error(), "pinned") {
			t.Fatalf("message %q does not mention the pin", err)
		}
	})
	t.Run("pin upper case", func(t *testing.T) {
		if _, err := Verify(tok, f.sa, strings.ToUpper(f.pin), t0); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no pin", func(t *testing.T) {
		if _, err := Verify(tok, f.sa, "", t0); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("nil anchor", func(t *testing.T) {
		_, err := Verify(tok, nil, f.pin, t0)
		wantCode(t, err, CodeAnchorInvalid)
	})
	t.Run("key absent after removal", func(t *testing.T) {
		a := f.anchor
		a.SigningKeys = a.SigningKeys[:1]
		a.Serial++
		sa, err := SignAnchor(a, f.rootPriv)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(tok, sa, f.pin, t0)
		wantCode(t, err, CodeUnknownKey)
	})
}

// longAnchor is the fixture's anchor with a 90-day lifetime.
func (f *fixture) longAnchor(t *testing.T) *SignedAnchor {
	t.Helper()
	a := f.anchor
	a.ExpiresAt = t0.Add(90 * 24 * time.Hour).UnixNano()
	sa, err := SignAnchor(a, f.rootPriv)
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func TestDomainSeparation(t *testing.T) {
	// A signature over the payload without the context must not verify.
	f := newFixture(t)
	c := f.claims(1)
	payload := c.encode()
	raw := ed25519.Sign(f.sigPriv, payload)
	_, err := Verify(assemble(payload, raw), f.sa, f.pin, t0)
	wantCode(t, err, CodeBadSignature)
}

func TestErrorAndReason(t *testing.T) {
	if Reason(nil) != "" || Reason(errors.New("x")) != "error" {
		t.Fatal("Reason of nil or foreign error")
	}
	err := errorf(CodeExpired, "license %q expired", "l1")
	wrapped := errors.Join(errors.New("check"), err)
	if Reason(wrapped) != CodeExpired || !errors.Is(wrapped, ErrExpired) {
		t.Fatal("wrapped error lost its code")
	}
	if errors.Is(err, ErrKeyRetired) {
		t.Fatal("different codes compare equal")
	}
	if !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), "l1") {
		t.Fatalf("message %q", err)
	}
}
