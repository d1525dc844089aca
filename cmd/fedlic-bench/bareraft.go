package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fedlic/fedlic/node"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// noopFSM is the baseline state machine: it does nothing but count.
type noopFSM struct{ applied atomic.Uint64 }

func (f *noopFSM) Apply(l *raft.Log) interface{} { f.applied.Store(l.Index); return nil }
func (f *noopFSM) ApplyBatch(ls []*raft.Log) []interface{} {
	if len(ls) > 0 {
		f.applied.Store(ls[len(ls)-1].Index)
	}
	return make([]interface{}, len(ls))
}
func (f *noopFSM) Snapshot() (raft.FSMSnapshot, error) { return noopSnap{}, nil }

// Restore reads every byte (a snapshot install must move the bytes) and
// keeps none.
func (f *noopFSM) Restore(rc io.ReadCloser) error {
	_, err := io.Copy(io.Discard, rc)
	return errors.Join(err, rc.Close())
}

type noopSnap struct{}

func (noopSnap) Persist(s raft.SnapshotSink) error { return s.Close() }
func (noopSnap) Release()                          {}

type bareNode struct {
	r     *raft.Raft
	fsm   *noopFSM
	store *raftboltdb.BoltStore
	trans *raft.NetworkTransport
	id    raft.ServerID
	addr  raft.ServerAddress
}

// bareCluster is three hashicorp/raft nodes with raft-boltdb (fsync on),
// TCP, and the same timing as fedlic's defaults, in this process.
type bareCluster struct {
	nodes []*bareNode
	dir   string
}

func bareConfig(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = node.Defaults.Heartbeat
	c.ElectionTimeout = node.Defaults.Election
	c.LeaderLeaseTimeout = node.Defaults.LeaderLease
	c.CommitTimeout = node.Defaults.Commit
	c.BatchApplyCh = true
	c.MaxAppendEntries = node.DefaultMaxAppendEntries
	c.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: io.Discard})
	return c
}

func startBare() (*bareCluster, error) {
	dir, err := os.MkdirTemp("", "fedlic-bench-raft-")
	if err != nil {
		return nil, err
	}
	bc := &bareCluster{dir: dir}
	var servers []raft.Server
	for i := 0; i < 3; i++ {
		n, err := bc.open(i)
		if err != nil {
			bc.stop()
			return nil, err
		}
		bc.nodes = append(bc.nodes, n)
		servers = append(servers, raft.Server{ID: n.id, Address: n.addr})
	}
	if err := bc.nodes[0].r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		bc.stop()
		return nil, err
	}
	l := bc.waitLeader(20 * time.Second)
	if l == nil {
		bc.stop()
		return nil, fmt.Errorf("bare raft: no leader")
	}
	// Only node 0 was bootstrapped: the others learn the configuration
	// from the leader's first entries, and cannot elect anyone before.
	// Wait until every node has applied the leader's barrier, or a kill
	// of the leader right away (failover) leaves a domain that never
	// elects (seen once in CI).
	if err := l.r.Barrier(20 * time.Second).Error(); err != nil {
		bc.stop()
		return nil, fmt.Errorf("bare raft: barrier: %w", err)
	}
	want, deadline := l.r.AppliedIndex(), time.Now().Add(20*time.Second)
	for _, n := range bc.nodes {
		for n.r.AppliedIndex() < want {
			if time.Now().After(deadline) {
				bc.stop()
				return nil, fmt.Errorf("bare raft: %s never applied index %d", n.id, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return bc, nil
}

func (bc *bareCluster) open(i int) (*bareNode, error) {
	id := raft.ServerID(fmt.Sprintf("b%d", i+1))
	d := filepath.Join(bc.dir, string(id))
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	store, err := raftboltdb.NewBoltStore(filepath.Join(d, "raft.db"))
	if err != nil {
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStore(d, 1, io.Discard)
	if err != nil {
		return nil, err
	}
	addr := ""
	if i < len(bc.nodes) && bc.nodes[i] != nil {
		addr = string(bc.nodes[i].addr)
	} else {
		if addr, err = freePort(); err != nil {
			return nil, err
		}
	}
	trans, err := raft.NewTCPTransport(addr, nil, 3, 10*time.Second, io.Discard)
	if err != nil {
		return nil, err
	}
	logs, _ := raft.NewLogCache(512, store)
	f := &noopFSM{}
	r, err := raft.NewRaft(bareConfig(id), f, logs, store, snaps, trans)
	if err != nil {
		return nil, err
	}
	return &bareNode{r: r, fsm: f, store: store, trans: trans, id: id, addr: raft.ServerAddress(addr)}, nil
}

func (bc *bareCluster) waitLeader(max time.Duration) *bareNode {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		for _, n := range bc.nodes {
			if n != nil && n.r != nil && n.r.State() == raft.Leader {
				return n
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// kill shuts a node down abruptly (the in-process stand-in for kill -9).
func (bc *bareCluster) kill(n *bareNode) {
	n.r.Shutdown().Error()
	n.trans.Close()
	n.store.Close()
	for i, m := range bc.nodes {
		if m == n {
			bc.nodes[i] = &bareNode{addr: n.addr, id: n.id} // r == nil: down; keeps the address
		}
	}
}

// restart reopens a killed node from its folder.
func (bc *bareCluster) restart(i int) error {
	n, err := bc.open(i)
	if err != nil {
		return err
	}
	bc.nodes[i] = n
	return nil
}

func (bc *bareCluster) stop() {
	for _, n := range bc.nodes {
		if n != nil && n.r != nil {
			n.r.Shutdown().Error()
			n.trans.Close()
			n.store.Close()
		}
	}
	bc.nodes = nil // a second stop is a no-op
	os.RemoveAll(bc.dir)
}
