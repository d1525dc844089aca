package license

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAnchorRoundTrip(t *testing.T) {
	f := newFixture(t)
	if err := f.sa.Verify(f.pin, t0); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if f.sa.Fingerprint() != f.pin || len(f.pin) != 64 || strings.ToLower(f.pin) != f.pin {
		t.Fatalf("fingerprint %q", f.sa.Fingerprint())
	}
	if id := KeyIDFor(f.sigPub); id != "k-"+Fingerprint(f.sigPub)[:16] || len(id) != 18 {
		t.Fatalf("KeyIDFor = %q", id)
	}

	bin, err := EncodeAnchor(f.sa)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAnchor(bin)
	if err != nil {
		t.Fatalf("DecodeAnchor: %v", err)
	}
	if !reflect.DeepEqual(got, f.sa) {
		t.Fatalf("binary round trip differs:\n got %+v\nwant %+v", got, f.sa)
	}
	if err := got.Verify(f.pin, t0); err != nil {
		t.Fatal(err)
	}

	js, err := json.Marshal(f.sa)
	if err != nil {
		t.Fatal(err)
	}
	got, err = ParseAnchorJSON(js)
	if err != nil {
		t.Fatalf("ParseAnchorJSON: %v\n%s", err, js)
	}
	if !reflect.DeepEqual(got, f.sa) {
		t.Fatalf("JSON round trip differs")
	}
	if err := got.Verify(f.pin, t0); err != nil {
		t.Fatal(err)
	}
	if k, ok := f.sa.Anchor.ActiveKey(); !ok || k.ID != f.keyID {
		t.Fatalf("ActiveKey = %v, %v", k, ok)
	}
}

func TestSignAnchorFillsAndChecksRootKey(t *testing.T) {
	f := newFixture(t)
	a := f.anchor
	a.RootKey = nil
	sa, err := SignAnchor(a, f.rootPriv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sa.Anchor.RootKey, f.rootPub) {
		t.Fatal("root key not filled in")
	}
	a.RootKey = f.sigPub
	_, err = SignAnchor(a, f.rootPriv)
	wantCode(t, err, CodeAnchorInvalid)
	// The signed anchor does not share memory with the input.
	b := f.anchor
	sa, _ = SignAnchor(b, f.rootPriv)
	b.Scope[0] = "other/*"
	if err := sa.Verify(f.pin, t0); err != nil {
		t.Fatalf("input mutation reached the signed anchor: %v", err)
	}
}

func TestAnchorStructure(t *testing.T) {
	f := newFixture(t)
	cases := map[string]func(a *Anchor){
		"version":           func(a *Anchor) { a.Version = 2 },
		"empty domain":      func(a *Anchor) { a.Domain = "" },
		"duplicate ids":     func(a *Anchor) { a.SigningKeys[1].ID = a.SigningKeys[0].ID },
		"empty key id":      func(a *Anchor) { a.SigningKeys[1].ID = "" },
		"short key":         func(a *Anchor) { a.SigningKeys[1].PublicKey = a.SigningKeys[1].PublicKey[:31] },
		"two active":        func(a *Anchor) { a.SigningKeys[0].Active = true },
		"bad scope":         func(a *Anchor) { a.Scope = []string{"ac*me"} },
		"empty scope item":  func(a *Anchor) { a.Scope = []string{""} },
		"expires first":     func(a *Anchor) { a.ExpiresAt = a.IssuedAt },
		"negative key time": func(a *Anchor) { a.SigningKeys[0].NotBefore = -1 },
		"too many keys": func(a *Anchor) {
			for i := 0; i <= MaxSigningKeys; i++ {
				a.SigningKeys = append(a.SigningKeys, SigningKey{ID: "k" + strings.Repeat("x", i), PublicKey: f.sigPub})
			}
		},
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			a := *cloneAnchor(&f.anchor)
			mut(&a)
			_, err := SignAnchor(a, f.rootPriv)
			wantCode(t, err, CodeAnchorInvalid)
		})
	}
	t.Run("short root key", func(t *testing.T) {
		sa := cloneSignedAnchor(f.sa)
		sa.Anchor.RootKey = sa.Anchor.RootKey[:16]
		wantCode(t, sa.Verify("", t0), CodeAnchorInvalid)
		if _, err := EncodeAnchor(sa); err == nil {
			t.Fatal("EncodeAnchor accepted a bad anchor")
		}
	})
}

// TestAnchorTamper changes each field of a signed anchor and checks that
// Verify refuses it.
func TestAnchorTamper(t *testing.T) {
	f := newFixture(t)
	other, _ := seedKey(8)
	cases := map[string]func(sa *SignedAnchor){
		"version":        func(sa *SignedAnchor) { sa.Anchor.Version = 2 },
		"domain":         func(sa *SignedAnchor) { sa.Anchor.Domain = "acme2" },
		"root key":       func(sa *SignedAnchor) { sa.Anchor.RootKey = other },
		"key id":         func(sa *SignedAnchor) { sa.Anchor.SigningKeys[1].ID = "k-evil" },
		"key public key": func(sa *SignedAnchor) { sa.Anchor.SigningKeys[1].PublicKey = other },
		"key not before": func(sa *SignedAnchor) { sa.Anchor.SigningKeys[1].NotBefore++ },
		"key not after":  func(sa *SignedAnchor) { sa.Anchor.SigningKeys[0].NotAfter = 0 },
		"key active":     func(sa *SignedAnchor) { sa.Anchor.SigningKeys[1].Active = false },
		"key added": func(sa *SignedAnchor) {
			sa.Anchor.SigningKeys = append(sa.Anchor.SigningKeys, SigningKey{ID: "k-new", PublicKey: other})
		},
		"key removed":       func(sa *SignedAnchor) { sa.Anchor.SigningKeys = sa.Anchor.SigningKeys[1:] },
		"keys reordered":    func(sa *SignedAnchor) { k := sa.Anchor.SigningKeys; k[0], k[1] = k[1], k[0] },
		"scope":             func(sa *SignedAnchor) { sa.Anchor.Scope = []string{"*"} },
		"scope added":       func(sa *SignedAnchor) { sa.Anchor.Scope = append(sa.Anchor.Scope, "globex/*") },
		"serial":            func(sa *SignedAnchor) { sa.Anchor.Serial++ },
		"issued at":         func(sa *SignedAnchor) { sa.Anchor.IssuedAt-- },
		"expires at":        func(sa *SignedAnchor) { sa.Anchor.ExpiresAt += int64(time.Hour) },
		"signature byte":    func(sa *SignedAnchor) { sa.Signature[5] ^= 0x10 },
		"signature short":   func(sa *SignedAnchor) { sa.Signature = sa.Signature[:63] },
		"signature missing": func(sa *SignedAnchor) { sa.Signature = nil },
		"signed by other key": func(sa *SignedAnchor) {
			_, priv := seedKey(8)
			a := sa.Anchor
			a.RootKey = nil
			s, _ := SignAnchor(a, priv)
			*sa = *s
		},
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			sa := cloneSignedAnchor(f.sa)
			mut(sa)
			wantCode(t, sa.Verify(f.pin, t0), CodeAnchorInvalid)
			v := NewVerifier(f.pin)
			wantCode(t, v.Accept(sa, t0), CodeAnchorInvalid)
			if v.Anchor() != nil {
				t.Fatal("refused anchor was kept")
			}
		})
	}
	// Every single-bit change of the binary form is refused somewhere.
	bin, _ := EncodeAnchor(f.sa)
	for i := range bin {
		b := bytes.Clone(bin)
		b[i] ^= 0x04
		sa, err := DecodeAnchor(b)
		if err == nil {
			err = sa.Verify(f.pin, t0)
		}
		if err == nil {
			t.Fatalf("flipping a bit of byte %d was accepted", i)
		}
	}
}

func TestAnchorExpiry(t *testing.T) {
	f := newFixture(t)
	exp := time.Unix(0, f.anchor.ExpiresAt)
	if err := f.sa.Verify(f.pin, exp.Add(-1)); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	err := f.sa.Verify(f.pin, exp)
	wantCode(t, err, CodeAnchorInvalid)
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("message %q", err)
	}
	err = f.sa.Verify(Fingerprint(f.sigPub), t0)
	wantCode(t, err, CodeAnchorInvalid)
	if !strings.Contains(err.Error(), "pinned") {
		t.Fatalf("message %q", err)
	}
}

func TestDecodeAnchorMalformed(t *testing.T) {
	f := newFixture(t)
	bin, _ := EncodeAnchor(f.sa)
	cases := map[string][]byte{
		"empty":     nil,
		"truncated": bin[:len(bin)-1],
		"trailing":  append(bytes.Clone(bin), 0),
		"version":   append([]byte{2}, bin[1:]...),
		"oversized": make([]byte, MaxAnchorSize+1),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeAnchor(b)
			wantCode(t, err, CodeMalformed)
		})
	}
}

func TestParseAnchorJSONStrict(t *testing.T) {
	f := newFixture(t)
	js, _ := json.Marshal(f.sa)
	s := string(js)
	cases := map[string]string{
		"unknown field":   strings.Replace(s, `"serial":`, `"extra":1,"serial":`, 1),
		"duplicate field": strings.Replace(s, `"serial":`, `"serial":1,"serial":`, 1),
		"trailing data":   s + " {}",
		"case folded key": strings.Replace(s, `"serial":`, `"Serial":`, 1),
		"folded twice":    strings.Replace(s, `"serial":`, `"serial":1,"SERIAL":`, 1),
		"trailing junk":   s + "x",
		"not an object":   `[1,2]`,
		"truncated":       s[:len(s)-2],
		"bad base64":      strings.Replace(s, `"signature":"`, `"signature":"!`, 1),
		"no signature":    strings.Replace(s, `"signature":"`, `"xsignature":"`, 1),
		"oversized":       s + strings.Repeat(" ", MaxAnchorSize),
		"bad structure":   strings.Replace(s, `"version":1`, `"version":2`, 1),
		"empty":           ``,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseAnchorJSON([]byte(in))
			wantCode(t, err, CodeMalformed)
		})
	}
	// Trailing white space is fine.
	if _, err := ParseAnchorJSON(append(js, '\n')); err != nil {
		t.Fatalf("trailing newline: %v", err)
	}
}
