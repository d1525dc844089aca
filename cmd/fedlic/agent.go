package main

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fedlic/fedlic/api"
	"github.com/fedlic/fedlic/node"
	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func agentCmd() *cobra.Command {
	var file string
	var flagCfg node.Config
	var voter bool
	var join []string
	c := &cobra.Command{
		Use:   "agent --domain D --node-id ID --data-dir DIR --raft-addr H:P --grpc-addr H:P [--bootstrap | --join H:P,...]",
		Short: "Run one member of a license domain",
		Long: `Run one member of a license domain.

Start the first member with --bootstrap and the others with --join (gRPC
addresses of members). Restarting with the same command line resumes from
--data-dir without bootstrapping or joining again. Flags override the
keys of the same name (with underscores) in --config FILE.hcl.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := node.Config{}
			if file != "" {
				fc, err := node.LoadFile(file)
				if err != nil {
					return fail("%v", err)
				}
				cfg = *fc
			}
			flagCfg.Join = join
			if cmd.Flags().Changed("voter") {
				flagCfg.Voter = &voter
			}
			mergeFlags(&cfg, &flagCfg, cmd.Flags())
			if err := cfg.Validate(); err != nil {
				return fail("invalid agent configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
			}
			return runAgent(cfg)
		},
	}
	f := c.Flags()
	f.StringVar(&file, "config", "", "HCL config file (flags override it)")
	f.StringVar(&flagCfg.Domain, "domain", "", "license domain name, e.g. acme")
	f.StringVar(&flagCfg.NodeID, "node-id", "", "this member's id, stable across restarts")
	f.StringVar(&flagCfg.DataDir, "data-dir", "", "folder for the raft log, snapshots and state")
	f.StringVar(&flagCfg.RaftAddr, "raft-addr", "", "host:port for raft traffic")
	f.StringVar(&flagCfg.GRPCAddr, "grpc-addr", "", "host:port for the gRPC API")
	f.BoolVar(&flagCfg.Bootstrap, "bootstrap", false, "bootstrap a new domain with this node (first node only)")
	f.StringSliceVar(&join, "join", nil, "gRPC addresses of members to join through")
	f.BoolVar(&voter, "voter", true, "join as a voter; --voter=false makes a read replica")
	f.StringSliceVar(&flagCfg.Scope, "scope", nil, "product patterns this domain may license, e.g. acme/* (default *)")
	f.StringVar(&flagCfg.HTTPAddr, "http-addr", "", "host:port for Prometheus /metrics and /debug/pprof (off when empty)")
	f.StringVar(&flagCfg.GossipAddr, "gossip-addr", "", "host:port for the federation gossip pool (off when empty)")
	f.StringSliceVar(&flagCfg.GossipJoin, "gossip-join", nil, "gossip addresses of any federation members to join")
	f.StringVar(&flagCfg.LogLevel, "log-level", "", "trace, debug, info (default), warn, error")
	f.BoolVar(&flagCfg.LogJSON, "log-json", false, "log as JSON lines")
	f.StringVar(&flagCfg.HeartbeatTimeout, "heartbeat-timeout", "", "raft heartbeat timeout (default 300ms)")
	f.StringVar(&flagCfg.ElectionTimeout, "election-timeout", "", "raft election timeout (default 300ms)")
	f.StringVar(&flagCfg.CommitTimeout, "commit-timeout", "", "raft commit timeout (default 5ms)")
	f.Uint64Var(&flagCfg.SnapshotThreshold, "snapshot-threshold", 0, "log entries between snapshots (default 8192)")
	return c
}

// mergeFlags copies every flag the user set onto cfg.
func mergeFlags(cfg, fl *node.Config, fs *pflag.FlagSet) {
	set := func(name string, apply func()) {
		if fs.Changed(name) {
			apply()
		}
	}
	set("domain", func() { cfg.Domain = fl.Domain })
	set("node-id", func() { cfg.NodeID = fl.NodeID })
	set("data-dir", func() { cfg.DataDir = fl.DataDir })
	set("raft-addr", func() { cfg.RaftAddr = fl.RaftAddr })
	set("grpc-addr", func() { cfg.GRPCAddr = fl.GRPCAddr })
	set("bootstrap", func() { cfg.Bootstrap = fl.Bootstrap })
	set("join", func() { cfg.Join = fl.Join })
	set("voter", func() { cfg.Voter = fl.Voter })
	set("scope", func() { cfg.Scope = fl.Scope })
	set("http-addr", func() { cfg.HTTPAddr = fl.HTTPAddr })
	set("gossip-addr", func() { cfg.GossipAddr = fl.GossipAddr })
	set("gossip-join", func() { cfg.GossipJoin = fl.GossipJoin })
	set("log-level", func() { cfg.LogLevel = fl.LogLevel })
	set("log-json", func() { cfg.LogJSON = fl.LogJSON })
	set("heartbeat-timeout", func() { cfg.HeartbeatTimeout = fl.HeartbeatTimeout })
	set("election-timeout", func() { cfg.ElectionTimeout = fl.ElectionTimeout })
	set("commit-timeout", func() { cfg.CommitTimeout = fl.CommitTimeout })
	set("snapshot-threshold", func() { cfg.SnapshotThreshold = fl.SnapshotThreshold })
}

func newLogger(cfg node.Config) hclog.Logger {
	level := cfg.LogLevel
	if level == "" {
		level = "info"
	}
	return hclog.New(&hclog.LoggerOptions{
		Name: "fedlic", Level: hclog.LevelFromString(level), JSONFormat: cfg.LogJSON, Output: os.Stderr,
	}).With("node", cfg.NodeID)
}

func runAgent(cfg node.Config) error {
	logger := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	joinCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	a, err := api.StartAgent(joinCtx, cfg, logger)
	cancel()
	if err != nil {
		return fail("%v", err)
	}
	logger.Info("agent running", "domain", cfg.Domain, "grpc", a.Addr(), "raft", cfg.RaftAddr, "data_dir", cfg.DataDir)
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-a.Done():
		if err != nil {
			logger.Error("grpc server stopped", "error", err)
		}
	}
	a.Stop()
	return nil
}
