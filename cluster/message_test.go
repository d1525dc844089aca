package cluster

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/fedlic/fedlic/license"
)

// TestDecodeErrors: every way a message can be bad gets its own kind.
func TestDecodeErrors(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	anchorMsg := mustEncode(t, &AnchorMessage{Anchor: acme.sa})
	revMsg := mustEncode(t, acme.signedNotice(t))
	edit := func(b []byte, f func(b []byte)) []byte { c := bytes.Clone(b); f(c); return c }

	cases := map[string]struct {
		b    []byte
		kind error
	}{
		"empty":                   {nil, ErrTruncated},
		"version only":            {[]byte{1}, ErrTruncated},
		"header only, anchor":     {[]byte{1, 2}, ErrTruncated},
		"header only, revocation": {[]byte{1, 3}, ErrTruncated},
		"anchor truncated":        {anchorMsg[:len(anchorMsg)-1], ErrTruncated},
		"revocation truncated":    {revMsg[:len(revMsg)-1], ErrTruncated},
		"oversized":               {append(bytes.Clone(anchorMsg), make([]byte, MaxMessageSize)...), ErrOversized},
		"oversized field":         {[]byte{1, 3, 0x01, 0x01}, ErrOversized}, // domain length 257
		"oversized reason":        {[]byte{1, 3, 0, 1, 'd', 0, 1, 'l', 0x02, 0x01}, ErrOversized},
		"version 0":               {edit(revMsg, func(b []byte) { b[0] = 0 }), ErrUnknownVersion},
		"version 2":               {edit(revMsg, func(b []byte) { b[0] = 2 }), ErrUnknownVersion},
		"version 2, no type":      {[]byte{2}, ErrUnknownVersion},
		"type 0":                  {edit(revMsg, func(b []byte) { b[1] = 0 }), ErrUnknownType},
		"type 1 (node meta)":      {edit(revMsg, func(b []byte) { b[1] = 1 }), ErrUnknownType},
		"type 4":                  {edit(revMsg, func(b []byte) { b[1] = 4 }), ErrUnknownType},
		"anchor trailing byte":    {append(bytes.Clone(anchorMsg), 0), ErrMalformed},
		"revocation trailing":     {append(bytes.Clone(revMsg), 0), ErrMalformed},
		"revocation non-UTF-8":    {edit(revMsg, func(b []byte) { b[4] = 0xff }), ErrMalformed},
		"revocation empty domain": {revocationWith(t, RevocationNotice{LicenseID: "l", RevokedAt: 1, Index: 1, KeyID: "k"}), ErrMalformed},
		"revocation zero index":   {revocationWith(t, RevocationNotice{Domain: "d", LicenseID: "l", RevokedAt: 1, KeyID: "k"}), ErrMalformed},
		"anchor not an anchor": {func() []byte {
			b := []byte{1, 2, 0, 3}
			return append(b, 9, 9, 9)
		}(), ErrMalformed},
		"anchor length past end": {edit(anchorMsg, func(b []byte) {
			binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		}), ErrTruncated},
		"anchor length short": {edit(anchorMsg, func(b []byte) {
			binary.BigEndian.PutUint16(b[2:], uint16(len(b)-5))
		}), ErrMalformed},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := Decode(c.b)
			if m != nil {
				t.Fatalf("Decode returned a message with error %v", err)
			}
			wantKind(t, err, c.kind)
		})
	}
	for _, b := range [][]byte{anchorMsg, revMsg} {
		for i := 0; i < len(b); i++ {
			if _, err := Decode(b[:i]); err == nil {
				t.Fatalf("prefix of %d bytes decoded", i)
			}
		}
	}
}

// revocationWith encodes n's fields as a revocation message without the
// checks Encode makes, with a zero signature.
func revocationWith(t *testing.T, n RevocationNotice) []byte {
	t.Helper()
	e := encoder{}
	e.u8(WireVersion)
	e.u8(byte(TypeRevocation))
	n.appendBody(&e)
	e.raw(make([]byte, 64))
	return e.b
}

func TestEncodeNil(t *testing.T) {
	var am *AnchorMessage
	var rn *RevocationNotice
	for _, m := range []Message{nil, am, rn} {
		_, err := Encode(m)
		wantKind(t, err, ErrMalformed)
		if k := Key(m); k != "" {
			t.Fatalf("Key(nil) = %q", k)
		}
	}
	if _, err := Encode(&RevocationNotice{Domain: "acme"}); err == nil {
		t.Fatalf("Encode accepted an unsigned notice")
	}
}

func TestKey(t *testing.T) {
	acme := newDomain(t, "acme", 1)
	billing := newDomain(t, "partner.billing", 20)
	n := acme.signedNotice(t)
	for _, c := range []struct {
		m    Message
		want string
	}{
		{&AnchorMessage{Anchor: acme.sa}, "anchor/acme"},
		{&AnchorMessage{Anchor: billing.sa}, "anchor/partner.billing"},
		{n, "revocation/acme/" + n.LicenseID},
		{&RevocationNotice{Domain: "a/b", LicenseID: "c"}, "revocation/a%2Fb/c"},
		{&RevocationNotice{Domain: "a", LicenseID: "b/c"}, "revocation/a/b/c"},
	} {
		if got := Key(c.m); got != c.want {
			t.Errorf("Key(%s) = %q, want %q", c.m.Type(), got, c.want)
		}
	}

	// A newer anchor of the same domain supersedes the older; a notice
	// for another license, or the anchor, does not.
	a := acme.anchor
	a.Serial++
	newer := &AnchorMessage{Anchor: acme.signAnchor(t, a)}
	if Key(newer) != Key(&AnchorMessage{Anchor: acme.sa}) {
		t.Fatalf("anchors of one domain have different keys")
	}
	other := *n
	other.LicenseID = "lic-2"
	if Key(&other) == Key(n) || Key(n) == Key(newer) {
		t.Fatalf("unrelated messages share a key")
	}
}

func TestMessageTypeString(t *testing.T) {
	for typ, want := range map[MessageType]string{
		TypeNodeMeta: "node-meta", TypeAnchor: "anchor", TypeRevocation: "revocation", 9: "type-9",
	} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", byte(typ), got, want)
		}
	}
	if license.Reason(&wireError{kind: ErrMalformed}) != license.CodeMalformed {
		t.Fatalf("wire errors do not carry license's malformed code")
	}
}
