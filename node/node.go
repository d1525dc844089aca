package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fedlic/fedlic/cluster"
	"github.com/fedlic/fedlic/fsm"
	"github.com/fedlic/fedlic/transport"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	"google.golang.org/grpc"
)

// Node is one running member of a license domain.
type Node struct {
	cfg    Config
	timing Timing
	logger hclog.Logger

	fsm       *fsm.FSM
	raft      *raft.Raft
	trans     *raft.NetworkTransport
	store     *raftboltdb.BoltStore
	logs      raft.LogStore // raft's log store: a cache in front of store
	snaps     *raft.FileSnapshotStore
	notifyCh  chan bool
	readyRead atomic.Bool // leader has applied everything from earlier terms

	// A replica serves stale reads only once it has caught up: raft does
	// not persist the commit index, so after a restart the FSM holds only
	// the last snapshot until a leader says how far the log is committed.
	caughtUp      atomic.Bool
	catchUpTarget uint64 // raft's last log index when the node started

	anchors anchorCache
	// revokeWake wakes the gossip loop when a local write revoked a
	// license, so peers hear of it now rather than at the next tick.
	revokeWake chan struct{}
	pool       atomic.Pointer[cluster.Pool] // set once gossip starts, after raft
	// pulled is, per peer domain, the peer index through which this node
	// has pulled every revocation by anti-entropy (see pullPeer).
	pulled peerMarks

	connsMu sync.Mutex
	conns   map[string]*grpc.ClientConn

	// Now is the wall clock; tests replace it. Only the leader reads it,
	// to stamp commands.
	Now func() time.Time

	// observeApply is told how long each command took from raft.Apply
	// until its result (metrics); see SetApplyObserver.
	observeApply atomic.Pointer[func(time.Duration)]

	props *proposer // coalesces license writes on the leader (propose.go)

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	shutOnce sync.Once
}

// New opens the data folder and starts Raft. It bootstraps a new
// cluster when cfg.Bootstrap is set and the folder holds no Raft state;
// joining is done by Start, once the gRPC server is listening.
func New(cfg Config, logger hclog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	timing, _ := cfg.Timing()
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if err := dataDirUsable(cfg.DataDir); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg: cfg, timing: timing, logger: logger,
		fsm: fsm.New(logger), conns: map[string]*grpc.ClientConn{},
		notifyCh: make(chan bool, 16), revokeWake: make(chan struct{}, 1), Now: time.Now, ctx: ctx, cancel: cancel,
		props: newProposer(),
	}
	if err := n.openRaft(); err != nil {
		cancel()
		n.closeStores()
		return nil, err
	}
	n.wg.Add(2)
	go n.watchLeadership()
	go n.runProposer()
	return n, nil
}

func (n *Node) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeID)
	rc.HeartbeatTimeout = n.timing.Heartbeat
	rc.ElectionTimeout = n.timing.Election
	rc.LeaderLeaseTimeout = n.timing.LeaderLease
	rc.CommitTimeout = n.timing.Commit
	rc.SnapshotInterval = n.timing.SnapshotInterval
	rc.BatchApplyCh = true
	rc.NotifyCh = n.notifyCh
	rc.Logger = n.logger.Named("raft")
	if n.cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	}
	if n.cfg.TrailingLogs > 0 {
		rc.TrailingLogs = n.cfg.TrailingLogs
	}
	rc.MaxAppendEntries = DefaultMaxAppendEntries
	if n.cfg.MaxAppendEntries > 0 {
		rc.MaxAppendEntries = n.cfg.MaxAppendEntries
	}
	return rc
}

func (n *Node) openRaft() error {
	var err error
	n.store, err = raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(n.cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second, NoSync: n.cfg.NoFsync},
		NoSync:      n.cfg.NoFsync,
	})
	if err != nil {
		return fmt.Errorf("open raft log in %s (is another agent using this folder?): %w", n.cfg.DataDir, err)
	}
	n.snaps, err = raft.NewFileSnapshotStoreWithLogger(n.cfg.DataDir, 2, n.logger.Named("snapshot"))
	if err != nil {
		return fmt.Errorf("open snapshot store: %w", err)
	}
	n.trans, err = transport.New(transport.Options{Bind: n.cfg.RaftAddr, Logger: n.logger})
	if err != nil {
		return err
	}
	rc := n.raftConfig()
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("raft config: %w", err)
	}
	logs, err := raft.NewLogCache(512, n.store)
	if err != nil {
		return err
	}
	n.logs = logs
	existing, err := raft.HasExistingState(logs, n.store, n.snaps)
	if err != nil {
		return fmt.Errorf("read raft state: %w", err)
	}
	// raft consumes requests through clampCommit (see raftguard.go).
	n.raft, err = raft.NewRaft(rc, n.fsm, logs, n.store, n.snaps, guardTransport(n.trans, n.ctx.Done()))
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	n.catchUpTarget = n.raft.LastIndex()
	// NewRaft restored the newest snapshot, if any; reads report the
	// index of the state they read, so the FSM must know it. (Not
	// raft.AppliedIndex: raft advances that when it hands entries to the
	// FSM, before the FSM applied them.)
	n.fsm.SetRestoredIndex(n.lastSnapshotIndex())
	switch {
	case existing:
		n.logger.Info("resuming from existing raft state", "data_dir", n.cfg.DataDir)
	case n.cfg.Bootstrap:
		n.logger.Info("bootstrapping a new cluster", "domain", n.cfg.Domain)
		f := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: n.trans.LocalAddr(),
		}}})
		if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	return nil
}

// Start joins the cluster when the node is new and --join was given.
// Call it once the gRPC server is serving, because the leader records
// this node's gRPC address. It retries until ctx ends.
func (n *Node) Start(ctx context.Context) error {
	if len(n.cfg.Join) > 0 && !n.hasJoined() {
		if err := n.joinPeers(ctx); err != nil {
			return err
		}
	}
	return n.startGossip()
}

// Pool is the gossip pool, or nil when gossip is off.
func (n *Node) Pool() *cluster.Pool { return n.pool.Load() }

// hasJoined reports whether raft already knows this node as a member
// (it has existing state from an earlier run).
func (n *Node) hasJoined() bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(n.cfg.NodeID) {
			return true
		}
	}
	return false
}

// Shutdown stops raft and closes the stores. It is safe to call twice.
func (n *Node) Shutdown() error {
	var err error
	n.shutOnce.Do(func() {
		n.cancel()
		if p := n.pool.Load(); p != nil {
			p.Shutdown()
		}
		if n.raft != nil {
			err = n.raft.Shutdown().Error()
		}
		n.wg.Wait()
		if n.trans != nil {
			n.trans.Close()
		}
		n.connsMu.Lock()
		for _, c := range n.conns {
			c.Close()
		}
		n.connsMu.Unlock()
		n.closeStores()
	})
	return err
}

func (n *Node) closeStores() {
	if n.store != nil {
		n.store.Close()
	}
}

// FSM exposes the state machine for queries.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// Raft exposes the raft instance (status, tests, benchmarks).
func (n *Node) Raft() *raft.Raft { return n.raft }

// Config returns the node's configuration.
func (n *Node) Config() Config { return n.cfg }

// ID is this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// LeaderID returns the current leader's id, or "" when unknown.
func (n *Node) LeaderID() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// LeaderGRPC returns the leader's gRPC address from the replicated
// member records, or "" when there is no known leader.
func (n *Node) LeaderGRPC() string {
	id := n.LeaderID()
	if id == "" {
		return ""
	}
	if id == n.cfg.NodeID {
		return n.cfg.GRPCAddr
	}
	if m, ok := n.fsm.Member(id); ok {
		return m.GRPCAddress
	}
	return ""
}

// stamp is the leader's time for a new command: never behind the time
// already in the state, so leader changes never move time backwards.
func (n *Node) stamp() int64 {
	now := n.Now().UnixNano()
	if c := n.fsm.Clock(); c >= now {
		return c + 1
	}
	return now
}

// SetApplyObserver makes f hear how long each command took from
// raft.Apply until the state machine's result. f must be fast.
func (n *Node) SetApplyObserver(f func(time.Duration)) { n.observeApply.Store(&f) }

func (n *Node) removeDataDir() error { return os.RemoveAll(n.cfg.DataDir) }
