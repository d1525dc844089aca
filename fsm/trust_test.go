package fsm

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/hashicorp/raft"
)

const fpB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestTrustPolicy(t *testing.T) {
	f := New(nil)
	idx := uint64(0)
	apply := func(typ MessageType, b []byte) *Result {
		idx++
		return f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b}).(*Result)
	}
	enc := func(typ MessageType, c *pb.TrustSetCommand) []byte {
		b, err := Encode(typ, c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	init, _ := Encode(InitDomainType, &pb.InitDomainCommand{Domain: "acme", TimeUnixNano: 1})
	apply(InitDomainType, init)
	good := &pb.TrustEntry{Domain: "partner", RootFingerprint: fpB, Scope: []string{"partner/*"}, MaxStalenessNano: 5}
	if r := apply(TrustSetType, enc(TrustSetType, &pb.TrustSetCommand{Entry: good, TimeUnixNano: 10})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if e, ok := f.TrustFor("partner"); !ok || e.GetAddedUnixNano() != 10 || e.GetScope()[0] != "partner/*" {
		t.Fatalf("trust entry %v", e)
	}
	before := f.Hash()
	for name, bad := range map[string]*pb.TrustEntry{
		"self":           {Domain: "acme", RootFingerprint: fpB, Scope: []string{"*"}},
		"short fp":       {Domain: "x", RootFingerprint: "abcd", Scope: []string{"*"}},
		"uppercase fp":   {Domain: "x", RootFingerprint: strings.ToUpper(fpB), Scope: []string{"*"}},
		"no scope":       {Domain: "x", RootFingerprint: fpB},
		"bad scope":      {Domain: "x", RootFingerprint: fpB, Scope: []string{"a*b"}},
		"empty domain":   {RootFingerprint: fpB, Scope: []string{"*"}},
		"negative stale": {Domain: "x", RootFingerprint: fpB, Scope: []string{"*"}, MaxStalenessNano: -1},
	} {
		r := apply(TrustSetType, enc(TrustSetType, &pb.TrustSetCommand{Entry: bad, TimeUnixNano: 11}))
		if !errors.Is(r.Err, ErrInvalid) {
			t.Errorf("%s: got %v, want invalid argument", name, r.Err)
		}
	}
	rm, _ := Encode(TrustRemoveType, &pb.TrustRemoveCommand{Domain: "nobody", TimeUnixNano: 12})
	if r := apply(TrustRemoveType, rm); !errors.Is(r.Err, ErrNotFound) {
		t.Errorf("remove unknown: %v", r.Err)
	}
	if f.Hash() != before {
		t.Fatal("a rejected trust command changed the state")
	}
	// Snapshot round trip keeps the policy.
	var buf bytes.Buffer
	if err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if g.Hash() != f.Hash() || len(g.Trust()) != 1 {
		t.Fatalf("restored trust: %v", g.Trust())
	}
	rm, _ = Encode(TrustRemoveType, &pb.TrustRemoveCommand{Domain: "partner", TimeUnixNano: 13})
	if r := apply(TrustRemoveType, rm); r.Err != nil || len(f.Trust()) != 0 {
		t.Fatalf("remove: %v, left %v", r.Err, f.Trust())
	}
}
