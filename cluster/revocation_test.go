package cluster

import (
	"bytes"
	"crypto/ed25519"
	"reflect"
	"strings"
	"testing"

	"github.com/fedlic/fedlic/license"
)

func TestRevocationRoundTrip(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	for _, reason := range []string{"", "chargeback", strings.Repeat("é", MaxReasonLen/2)} {
		n := acme.notice()
		n.Reason = reason
		signed, err := SignRevocation(n, acme.keyID, acme.sigPriv)
		if err != nil {
			t.Fatalf("SignRevocation: %v", err)
		}
		b := mustEncode(t, signed)
		if b[0] != WireVersion || MessageType(b[1]) != TypeRevocation {
			t.Fatalf("header %x", b[:2])
		}
		m, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		got, ok := m.(*RevocationNotice)
		if !ok {
			t.Fatalf("Decode gave %T", m)
		}
		if !reflect.DeepEqual(got, signed) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, signed)
		}
		if again := mustEncode(t, got); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs")
		}
		for i := range b {
			b[i] = 0
		}
		if err := got.Verify(acme.sa); err != nil {
			t.Fatalf("Verify after the buffer was reused: %v", err)
		}
	}
}

func TestSignRevocationDoesNotChangeInput(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	n := acme.notice()
	n.KeyID = "caller's"
	if _, err := SignRevocation(n, acme.keyID, acme.sigPriv); err != nil {
		t.Fatal(err)
	}
	if n.KeyID != "caller's" || n.Signature != nil {
		t.Fatalf("input changed: %+v", n)
	}
}

func TestRevocationTamperedFields(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	good := acme.signedNotice(t)
	if err := good.Verify(acme.sa); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	cases := map[string]struct {
		edit func(n *RevocationNotice)
		code string
	}{
		"domain":                 {func(n *RevocationNotice) { n.Domain = "globex" }, license.CodeWrongDomain},
		"license id":             {func(n *RevocationNotice) { n.LicenseID += "x" }, license.CodeBadSignature},
		"reason":                 {func(n *RevocationNotice) { n.Reason = "" }, license.CodeBadSignature},
		"revoked at":             {func(n *RevocationNotice) { n.RevokedAt++ }, license.CodeBadSignature},
		"index":                  {func(n *RevocationNotice) { n.Index-- }, license.CodeBadSignature},
		"key id, unknown":        {func(n *RevocationNotice) { n.KeyID = "k-0000000000000000" }, license.CodeUnknownKey},
		"key id, another listed": {func(n *RevocationNotice) { n.KeyID = acme.retiredKID }, license.CodeBadSignature},
		"signature":              {func(n *RevocationNotice) { n.Signature[17] ^= 1 }, license.CodeBadSignature},
		"signature, short":       {func(n *RevocationNotice) { n.Signature = n.Signature[:63] }, license.CodeMalformed},
		"empty license id":       {func(n *RevocationNotice) { n.LicenseID = "" }, license.CodeMalformed},
		"zero index":             {func(n *RevocationNotice) { n.Index = 0 }, license.CodeMalformed},
		"negative time":          {func(n *RevocationNotice) { n.RevokedAt = -1 }, license.CodeMalformed},
		"long reason":            {func(n *RevocationNotice) { n.Reason = strings.Repeat("r", MaxReasonLen+1) }, license.CodeMalformed},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			n := *good
			n.Signature = bytes.Clone(good.Signature)
			c.edit(&n)
			wantCode(t, n.Verify(acme.sa), c.code)
			if c.code == license.CodeMalformed {
				_, err := Encode(&n)
				if err == nil {
					t.Fatalf("Encode accepted a malformed notice")
				}
				return
			}
			// What fails Verify still travels: the wire carries it
			// unchanged and it fails the same way on the other side.
			m, err := Decode(mustEncode(t, &n))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			wantCode(t, m.(*RevocationNotice).Verify(acme.sa), c.code)
		})
	}
}

// TestRevocationWireTamper flips every bit of an encoded notice: each
// result either fails to decode or fails to verify.
func TestRevocationWireTamper(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	b := mustEncode(t, acme.signedNotice(t))
	for i := range b {
		for bit := 0; bit < 8; bit++ {
			c := bytes.Clone(b)
			c[i] ^= 1 << bit
			m, err := Decode(c)
			if err != nil {
				continue
			}
			if err := m.(*RevocationNotice).Verify(acme.sa); err == nil {
				t.Fatalf("byte %d bit %d flipped: notice still verifies", i, bit)
			}
		}
	}
}

func TestRevocationFromAnotherDomain(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	globex := newDomain(t, "globex", 20)

	// globex, trusted for its own licenses, tries to revoke an acme
	// license with its own key: acme's anchor does not list that key.
	forged, err := SignRevocation(acme.notice(), globex.keyID, globex.sigPriv)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, forged.Verify(acme.sa), license.CodeUnknownKey)

	// Naming acme's key id does not help: the signature is globex's.
	forged, err = SignRevocation(acme.notice(), acme.keyID, globex.sigPriv)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, forged.Verify(acme.sa), license.CodeBadSignature)

	// A genuine globex notice checked against acme's anchor: wrong domain.
	wantCode(t, globex.signedNotice(t).Verify(acme.sa), license.CodeWrongDomain)
	// And against globex's own anchor it verifies.
	if err := globex.signedNotice(t).Verify(globex.sa); err != nil {
		t.Fatalf("globex notice against globex anchor: %v", err)
	}
}

// A notice signed with a key the anchor lists as retired is accepted: a
// revocation is never undone, one signed before a rotation may arrive
// after it, and refusing it would leave the license valid in the trusting
// domain. License tokens signed by that key are refused (key retired);
// revocations can only take rights away.
func TestRevocationRetiredKeyAccepted(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	n, err := SignRevocation(acme.notice(), acme.retiredKID, acme.oldPriv)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Verify(acme.sa); err != nil {
		t.Fatalf("retired key refused: %v", err)
	}

	// Once the domain drops the key from its anchor, it is unknown.
	a := acme.anchor
	a.SigningKeys = a.SigningKeys[1:]
	a.Serial++
	wantCode(t, n.Verify(acme.signAnchor(t, a)), license.CodeUnknownKey)
}

func TestRevocationVerifyNil(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	wantCode(t, acme.signedNotice(t).Verify(nil), license.CodeAnchorInvalid)
	var n *RevocationNotice
	wantCode(t, n.Verify(acme.sa), license.CodeMalformed)
}

func TestSignRevocationRefuses(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	_, err := SignRevocation(acme.notice(), acme.keyID, ed25519.PrivateKey{1, 2, 3})
	wantKind(t, err, ErrMalformed)
	_, err = SignRevocation(acme.notice(), "", acme.sigPriv)
	wantKind(t, err, ErrMalformed)
	n := acme.notice()
	n.Domain = strings.Repeat("d", MaxFieldLen+1)
	_, err = SignRevocation(n, acme.keyID, acme.sigPriv)
	wantKind(t, err, ErrOversized)
	n = acme.notice()
	n.LicenseID = "\xc0"
	_, err = SignRevocation(n, acme.keyID, acme.sigPriv)
	wantKind(t, err, ErrMalformed)
}
