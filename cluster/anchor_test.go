package cluster

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fedlic/fedlic/license"
)

func TestAnchorMessageRoundTrip(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	b := mustEncode(t, &AnchorMessage{Anchor: acme.sa})
	if b[0] != WireVersion || MessageType(b[1]) != TypeAnchor {
		t.Fatalf("header %x", b[:2])
	}
	m, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	am, ok := m.(*AnchorMessage)
	if !ok {
		t.Fatalf("Decode gave %T", m)
	}
	if !reflect.DeepEqual(am.Anchor, acme.sa) {
		t.Fatalf("anchor changed in transit:\n got %+v\nwant %+v", am.Anchor, acme.sa)
	}
	if again := mustEncode(t, am); !bytes.Equal(again, b) {
		t.Fatalf("re-encoding differs")
	}
	for i := range b { // memberlist reuses its buffers
		b[i] = 0
	}
	if err := am.Verify(acme.pin, t0, 7); err != nil {
		t.Fatalf("anchor no longer verifies after its buffer was reused: %v", err)
	}
}

func TestAnchorMessageVerify(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	decode := func(sa *license.SignedAnchor) *AnchorMessage {
		t.Helper()
		m, err := Decode(mustEncode(t, &AnchorMessage{Anchor: sa}))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		return m.(*AnchorMessage)
	}
	good := decode(acme.sa)

	for _, last := range []uint64{0, 6, 7} {
		if err := good.Verify(acme.pin, t0, last); err != nil {
			t.Fatalf("serial 7 after %d: %v", last, err)
		}
	}
	if err := good.Verify(strings.ToUpper(acme.pin), t0, 7); err != nil {
		t.Fatalf("upper-case pin: %v", err)
	}

	t.Run("older serial is a rollback", func(t *testing.T) {
		wantCode(t, good.Verify(acme.pin, t0, 8), license.CodeAnchorRollback)
	})
	t.Run("expired", func(t *testing.T) {
		wantCode(t, good.Verify(acme.pin, t0.Add(25*time.Hour), 7), license.CodeAnchorInvalid)
	})
	t.Run("forged root", func(t *testing.T) {
		// Mallory signs an anchor for "acme", with acme's signing keys and
		// a higher serial, with her own root key.
		_, malloryRoot := seedKey(99)
		a := acme.anchor
		a.RootKey = nil
		a.Serial = 100
		sa, err := license.SignAnchor(a, malloryRoot)
		if err != nil {
			t.Fatalf("SignAnchor: %v", err)
		}
		if err := sa.Verify("", t0); err != nil {
			t.Fatalf("the forgery is not even self-consistent: %v", err)
		}
		forged := decode(sa)
		wantCode(t, forged.Verify(acme.pin, t0, 7), license.CodeAnchorInvalid)
	})
	t.Run("altered in transit", func(t *testing.T) {
		b := mustEncode(t, good)
		// The serial sits 24 bytes before the end of the anchor's
		// canonical part (serial, issued_at, expires_at), which the
		// 2+64-byte signature follows.
		b[len(b)-2-64-24+7]++
		m, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if s := m.(*AnchorMessage).Anchor.Anchor.Serial; s != 8 {
			t.Fatalf("serial %d, the test edits the wrong byte", s)
		}
		wantCode(t, m.(*AnchorMessage).Verify(acme.pin, t0, 7), license.CodeAnchorInvalid)
	})
	t.Run("another domain's pin", func(t *testing.T) {
		globex := newDomain(t, "globex", 20)
		wantCode(t, good.Verify(globex.pin, t0, 0), license.CodeAnchorInvalid)
	})
	t.Run("no pin", func(t *testing.T) {
		wantCode(t, good.Verify("", t0, 0), license.CodeAnchorInvalid)
	})
	t.Run("no anchor", func(t *testing.T) {
		wantCode(t, (&AnchorMessage{}).Verify(acme.pin, t0, 0), license.CodeAnchorInvalid)
		var nilMsg *AnchorMessage
		wantCode(t, nilMsg.Verify(acme.pin, t0, 0), license.CodeAnchorInvalid)
	})
}

func TestEncodeRefusesOversizedAnchor(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	a := acme.anchor
	a.SigningKeys = nil
	for i := 0; i < license.MaxSigningKeys; i++ {
		pub, _ := seedKey(byte(100 + i))
		a.SigningKeys = append(a.SigningKeys, license.SigningKey{
			ID: fmt.Sprintf("%03d-%s", i, strings.Repeat("k", 252)), PublicKey: pub})
	}
	sa := acme.signAnchor(t, a)
	_, err := Encode(&AnchorMessage{Anchor: sa})
	wantKind(t, err, ErrOversized)
}

func TestEncodeRefusesInvalidAnchor(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	_, err := Encode(&AnchorMessage{})
	wantKind(t, err, ErrMalformed)
	bad := *acme.sa
	bad.Signature = bad.Signature[:10]
	_, err = Encode(&AnchorMessage{Anchor: &bad})
	wantKind(t, err, ErrMalformed)
}
