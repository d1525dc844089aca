package fsm

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/hashicorp/raft"
)

func benchIssueLog(b *testing.B, i int) *raft.Log {
	d, err := Encode(IssueType, &pb.IssueCommand{License: &pb.License{
		Id:              fmt.Sprintf("lic-%020d", i),
		Licensee:        fmt.Sprintf("customer-%d", i%50_000),
		Product:         []string{"db", "cache"}[i%2],
		Entitlements:    []*pb.Entitlement{seats("seats", 100), flag("sso", true)},
		CreatedUnixNano: at(0),
	}})
	if err != nil {
		b.Fatal(err)
	}
	return &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: d}
}

// BenchmarkApplyIssue measures Apply of one issue command (decode,
// validate, insert into three trees); encoding is done beforehand.
func BenchmarkApplyIssue(b *testing.B) {
	logs := make([]*raft.Log, b.N)
	for i := range logs {
		logs[i] = benchIssueLog(b, i)
	}
	f := New(nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := f.Apply(logs[i]).(*Result); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkCheck measures an entitlement check for a licensee holding
// a few licenses, in a state of 100,000.
func BenchmarkCheck(b *testing.B) {
	f := New(nil)
	var batch []*raft.Log
	for i := 0; i < 100_000; i++ {
		batch = append(batch, benchIssueLog(b, i))
		if len(batch) == 1000 {
			f.ApplyBatch(batch)
			batch = batch[:0]
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := f.Check("customer-4242", "db", "seats", 10, at(1)); !r.Allowed {
			b.Fatal(r.Reason)
		}
	}
}

// BenchmarkSnapshot1M writes a snapshot of one million licenses and
// reads it back, and reports the heap the state needs per license.
func BenchmarkSnapshot1M(b *testing.B) {
	if testing.Short() {
		b.Skip("builds one million licenses")
	}
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f := New(nil)
	batch := make([]*raft.Log, 0, 1000)
	for i := 0; i < n; i++ {
		batch = append(batch, benchIssueLog(b, i))
		if len(batch) == cap(batch) {
			f.ApplyBatch(batch)
			batch = batch[:0]
		}
	}
	batch = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	if f.Count() != n {
		b.Fatalf("count %d", f.Count())
	}
	heapPerLicense := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n

	// One write outside the timer sizes the buffer, so the loop measures
	// encoding, not bytes.Buffer growth (a real sink is a file).
	var buf bytes.Buffer
	if err := f.WriteSnapshot(&buf); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		if err := f.WriteSnapshot(&buf); err != nil {
			b.Fatal(err)
		}
		got, _, err := CheckSnapshot(bytes.NewReader(buf.Bytes()))
		if err != nil || got != n {
			b.Fatalf("readback: %d licenses, %v", got, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(heapPerLicense, "heapB/license")
	b.ReportMetric(float64(buf.Len())/n, "snapB/license")
	runtime.KeepAlive(f)
}
