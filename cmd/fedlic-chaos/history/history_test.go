package history

import (
	"bytes"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestJSONLRoundTrip(t *testing.T) {
	yes := true
	h := &History{}
	want := []Op{
		{Client: 0, Kind: KindIssue, LicenseID: "L1", Call: 1, Return: 2, Outcome: OutcomeOK, Node: "n1", Status: StatusActive, Version: 1, Index: 7},
		{Client: 1, Kind: KindReplace, LicenseID: "L1", NewID: "L2", Call: 3, Return: 9, Outcome: OutcomeOK, Status: StatusRevoked, Version: 2, Index: 8},
		{Client: 2, Kind: KindCheck, LicenseID: "L2", Call: 4, Return: 5, Outcome: OutcomeOK, Consistency: ConsistencyStale, Node: "n3", Status: StatusActive, Version: 1, Index: 8, Allowed: &yes},
		{Client: 2, Kind: KindUpdate, LicenseID: "L2", Call: 10, Return: 1 << 62, Outcome: OutcomeUnknown, Error: "context deadline exceeded"},
	}
	var wg sync.WaitGroup
	for _, op := range want {
		wg.Add(1)
		go func() { defer wg.Done(); h.Add(op) }()
	}
	wg.Wait()
	if len(h.Ops) != len(want) {
		t.Fatalf("Add from goroutines kept %d ops, want %d", len(h.Ops), len(want))
	}
	h.Ops = append([]Op(nil), want...) // fix the order for the comparison

	var buf bytes.Buffer
	if err := h.WriteJSONL(&buf); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != len(want) {
		t.Fatalf("wrote %d lines, want %d:\n%s", n, len(want), buf.String())
	}
	got, err := ReadJSONL(bytes.NewReader(append(buf.Bytes(), '\n', ' ', '\n')))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Ops, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got.Ops, want)
	}
}

func TestReadJSONLNamesBadLine(t *testing.T) {
	_, err := ReadJSONL(strings.NewReader(`{"client":1,"kind":"get"}` + "\n{oops\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want one naming line 2", err)
	}
}
