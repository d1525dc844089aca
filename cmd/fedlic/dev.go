package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fedlic/fedlic/api"
	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
	"github.com/fedlic/fedlic/node"
	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
)

func devCmd() *cobra.Command {
	var dataDir, domain, host string
	var grpcBase, raftBase int
	c := &cobra.Command{
		Use:   "dev",
		Short: "Run a three-node demo domain on loopback until Ctrl-C",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keep := dataDir != ""
			if !keep {
				d, err := os.MkdirTemp("", "fedlic-dev-")
				if err != nil {
					return fail("%v", err)
				}
				dataDir = d
				defer os.RemoveAll(d)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			agents, err := startDevDomain(ctx, dataDir, domain, host, grpcBase, raftBase)
			defer func() {
				for _, a := range agents {
					a.Stop()
				}
			}()
			if err != nil {
				return fail("%v", err)
			}
			addr := agents[0].Addr()
			ids, err := seedDev(ctx, addr)
			if err != nil {
				return fail("issue sample licenses: %v", err)
			}
			printDevHelp(agents, dataDir, ids)
			<-ctx.Done()
			fmt.Println("\nstopping the dev domain")
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data-dir", "", "keep data here (default: a temporary folder removed on exit)")
	c.Flags().StringVar(&domain, "domain", "acme", "domain name")
	c.Flags().StringVar(&host, "host", "127.0.0.1", "loopback address to bind")
	c.Flags().IntVar(&grpcBase, "grpc-port", 7400, "first gRPC port (three consecutive ports)")
	c.Flags().IntVar(&raftBase, "raft-port", 7500, "first raft port (three consecutive ports)")
	return c
}

func startDevDomain(ctx context.Context, dir, domain, host string, grpcBase, raftBase int) ([]*api.Agent, error) {
	var agents []*api.Agent
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("node%d", i+1)
		cfg := node.Config{
			Domain: domain, NodeID: id, DataDir: filepath.Join(dir, id),
			RaftAddr: fmt.Sprintf("%s:%d", host, raftBase+i), GRPCAddr: fmt.Sprintf("%s:%d", host, grpcBase+i),
			Bootstrap: i == 0,
		}
		if i > 0 {
			cfg.Join = []string{agents[0].Addr()}
		}
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return agents, err
		}
		logf, err := os.OpenFile(filepath.Join(cfg.DataDir, "agent.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return agents, err
		}
		logger := hclog.New(&hclog.LoggerOptions{Name: "fedlic", Level: hclog.Info, Output: logf}).With("node", id)
		jctx, cancel := context.WithTimeout(ctx, time.Minute)
		a, err := api.StartAgent(jctx, cfg, logger)
		cancel()
		if err != nil {
			return agents, fmt.Errorf("start %s: %w", id, err)
		}
		agents = append(agents, a)
		if i == 0 {
			if err := waitLeader(ctx, a.Addr()); err != nil {
				return agents, err
			}
		}
	}
	return agents, nil
}

func waitLeader(ctx context.Context, addr string) error {
	cl, err := client.Dial(addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = cl.WaitLeader(wctx)
	return err
}

func seedDev(ctx context.Context, addr string) ([]string, error) {
	cl, err := client.Dial(addr)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	samples := []*pb.IssueRequest{
		{Licensee: "globex", Product: "acme/db", Entitlements: []*pb.Entitlement{client.Count("seats", 25), client.Flag("backup", true)}, ExpiresInMs: (365 * 24 * time.Hour).Milliseconds()},
		{Licensee: "initech", Product: "acme/db", Entitlements: []*pb.Entitlement{client.Count("seats", 5), client.Flag("backup", false)}},
		{Licensee: "initech", Product: "acme/queue", Entitlements: []*pb.Entitlement{client.Count("msgs_per_day", 1000000)}, Metadata: map[string]string{"plan": "gold"}},
	}
	var ids []string
	for _, s := range samples {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r, err := cl.Issue(wctx, s)
		cancel()
		if err != nil {
			return ids, err
		}
		ids = append(ids, r.GetLicense().GetId())
	}
	return ids, nil
}

func printDevHelp(agents []*api.Agent, dir string, ids []string) {
	fmt.Println("fedlic dev: a three-node license domain is running on loopback")
	for _, a := range agents {
		fmt.Printf("  %-6s grpc %s  raft %s\n", a.Node.ID(), a.Addr(), a.Node.Config().RaftAddr)
	}
	fmt.Printf("  data and logs in %s\n\n", dir)
	fmt.Printf("sample licenses: %v\n\ntry, in another terminal:\n", ids)
	a := agents[1].Addr()
	fmt.Printf("  fedlic cluster status --addr %s\n", a)
	fmt.Printf("  fedlic check --addr %s --licensee globex --product acme/db --feature seats --amount 10\n", a)
	fmt.Printf("  fedlic check --addr %s --licensee initech --product acme/db --feature backup\n", a)
	fmt.Printf("  fedlic license list --addr %s --licensee initech\n", a)
	fmt.Printf("  fedlic license issue --addr %s --licensee hooli --product acme/db --feature seats=3 --expires-in 720h\n", a)
	fmt.Printf("  fedlic license revoke --addr %s %s --reason 'contract ended'\n", a, ids[0])
	fmt.Println("\nready; press Ctrl-C to stop")
}
