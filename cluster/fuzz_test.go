package cluster

import (
	"bytes"
	"errors"
	"testing"
)

// checkFuzzError: every failure is exactly one of the wire kinds.
func checkFuzzError(t *testing.T, err error) {
	n := 0
	for _, k := range kinds {
		if errors.Is(err, k) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error matches %d wire kinds: %v", n, err)
	}
}

func FuzzDecode(f *testing.F) {
	acme := newDomain(f, "acme", 1)
	anchorMsg := mustEncode(f, &AnchorMessage{Anchor: acme.sa})
	retired, err := SignRevocation(acme.notice(), acme.retiredKID, acme.oldPriv)
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range [][]byte{anchorMsg, mustEncode(f, acme.signedNotice(f)), mustEncode(f, retired)} {
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)-1])
		f.Add(append(bytes.Clone(b), 0))
		f.Add(append(bytes.Clone(b), make([]byte, MaxMessageSize)...))
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 1})
	f.Add([]byte{1, 9, 0})
	f.Add([]byte{2, 2})
	f.Add([]byte{1, 3, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		m, err := Decode(b)
		if !bytes.Equal(in, b) {
			t.Fatalf("Decode changed its input")
		}
		if err != nil {
			if m != nil {
				t.Fatalf("message and error: %v", err)
			}
			checkFuzzError(t, err)
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded %s does not encode: %v", m.Type(), err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%s does not re-encode to its input:\n got %x\nwant %x", m.Type(), again, b)
		}
		_ = Key(m)
		switch m := m.(type) {
		case *AnchorMessage:
			_ = m.Verify(acme.pin, t0, 7)
		case *RevocationNotice:
			_ = m.Verify(acme.sa)
		default:
			t.Fatalf("Decode returned %T", m)
		}
	})
}

func FuzzDecodeMeta(f *testing.F) {
	for _, m := range []NodeMeta{
		sampleMeta(),
		{Domain: "acme", NodeID: "r1", Role: RoleNonvoter},
	} {
		b, err := EncodeMeta(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)-1])
		f.Add(append(bytes.Clone(b), 0))
		f.Add(append(bytes.Clone(b), make([]byte, MaxMetaSize)...))
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{2})
	f.Add([]byte{1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeta(b)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		again, err := EncodeMeta(m)
		if err != nil {
			t.Fatalf("decoded meta does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("meta does not re-encode to its input:\n got %x\nwant %x", again, b)
		}
	})
}
