package fsm

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
)

// revocationsByScan is the definition Revocations must match: every
// revoked license whose revocation committed after index, in index order.
func revocationsByScan(f *FSM, after uint64, limit int) []string {
	var ls []*License
	all, _ := f.List(ListOptions{Limit: 1 << 30})
	for _, l := range all {
		if l.Status == StatusRevoked && l.Revocation != nil && l.Revocation.Index > after {
			ls = append(ls, l)
		}
	}
	slices.SortFunc(ls, func(a, b *License) int { return int(a.Revocation.Index) - int(b.Revocation.Index) })
	var ids []string
	for _, l := range ls {
		if limit > 0 && len(ids) == limit {
			break
		}
		ids = append(ids, l.ID)
	}
	return ids
}

func idsOf(ls []*License) []string {
	var ids []string
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	return ids
}

// TestRevocationIndex: the revocation feed, read from its index, equals a
// full scan after revokes, replaces and updates in random order, and
// again after a snapshot round trip (the index is rebuilt on restore).
func TestRevocationIndex(t *testing.T) {
	h := newHarness(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var live []string
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("lic-%03d", i)
		h.issue(lic(id, fmt.Sprintf("c%d", i%7), "db", seats("seats", 5)))
		live = append(live, id)
	}
	for step := 0; step < 300 && len(live) > 0; step++ {
		k := rng.IntN(len(live))
		id := live[k]
		switch rng.IntN(3) {
		case 0:
			h.ok(RevokeType, &pb.RevokeCommand{Id: id, Reason: "test", TimeUnixNano: at(step)})
			live = slices.Delete(live, k, k+1)
		case 1:
			nid := fmt.Sprintf("lic-r%03d", step)
			h.ok(ReplaceType, &pb.ReplaceCommand{OldId: id, License: lic(nid, "c", "db", seats("seats", 9)), TimeUnixNano: at(step)})
			live[k] = nid
		default:
			h.ok(UpdateType, &pb.UpdateCommand{Id: id, SetEntitlements: []*pb.Entitlement{seats("seats", int64(step))}, TimeUnixNano: at(step)})
		}
	}
	check := func(f *FSM, what string) {
		t.Helper()
		for _, after := range []uint64{0, 1, 150, 250, 400, 10_000} {
			for _, limit := range []int{0, 1, 7} {
				got, want := idsOf(f.Revocations(after, limit)), revocationsByScan(f, after, limit)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: Revocations(%d, %d) = %v, want %v", what, after, limit, got, want)
				}
			}
		}
	}
	check(h.f, "live")
	if len(revocationsByScan(h.f, 0, 0)) < 50 {
		t.Fatalf("test revoked too few licenses to mean anything")
	}
	var buf bytes.Buffer
	if err := h.f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	check(g, "restored")
}
