package node_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedlic/fedlic/api"
	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
	"github.com/fedlic/fedlic/node"
	"github.com/hashicorp/go-hclog"
)

// syncBuffer collects one node's log; it is printed when a test fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := strings.Split(s.b.String(), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// member is one in-process agent of a test cluster.
type member struct {
	cfg    node.Config
	agent  *api.Agent
	client *client.Client
	log    *syncBuffer
}

type cluster struct {
	t       testing.TB
	members []*member
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newCluster starts voters (the first bootstraps) and nonVoters over
// real TCP, with raft-boltdb on disk and fsync on.
type nodeConfig = node.Config

// newClusterWith starts voters with a config tweak applied to each.
func newClusterWith(t testing.TB, voters int, tweak func(*nodeConfig)) *cluster {
	t.Helper()
	return newClusterOpts(t, voters, 0, tweak)
}

func newCluster(t testing.TB, voters, nonVoters int) *cluster {
	t.Helper()
	return newClusterOpts(t, voters, nonVoters, nil)
}

func newClusterOpts(t testing.TB, voters, nonVoters int, tweak func(*nodeConfig)) *cluster {
	t.Helper()
	c := &cluster{t: t}
	t.Cleanup(c.stopAll)
	t.Cleanup(func() {
		if t.Failed() {
			for _, m := range c.members {
				t.Logf("---- log of %s ----\n%s", m.cfg.NodeID, m.log.tail(60))
			}
		}
	})
	for i := 0; i < voters+nonVoters; i++ {
		cfg := node.Config{
			Domain: "acme", NodeID: fmt.Sprintf("n%d", i+1), DataDir: filepath.Join(t.TempDir(), "data"),
			RaftAddr: freeAddr(t), GRPCAddr: freeAddr(t), Bootstrap: i == 0,
		}
		if i > 0 {
			cfg.Join = []string{c.members[0].cfg.GRPCAddr}
		}
		if i >= voters {
			f := false
			cfg.Voter = &f
		}
		if tweak != nil {
			tweak(&cfg)
		}
		c.start(&member{cfg: cfg, log: &syncBuffer{}})
		if i == 0 {
			c.waitLeader()
		}
	}
	c.waitMembers(voters + nonVoters)
	return c
}

func (c *cluster) start(m *member) {
	c.t.Helper()
	logger := hclog.New(&hclog.LoggerOptions{Name: m.cfg.NodeID, Level: hclog.Info, Output: m.log})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := api.StartAgent(ctx, m.cfg, logger)
	if err != nil {
		c.t.Fatalf("start %s: %v", m.cfg.NodeID, err)
	}
	cl, err := client.Dial(a.Addr())
	if err != nil {
		c.t.Fatal(err)
	}
	m.agent, m.client = a, cl
	for i, old := range c.members {
		if old.cfg.NodeID == m.cfg.NodeID {
			c.members[i] = m
			return
		}
	}
	c.members = append(c.members, m)
}

func (m *member) stop() {
	if m.agent != nil {
		m.client.Close()
		m.agent.Stop()
		m.agent = nil
	}
}

// restart starts a stopped member again with its original config.
func (c *cluster) restart(m *member) {
	c.t.Helper()
	c.start(&member{cfg: m.cfg, log: m.log})
}

func (c *cluster) stopAll() {
	for _, m := range c.members {
		m.stop()
	}
}

func (c *cluster) running() []*member {
	var out []*member
	for _, m := range c.members {
		if m.agent != nil {
			out = append(out, m)
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, obs := cond()
		if ok {
			return
		}
		last = obs
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLeader waits until a running member leads and returns it.
func (c *cluster) waitLeader() *member {
	c.t.Helper()
	var leader *member
	waitFor(c.t, 20*time.Second, "a leader", func() (bool, string) {
		for _, m := range c.running() {
			if m.agent.Node.IsLeader() {
				leader = m
				return true, ""
			}
		}
		return false, "no running member is leader"
	})
	return leader
}

func (c *cluster) followers() []*member {
	var out []*member
	for _, m := range c.running() {
		if !m.agent.Node.IsLeader() {
			out = append(out, m)
		}
	}
	return out
}

func (c *cluster) waitMembers(n int) {
	c.t.Helper()
	waitFor(c.t, 20*time.Second, fmt.Sprintf("%d members recorded on every node", n), func() (bool, string) {
		for _, m := range c.running() {
			if got := len(m.agent.Node.FSM().Members()); got != n {
				return false, fmt.Sprintf("%s records %d members", m.cfg.NodeID, got)
			}
		}
		return true, ""
	})
}

// waitConverged waits until every running member applied the same index
// and returns their state hashes.
func (c *cluster) waitConverged() map[string]string {
	c.t.Helper()
	hashes := map[string]string{}
	waitFor(c.t, 20*time.Second, "replicas at the same applied index", func() (bool, string) {
		var idx []uint64
		var obs []string
		for _, m := range c.running() {
			i := m.agent.Node.FSM().AppliedIndex()
			idx = append(idx, i)
			obs = append(obs, fmt.Sprintf("%s=%d", m.cfg.NodeID, i))
		}
		for _, i := range idx {
			if i != idx[0] {
				return false, strings.Join(obs, " ")
			}
		}
		return true, ""
	})
	for _, m := range c.running() {
		hashes[m.cfg.NodeID] = m.agent.Node.FSM().Hash()
	}
	return hashes
}

func assertEqualHashes(t testing.TB, hashes map[string]string) {
	t.Helper()
	var first string
	for id, h := range hashes {
		if first == "" {
			first = h
		}
		if h != first {
			t.Fatalf("replica state hashes differ: %v (at %s)", hashes, id)
		}
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

func issueReq(licensee string) *pb.IssueRequest {
	return &pb.IssueRequest{Licensee: licensee, Product: "acme/db",
		Entitlements: []*pb.Entitlement{client.Count("seats", 10), client.Flag("sso", true)}}
}

var (
	stale        = pb.Consistency_CONSISTENCY_STALE
	leaderRead   = pb.Consistency_CONSISTENCY_LEADER
	linearizable = pb.Consistency_CONSISTENCY_LINEARIZABLE
)
