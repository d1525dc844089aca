package cluster

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func sampleMeta() NodeMeta {
	return NodeMeta{
		Domain:              "partner.billing",
		NodeID:              "node-2",
		GRPCAddr:            "10.0.3.12:7401",
		Role:                RoleVoter,
		AnchorSerial:        12,
		RevocationWatermark: 1 << 40,
	}
}

func TestMetaRoundTrip(t *testing.T) {
	big := strings.Repeat("ü", 64) // 128 bytes of UTF-8
	for _, m := range []NodeMeta{
		sampleMeta(),
		{Domain: "acme", NodeID: "r1", Role: RoleNonvoter}, // no API address, zeros
		{Domain: big, NodeID: big, GRPCAddr: big[:100], Role: RoleNonvoter, AnchorSerial: ^uint64(0), RevocationWatermark: ^uint64(0)},
	} {
		b, err := EncodeMeta(m)
		if err != nil {
			t.Fatalf("EncodeMeta(%v): %v", m, err)
		}
		if len(b) > MaxMetaSize {
			t.Fatalf("meta is %d bytes", len(b))
		}
		got, err := DecodeMeta(b)
		if err != nil {
			t.Fatalf("DecodeMeta: %v", err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip: got %v, want %v", got, m)
		}
		again, _ := EncodeMeta(got)
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs")
		}
	}
}

func TestMetaDoesNotAliasInput(t *testing.T) {
	b, _ := EncodeMeta(sampleMeta())
	m, err := DecodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'x'
	}
	if !reflect.DeepEqual(m, sampleMeta()) {
		t.Fatalf("decoded meta changed with its buffer: %v", m)
	}
}

func TestEncodeMetaRefuses(t *testing.T) {
	long := strings.Repeat("a", MaxFieldLen)
	m := sampleMeta()
	m.Domain, m.NodeID = long, long // 2+256+2+256+... > 512
	_, err := EncodeMeta(m)
	wantKind(t, err, ErrOversized)
	if !strings.Contains(err.Error(), "512") {
		t.Fatalf("error does not name the limit: %v", err)
	}

	for name, c := range map[string]struct {
		edit func(*NodeMeta)
		kind error
	}{
		"empty domain":     {func(m *NodeMeta) { m.Domain = "" }, ErrMalformed},
		"empty node id":    {func(m *NodeMeta) { m.NodeID = "" }, ErrMalformed},
		"long node id":     {func(m *NodeMeta) { m.NodeID = long + "b" }, ErrOversized},
		"bad UTF-8 addr":   {func(m *NodeMeta) { m.GRPCAddr = "\xff:1" }, ErrMalformed},
		"unknown role":     {func(m *NodeMeta) { m.Role = "leader" }, ErrMalformed},
		"empty role":       {func(m *NodeMeta) { m.Role = "" }, ErrMalformed},
		"bad UTF-8 domain": {func(m *NodeMeta) { m.Domain = "ac\xc3me" }, ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			m := sampleMeta()
			c.edit(&m)
			_, err := EncodeMeta(m)
			wantKind(t, err, c.kind)
		})
	}
}

func TestDecodeMetaStrict(t *testing.T) {
	good, _ := EncodeMeta(sampleMeta())
	// good: 1 version | 2+15 domain | 2+6 node id | 2+14 addr | 1 role | 8 | 8
	roleAt := 1 + 2 + 15 + 2 + 6 + 2 + 14
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string]struct {
		b    []byte
		kind error
	}{
		"empty":           {nil, ErrTruncated},
		"version 2":       {edit(func(b []byte) []byte { b[0] = 2; return b }), ErrUnknownVersion},
		"version 0":       {[]byte{0}, ErrUnknownVersion},
		"version only":    {[]byte{1}, ErrTruncated},
		"truncated":       {good[:len(good)-1], ErrTruncated},
		"trailing byte":   {append(bytes.Clone(good), 0), ErrMalformed},
		"over 512 bytes":  {make([]byte, MaxMetaSize+1), ErrOversized},
		"domain too long": {[]byte{1, 0x01, 0x01}, ErrOversized}, // length 257, checked before reading
		"non-UTF-8":       {edit(func(b []byte) []byte { b[3] = 0xff; return b }), ErrMalformed},
		"empty domain":    {append([]byte{1, 0, 0, 0, 1, 'n', 0, 0, 1}, make([]byte, 16)...), ErrMalformed},
		"empty node id":   {append([]byte{1, 0, 1, 'd', 0, 0, 0, 0, 2}, make([]byte, 16)...), ErrMalformed},
		"role 0":          {edit(func(b []byte) []byte { b[roleAt] = 0; return b }), ErrMalformed},
		"role 3":          {edit(func(b []byte) []byte { b[roleAt] = 3; return b }), ErrMalformed},
		"length past end": {edit(func(b []byte) []byte { b[2] = 200; return b }), ErrTruncated},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeMeta(c.b)
			wantKind(t, err, c.kind)
		})
	}
	if good[roleAt] != roleVoterByte {
		t.Fatalf("test layout is off: role byte at %d is %d", roleAt, good[roleAt])
	}
	for i := 0; i < len(good); i++ {
		if _, err := DecodeMeta(good[:i]); err == nil {
			t.Fatalf("prefix of %d bytes decoded", i)
		}
	}
}
