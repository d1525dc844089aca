package fsm

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/hashicorp/raft"
)

// BenchmarkRestore1M times decoding a snapshot of one million licenses
// (cmd/fedlic-bench snapshot measures the same end to end, with files).
func BenchmarkRestore1M(b *testing.B) {
	f := New(nil)
	ents := []*pb.Entitlement{{Feature: "seats", Limit: &pb.Limit{Kind: &pb.Limit_Count{Count: 100}}}}
	var logs []*raft.Log
	for i := 0; i < 1_000_000; i++ {
		d, _ := Encode(IssueType, &pb.IssueCommand{License: &pb.License{Id: fmt.Sprintf("lic-%020d", i), Licensee: fmt.Sprintf("l-%d", i%50000),
			Product: "bench/db", Entitlements: ents, CreatedUnixNano: 1}})
		logs = append(logs, &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: d})
		if len(logs) == 1000 {
			f.ApplyBatch(logs)
			logs = logs[:0]
		}
	}
	var buf bytes.Buffer
	if err := f.WriteSnapshot(&buf); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g := New(nil)
		if err := g.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
			b.Fatal(err)
		}
		if g.Count() != 1_000_000 {
			b.Fatal("count")
		}
	}
}
