package cluster

import (
	"net"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// A node whose seed is not up yet keeps trying, and joins once it is.
func TestPoolRetriesJoinUntilSeedIsUp(t *testing.T) {
	seedAddr := freeAddr(t)
	meta := func(d, n string) func() NodeMeta {
		return func() NodeMeta { return NodeMeta{Domain: d, NodeID: n, Role: RoleVoter} }
	}
	late, err := NewPool(PoolConfig{NodeName: "b/n1", Bind: freeAddr(t), Join: []string{seedAddr}, Meta: meta("b", "n1"), Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Shutdown()
	seed, err := NewPool(PoolConfig{NodeName: "a/n1", Bind: seedAddr, Meta: meta("a", "n1"), Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Shutdown()
	deadline := time.Now().Add(20 * time.Second)
	for {
		alive := 0
		for _, m := range seed.Members() {
			if m.State == "alive" {
				alive++
			}
		}
		if alive == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late node never joined: seed sees %v", seed.Members())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
