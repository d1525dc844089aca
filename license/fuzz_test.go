package license

import (
	"bytes"
	"encoding/json"
	"testing"
)

func FuzzParseToken(f *testing.F) {
	fx := newFixture(f)
	for _, n := range []int{0, 1, 10} {
		tok := fx.sign(f, fx.claims(n))
		f.Add(tok)
		f.Add(tok[:len(tok)/2])
		f.Add(tok[:len(tok)-1])
		f.Add(tok + "A")
	}
	f.Add("")
	f.Add("fl1..")
	f.Add("fl1.AQ.")
	f.Add("fl2.AA.AA")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if Reason(err) != CodeMalformed {
				t.Fatalf("parse error with code %q: %v", Reason(err), err)
			}
			return
		}
		if got := tok.Claims.encode(); !bytes.Equal(got, tok.Payload) {
			t.Fatalf("payload does not re-encode:\n got %x\nwant %x", got, tok.Payload)
		}
		if assemble(tok.Payload, tok.Signature) != s {
			t.Fatalf("token does not re-assemble to its input")
		}
		// Must not panic either.
		_, _ = Verify(s, fx.sa, fx.pin, t0)
	})
}

func FuzzDecodeAnchor(f *testing.F) {
	fx := newFixture(f)
	bin, err := EncodeAnchor(fx.sa)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bin)
	f.Add(bin[:len(bin)/2])
	f.Add(bin[:len(bin)-1])
	f.Add(append(bytes.Clone(bin), 0))
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		sa, err := DecodeAnchor(b)
		if err != nil {
			return
		}
		again, err := EncodeAnchor(sa)
		if err != nil {
			t.Fatalf("decoded anchor does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("anchor does not re-encode to its input")
		}
		_ = sa.Verify("", t0)
		_ = sa.Verify(fx.pin, t0)
	})
}

func FuzzParseAnchorJSON(f *testing.F) {
	fx := newFixture(f)
	js, err := json.Marshal(fx.sa)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	f.Add(js[:len(js)/2])
	f.Add(js[:len(js)-1])
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"anchor":{"version":1},"signature":null}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sa, err := ParseAnchorJSON(b)
		if err != nil {
			return
		}
		bin, err := EncodeAnchor(sa)
		if err != nil {
			t.Fatalf("parsed anchor does not encode: %v", err)
		}
		back, err := DecodeAnchor(bin)
		if err != nil {
			t.Fatalf("encoded anchor does not decode: %v", err)
		}
		if again, _ := EncodeAnchor(back); !bytes.Equal(again, bin) {
			t.Fatalf("binary form is not stable")
		}
		_ = sa.Verify(fx.pin, t0)
	})
}
