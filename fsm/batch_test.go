package fsm

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/hashicorp/raft"
)

// applyBatch applies cmds as one batch entry at the next index.
func (h *harness) applyBatch(cmds ...[]byte) []*Result {
	h.t.Helper()
	b, err := EncodeBatch(cmds)
	if err != nil {
		h.t.Fatalf("encode batch: %v", err)
	}
	h.idx++
	out := h.f.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: b})
	br, ok := out.(*BatchResult)
	if !ok {
		h.t.Fatalf("apply batch at %d: got %T, want *BatchResult", h.idx, out)
	}
	if len(br.Results) != len(cmds) {
		h.t.Fatalf("batch of %d commands: %d results", len(cmds), len(br.Results))
	}
	for i, r := range br.Results {
		if r.Index != h.idx {
			h.t.Fatalf("batch result %d: index %d, want the entry's %d", i, r.Index, h.idx)
		}
	}
	return br.Results
}

// TestBatchAppliesInOrder: commands in one entry apply in order, each
// seeing the ones before it; a rejected one changes nothing and does not
// stop the others.
func TestBatchAppliesInOrder(t *testing.T) {
	h := newHarness(t)
	h.issue(lic("L0", "acme", "db", seats("seats", 1)))
	rs := h.applyBatch(
		encode(t, IssueType, &pb.IssueCommand{License: lic("L1", "acme", "db", seats("seats", 5))}),
		encode(t, UpdateType, &pb.UpdateCommand{Id: "L1", ExpectedVersion: 1, SetEntitlements: []*pb.Entitlement{seats("seats", 9)}, TimeUnixNano: at(1)}),
		encode(t, RevokeType, &pb.RevokeCommand{Id: "missing", Reason: "x", TimeUnixNano: at(1)}),
		encode(t, IssueType, &pb.IssueCommand{License: lic("L0", "other", "db")}), // duplicate id
		encode(t, RevokeType, &pb.RevokeCommand{Id: "L0", Reason: "fraud", TimeUnixNano: at(2)}),
	)
	if rs[0].Err != nil || rs[1].Err != nil || rs[4].Err != nil {
		t.Fatalf("unexpected rejections: %v / %v / %v", rs[0].Err, rs[1].Err, rs[4].Err)
	}
	if !errors.Is(rs[2].Err, &Error{Code: CodeNotFound}) || !errors.Is(rs[3].Err, &Error{Code: CodeExists}) {
		t.Fatalf("rejections: %v / %v, want not-found and exists", rs[2].Err, rs[3].Err)
	}
	l1 := h.get("L1")
	if lim, _ := l1.Entitlement("seats"); l1.Version != 2 || lim.Count != 9 || l1.CreateIndex != h.idx || l1.ModifyIndex != h.idx {
		t.Errorf("L1 = version %d seats %d indexes %d/%d, want version 2, 9 seats, both at %d", l1.Version, lim.Count, l1.CreateIndex, l1.ModifyIndex, h.idx)
	}
	if l0 := h.get("L0"); l0.Status != StatusRevoked || l0.Licensee != "acme" || l0.Revocation.Index != h.idx {
		t.Errorf("L0 = %v licensee %s revocation %+v: the duplicate issue must not have touched it", l0.Status, l0.Licensee, l0.Revocation)
	}
	if h.f.AppliedIndex() != h.idx {
		t.Errorf("applied index %d, want %d", h.f.AppliedIndex(), h.idx)
	}
}

// TestBatchIsDeterministic: replicas applying the same batch entries
// reach the same state.
func TestBatchIsDeterministic(t *testing.T) {
	a, b := newHarness(t), newHarness(t)
	for round := 0; round < 20; round++ {
		var cmds [][]byte
		for i := 0; i < 10; i++ {
			id := fmt.Sprintf("L%d-%d", round, i)
			cmds = append(cmds, encode(t, IssueType, &pb.IssueCommand{License: lic(id, "acme", "db", seats("seats", int64(i)))}))
			if i%3 == 0 {
				cmds = append(cmds, encode(t, RevokeType, &pb.RevokeCommand{Id: id, Reason: "r", TimeUnixNano: at(round)}))
			}
		}
		a.applyBatch(cmds...)
		b.applyBatch(cmds...)
	}
	if a.f.Hash() != b.f.Hash() {
		t.Fatal("replicas that applied the same batches differ")
	}
}

func TestEncodeBatchRefusesWhatCannotBeBatched(t *testing.T) {
	issue := encode(t, IssueType, &pb.IssueCommand{License: lic("L1", "acme", "db")})
	expire := encode(t, ExpireType, &pb.ExpireCommand{TimeUnixNano: at(1)})
	nested, err := EncodeBatch([][]byte{issue, issue})
	if err != nil {
		t.Fatal(err)
	}
	for name, cmds := range map[string][][]byte{
		"none":         nil,
		"expire":       {issue, expire},
		"nested batch": {issue, nested},
		"empty":        {issue, {}},
	} {
		if _, err := EncodeBatch(cmds); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

// TestCorruptBatchPanics: a batch entry no leader of this version would
// write stops the replica instead of being half applied.
func TestCorruptBatchPanics(t *testing.T) {
	issue := encode(t, IssueType, &pb.IssueCommand{License: lic("L1", "acme", "db")})
	raw := func(cmds ...[]byte) []byte {
		b, err := Encode(BatchType, &pb.BatchCommand{Commands: cmds})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := map[string][]byte{
		"empty batch":       raw(),
		"expire inside":     raw(issue, encode(t, ExpireType, &pb.ExpireCommand{TimeUnixNano: at(1)})),
		"batch inside":      raw(issue, raw(issue)),
		"empty command":     raw(issue, nil),
		"truncated command": raw(issue[:len(issue)-3]),
		"garbage payload":   {byte(BatchType), 0xff, 0xff, 0xff},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			f := New(nil)
			defer func() {
				if recover() == nil {
					t.Errorf("corrupt batch %x applied without panic", data)
				}
			}()
			f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
		})
	}
}

// TestRevocationPagesNeverSplitABatch: revocations coalesced into one
// entry share its index, and peers page by index; a page cut inside an
// index would lose the rest of that batch for good.
func TestRevocationPagesNeverSplitABatch(t *testing.T) {
	h := newHarness(t)
	var want []string
	for i := 0; i < 12; i++ {
		h.issue(lic(fmt.Sprintf("L%02d", i), "acme", "db"))
	}
	revoke := func(id string) []byte {
		return encode(t, RevokeType, &pb.RevokeCommand{Id: id, Reason: "r", TimeUnixNano: at(1)})
	}
	h.ok(RevokeType, &pb.RevokeCommand{Id: "L00", Reason: "r", TimeUnixNano: at(1)})
	h.applyBatch(revoke("L01"), revoke("L02"), revoke("L03"), revoke("L04"), revoke("L05"))
	h.ok(RevokeType, &pb.RevokeCommand{Id: "L06", Reason: "r", TimeUnixNano: at(1)})
	h.applyBatch(revoke("L07"), revoke("L08"))
	for i := 0; i <= 8; i++ {
		want = append(want, fmt.Sprintf("L%02d", i))
	}
	for limit := 1; limit <= 10; limit++ {
		var got []string
		var after uint64
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("limit %d: paging does not end", limit)
			}
			page := h.f.Revocations(after, limit)
			if len(page) == 0 {
				break
			}
			got = append(got, idsOf(page)...)
			after = page[len(page)-1].Revocation.Index
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: paged %v, want %v", limit, got, want)
		}
	}
	if page := h.f.Revocations(0, 2); len(page) != 6 {
		t.Errorf("first page of limit 2 holds %d revocations, want 6 (the lone one, then the whole batch of 5)", len(page))
	}
}
