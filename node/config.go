package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/fedlic/fedlic/license"
	"github.com/hashicorp/hcl/v2/hclsimple"
)

// Config is one agent's configuration. The HCL file uses the same keys as
// the command-line flags (with underscores); flags override the file.
// Zero durations mean "fedlic's default" (see Defaults).
type Config struct {
	Domain    string   `hcl:"domain,optional"`
	NodeID    string   `hcl:"node_id,optional"`
	DataDir   string   `hcl:"data_dir,optional"`
	RaftAddr  string   `hcl:"raft_addr,optional"`
	GRPCAddr  string   `hcl:"grpc_addr,optional"`
	Bootstrap bool     `hcl:"bootstrap,optional"`
	Join      []string `hcl:"join,optional"`
	Voter     *bool    `hcl:"voter,optional"`
	Scope     []string `hcl:"scope,optional"` // products this domain may license; default ["*"]

	HTTPAddr   string   `hcl:"http_addr,optional"`   // host:port for /metrics and /debug/pprof; empty: off
	GossipAddr string   `hcl:"gossip_addr,optional"` // host:port for the federation pool; empty: no gossip
	GossipJoin []string `hcl:"gossip_join,optional"`
	GossipFast bool     `hcl:"gossip_fast,optional"` // memberlist's LAN timing (one host, tests)
	LogLevel   string   `hcl:"log_level,optional"`
	LogJSON    bool     `hcl:"log_json,optional"`

	// Raft tuning. Strings in the file ("300ms"), durations in code.
	HeartbeatTimeout   string `hcl:"heartbeat_timeout,optional"`
	ElectionTimeout    string `hcl:"election_timeout,optional"`
	LeaderLeaseTimeout string `hcl:"leader_lease_timeout,optional"`
	CommitTimeout      string `hcl:"commit_timeout,optional"`
	SnapshotInterval   string `hcl:"snapshot_interval,optional"`
	SnapshotThreshold  uint64 `hcl:"snapshot_threshold,optional"`
	TrailingLogs       uint64 `hcl:"trailing_logs,optional"`
	MaxAppendEntries   int    `hcl:"max_append_entries,optional"`
	NoFsync            bool   `hcl:"no_fsync,optional"` // tests only: never in production

	// MaxRequestBytes caps one gRPC message (default 4 MiB).
	MaxRequestBytes int `hcl:"max_request_bytes,optional"`
}

// Timing holds the parsed durations of a Config.
type Timing struct {
	Heartbeat, Election, LeaderLease, Commit, SnapshotInterval time.Duration
}

// Defaults tuned for fast failover on small clusters (see docs/): a
// leader kill is noticed in about 300 ms; CommitTimeout is low so
// followers learn commits (and revocations) within a few milliseconds.
var Defaults = Timing{
	Heartbeat:        300 * time.Millisecond,
	Election:         300 * time.Millisecond,
	LeaderLease:      300 * time.Millisecond,
	Commit:           5 * time.Millisecond,
	SnapshotInterval: 120 * time.Second,
}

// DefaultMaxAppendEntries lets one append (and one fsync on each
// follower) carry more writes under load than raft's default of 64.
const DefaultMaxAppendEntries = 256

// LoadFile reads an HCL config file. Unknown keys are errors.
func LoadFile(path string) (*Config, error) {
	var c Config
	if err := hclsimple.DecodeFile(path, nil, &c); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return &c, nil
}

// IsVoter reports whether the node joins as a voter (the default).
func (c *Config) IsVoter() bool { return c.Voter == nil || *c.Voter }

// Timing parses the duration settings, applying defaults for empty ones.
func (c *Config) Timing() (Timing, error) {
	t := Defaults
	fields := []struct {
		name string
		v    string
		dst  *time.Duration
	}{
		{"heartbeat_timeout", c.HeartbeatTimeout, &t.Heartbeat},
		{"election_timeout", c.ElectionTimeout, &t.Election},
		{"leader_lease_timeout", c.LeaderLeaseTimeout, &t.LeaderLease},
		{"commit_timeout", c.CommitTimeout, &t.Commit},
		{"snapshot_interval", c.SnapshotInterval, &t.SnapshotInterval},
	}
	for _, f := range fields {
		if f.v == "" {
			continue
		}
		d, err := time.ParseDuration(f.v)
		if err != nil || d <= 0 {
			return t, fmt.Errorf("%s %q is not a positive duration: write it like \"300ms\" or \"2s\"", f.name, f.v)
		}
		*f.dst = d
	}
	if t.LeaderLease > t.Heartbeat {
		return t, fmt.Errorf("leader_lease_timeout (%s) must not exceed heartbeat_timeout (%s)", t.LeaderLease, t.Heartbeat)
	}
	return t, nil
}

// Validate checks the config and says what to fix.
func (c *Config) Validate() error {
	var errs []error
	need := func(v, flag string) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("%s is required", flag))
		}
	}
	need(c.Domain, "--domain")
	need(c.NodeID, "--node-id")
	need(c.DataDir, "--data-dir")
	need(c.RaftAddr, "--raft-addr")
	need(c.GRPCAddr, "--grpc-addr")
	for _, a := range []struct{ flag, v string }{{"--raft-addr", c.RaftAddr}, {"--grpc-addr", c.GRPCAddr}} {
		if a.v == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.v); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("%s %q is not host:port", a.flag, a.v))
		}
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			errs = append(errs, fmt.Errorf("--join %q is not host:port (give the gRPC address of a member)", j))
		}
	}
	if c.Bootstrap && len(c.Join) > 0 {
		errs = append(errs, errors.New("--bootstrap and --join exclude each other: bootstrap the first node, join the others"))
	}
	if c.Bootstrap && !c.IsVoter() {
		errs = append(errs, errors.New("--bootstrap needs a voter: drop --voter=false"))
	}
	if c.LogLevel != "" && !validLevel(c.LogLevel) {
		errs = append(errs, fmt.Errorf("log_level %q: use trace, debug, info, warn or error", c.LogLevel))
	}
	if err := license.ValidateScope(c.Scope); err != nil {
		errs = append(errs, fmt.Errorf("--scope: %w", err))
	}
	if c.MaxRequestBytes < 0 {
		errs = append(errs, errors.New("max_request_bytes must not be negative"))
	}
	if _, err := c.Timing(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func validLevel(l string) bool {
	switch strings.ToLower(l) {
	case "trace", "debug", "info", "warn", "error":
		return true
	}
	return false
}

// dataDirUsable creates the data folder if needed, owner-only.
func dataDirUsable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	return nil
}
