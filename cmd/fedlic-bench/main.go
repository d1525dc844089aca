// Command fedlic-bench measures fedlic beside the physical limit it
// stands on, in the same run: bare gRPC (the standard health check) for
// reads, bare hashicorp/raft with raft-boltdb and a no-op FSM for writes
// and failover. Each subcommand starts what it measures on loopback in
// temporary folders (three real `fedlic agent` processes unless said).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func main() {
	var o opts
	var jsonOut bool
	var clients []int
	var docs string
	rep := &reporter{}
	root := &cobra.Command{Use: "fedlic-bench", Short: "fedlic benchmarks with same-run baselines", SilenceUsage: true}
	root.PersistentFlags().DurationVar(&o.duration, "duration", 5*time.Second, "measured time per point")
	root.PersistentFlags().DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up per point")
	root.PersistentFlags().IntSliceVar(&clients, "clients", nil, "concurrent clients (default per bench)")
	root.PersistentFlags().BoolVar(&jsonOut, "json", false, "one JSON object per figure on stdout")
	root.PersistentFlags().IntVar(&o.rounds, "rounds", 10, "failover kills / revoke rounds (x5)")
	root.PersistentFlags().IntVar(&o.trusting, "trusting", 2, "trusting domains (x3 agents) the revoke bench spreads a revocation to (0: none)")
	root.PersistentFlags().IntVar(&o.licenses, "licenses", 1000000, "licenses for the snapshot bench")
	root.PersistentFlags().IntVar(&gossipDomains, "domains", 30, "domains (x3 pool members, one process) for the gossip bench")
	root.PersistentFlags().StringVar(&o.bin, "fedlic", "", "path of the fedlic binary (default: beside this one, or bin/fedlic)")
	benches := map[string]struct {
		fn      func(context.Context, opts, *reporter) error
		clients []int
	}{
		"check":      {benchCheck, []int{1, 8, 64}},
		"write":      {benchWrite, []int{1, 16, 64, 256}},
		"failover":   {benchFailover, nil},
		"revoke":     {benchRevoke, nil},
		"snapshot":   {benchSnapshot, nil},
		"gossip":     {benchGossip, nil},
		"federation": {benchFederation, nil},
	}
	runOne := func(name string) error {
		b := benches[name]
		oo := o
		oo.clients = b.clients
		if len(clients) > 0 {
			oo.clients = clients
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		return b.fn(ctx, oo, rep)
	}
	prep := func() error {
		rep.json = jsonOut
		if name := strings.Fields(os.Args[1:][0])[0]; name == "gossip" {
			return nil
		}
		bin, err := findFedlic(o.bin)
		o.bin = bin
		return err
	}
	for _, name := range []string{"check", "write", "failover", "revoke", "snapshot", "gossip", "federation"} {
		name := name
		root.AddCommand(&cobra.Command{
			Use: name, Short: "run the " + name + " benchmark", Args: cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				if err := prep(); err != nil {
					return err
				}
				if err := runOne(name); err != nil {
					return err
				}
				if !jsonOut {
					fmt.Print(rep.table())
				}
				return nil
			},
		})
	}
	all := &cobra.Command{
		Use: "all", Short: "run every benchmark and rewrite docs/benchmarks.md", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := prep(); err != nil {
				return err
			}
			for _, name := range []string{"check", "write", "failover", "revoke", "snapshot", "gossip", "federation"} {
				if err := runOne(name); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			if !jsonOut {
				fmt.Print(rep.table())
			}
			if docs == "" {
				return nil
			}
			return writeDocs(docs, rep)
		},
	}
	all.Flags().StringVar(&docs, "docs", "docs/benchmarks.md", "file to rewrite with the results ('' to skip)")
	root.AddCommand(all, bareNodeCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "fedlic-bench:", err)
		os.Exit(1)
	}
}

func machine() string {
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"))
	}
	return fmt.Sprintf("%d cores, %s memory, %s %s/%s, disk: the filesystem of $TMPDIR (%s)", runtime.NumCPU(), mem, runtime.Version(), runtime.GOOS, runtime.GOARCH, os.TempDir())
}

const docsMarker = "<!-- fedlic-bench all: generated section below -->"

func writeDocs(path string, rep *reporter) error {
	head := "# Benchmarks\n\n"
	if b, err := os.ReadFile(path); err == nil {
		if i := strings.Index(string(b), docsMarker); i >= 0 {
			head = string(b[:i])
		}
	}
	body := fmt.Sprintf("%s\n\nLast run: %s, `%s`\n\nMachine: %s\n\n%s", docsMarker, time.Now().UTC().Format(time.RFC3339),
		strings.Join(os.Args, " "), machine(), rep.markdown())
	return os.WriteFile(path, []byte(head+body), 0o644)
}
