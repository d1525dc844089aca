package node_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/fedlic/fedlic/client"
)

// BenchmarkIssueParallel: committed issues through gRPC to the leader of
// an in-process three-node domain (real TCP, raft-boltdb, fsync on).
// Run with -cpu/-benchtime and -cpuprofile to see where a write goes.
func BenchmarkIssueParallel(b *testing.B) {
	c := newCluster(b, 3, 0)
	l := c.waitLeader()
	conns := make([]*client.Client, 8)
	for i := range conns {
		cl, err := client.Dial(l.cfg.GRPCAddr)
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		conns[i] = cl
	}
	var n atomic.Int64
	b.SetParallelism(32) // 64 goroutines on two cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		cl := conns[n.Add(1)%int64(len(conns))]
		i := 0
		for pb.Next() {
			i++
			if _, err := cl.Issue(context.Background(), issueReq(fmt.Sprint(i))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
