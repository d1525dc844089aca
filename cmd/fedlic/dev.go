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

// devDomain is one three-node domain of the demo federation.
type devDomain struct {
	name   string
	scope  string
	agents []*api.Agent
}

func (d *devDomain) addr(i int) string { return d.agents[i].Addr() }

func devCmd() *cobra.Command {
	var dataDir, host string
	var grpcBase, raftBase, gossipBase int
	c := &cobra.Command{
		Use:   "dev",
		Short: "Run a demo federation on loopback (domains acme and partner, three nodes each) until Ctrl-C",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				d, err := os.MkdirTemp("", "fedlic-dev-")
				if err != nil {
					return fail("%v", err)
				}
				dataDir = d
				defer os.RemoveAll(d)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			domains := []*devDomain{{name: "acme", scope: "acme/*"}, {name: "partner", scope: "partner/*"}}
			defer func() {
				for _, d := range domains {
					for _, a := range d.agents {
						a.Stop()
					}
				}
			}()
			seed := fmt.Sprintf("%s:%d", host, gossipBase)
			for i, d := range domains {
				if err := startDevDomain(ctx, d, dataDir, host, grpcBase+10*i, raftBase+10*i, gossipBase+10*i, seed); err != nil {
					return fail("%v", err)
				}
			}
			if err := federateDev(ctx, domains[0], domains[1]); err != nil {
				return fail("set up mutual trust: %v", err)
			}
			ids, tokens, err := seedDev(ctx, domains)
			if err != nil {
				return fail("issue sample licenses: %v", err)
			}
			printDevHelp(domains, dataDir, ids, tokens)
			<-ctx.Done()
			fmt.Println("\nstopping the dev federation")
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data-dir", "", "keep data here (default: a temporary folder removed on exit)")
	c.Flags().StringVar(&host, "host", "127.0.0.1", "loopback address to bind")
	c.Flags().IntVar(&grpcBase, "grpc-port", 7400, "first gRPC port: acme uses it and the next two, partner the same +10")
	c.Flags().IntVar(&raftBase, "raft-port", 7500, "first raft port: acme uses it and the next two, partner the same +10")
	c.Flags().IntVar(&gossipBase, "gossip-port", 7600, "first gossip port (TCP and UDP): acme uses it and the next two, partner the same +10")
	return c
}

func startDevDomain(ctx context.Context, d *devDomain, dir, host string, grpcBase, raftBase, gossipBase int, seed string) error {
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("%s-%d", d.name, i+1)
		cfg := node.Config{
			Domain: d.name, NodeID: id, DataDir: filepath.Join(dir, id), Scope: []string{d.scope},
			RaftAddr: fmt.Sprintf("%s:%d", host, raftBase+i), GRPCAddr: fmt.Sprintf("%s:%d", host, grpcBase+i),
			Bootstrap: i == 0, GossipAddr: fmt.Sprintf("%s:%d", host, gossipBase+i), GossipFast: true,
		}
		if cfg.GossipAddr != seed {
			cfg.GossipJoin = []string{seed}
		}
		if i > 0 {
			cfg.Join = []string{d.addr(0)}
		}
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return err
		}
		logf, err := os.OpenFile(filepath.Join(cfg.DataDir, "agent.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		logger := hclog.New(&hclog.LoggerOptions{Name: "fedlic", Level: hclog.Info, Output: logf}).With("node", id)
		jctx, cancel := context.WithTimeout(ctx, time.Minute)
		a, err := api.StartAgent(jctx, cfg, logger)
		cancel()
		if err != nil {
			return fmt.Errorf("start %s: %w", id, err)
		}
		d.agents = append(d.agents, a)
		if i == 0 {
			if err := waitDomainKeys(ctx, a.Addr()); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitDomainKeys waits until the domain has a leader and its keys.
func waitDomainKeys(ctx context.Context, addr string) error {
	cl, err := client.Dial(addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if _, err := cl.Domain.Status(wctx, &pb.DomainStatusRequest{}); err == nil {
			return nil
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("domain at %s has no keys yet: %w", addr, wctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func withClient(addr string, fn func(*client.Client) error) error {
	cl, err := client.Dial(addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	return fn(cl)
}

// federateDev makes each domain trust the other for the other's scope.
func federateDev(ctx context.Context, a, b *devDomain) error {
	for _, pair := range [][2]*devDomain{{a, b}, {b, a}} {
		truster, peer := pair[0], pair[1]
		err := withClient(peer.addr(0), func(pc *client.Client) error {
			st, err := pc.Domain.Status(ctx, &pb.DomainStatusRequest{})
			if err != nil {
				return err
			}
			return withClient(truster.addr(0), func(tc *client.Client) error {
				_, err := tc.Trust.Add(ctx, &pb.TrustAddRequest{Entry: &pb.TrustEntry{Domain: peer.name,
					RootFingerprint: st.GetRootFingerprint(), Scope: []string{peer.scope}, MaxStalenessNano: int64(time.Hour)}})
				return err
			})
		})
		if err != nil {
			return err
		}
		// Gossip would deliver it within seconds; push once so the
		// first cross-domain check works at once.
		if err := pushAnchor(ctx, peer, truster); err != nil {
			return err
		}
	}
	return nil
}

// pushAnchor hands from's current anchor to to directly.
func pushAnchor(ctx context.Context, from, to *devDomain) error {
	return withClient(from.addr(0), func(fc *client.Client) error {
		an, err := fc.Domain.Anchor(ctx, &pb.AnchorRequest{})
		if err != nil {
			return err
		}
		return withClient(to.addr(0), func(tc *client.Client) error {
			_, err := tc.Federation.PushAnchor(ctx, &pb.PushAnchorRequest{AnchorJson: an.GetAnchorJson()})
			return err
		})
	})
}

func seedDev(ctx context.Context, domains []*devDomain) (ids map[string][]string, tokens map[string]string, err error) {
	ids, tokens = map[string][]string{}, map[string]string{}
	year := (365 * 24 * time.Hour).Milliseconds()
	samples := map[string][]*pb.IssueRequest{
		"acme": {
			{Licensee: "globex", Product: "acme/db", Entitlements: []*pb.Entitlement{client.Count("seats", 25), client.Flag("backup", true)}, ExpiresInMs: year},
			{Licensee: "initech", Product: "acme/db", Entitlements: []*pb.Entitlement{client.Count("seats", 5), client.Flag("backup", false)}},
			{Licensee: "initech", Product: "acme/queue", Entitlements: []*pb.Entitlement{client.Count("msgs_per_day", 1000000)}, Metadata: map[string]string{"plan": "gold"}},
		},
		"partner": {
			{Licensee: "globex", Product: "partner/analytics", Entitlements: []*pb.Entitlement{client.Count("dashboards", 10)}, ExpiresInMs: year},
		},
	}
	for _, d := range domains {
		err := withClient(d.addr(0), func(cl *client.Client) error {
			for _, s := range samples[d.name] {
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				r, err := cl.Issue(wctx, s)
				cancel()
				if err != nil {
					return err
				}
				ids[d.name] = append(ids[d.name], r.GetLicense().GetId())
				if tokens[d.name] == "" {
					tokens[d.name] = r.GetToken()
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return ids, tokens, nil
}

func printDevHelp(domains []*devDomain, dir string, ids map[string][]string, tokens map[string]string) {
	fmt.Println("fedlic dev: a federation of two license domains is running on loopback")
	for _, d := range domains {
		fmt.Printf("  domain %s (scope %s)\n", d.name, d.scope)
		for _, a := range d.agents {
			fmt.Printf("    %-10s grpc %s  raft %s\n", a.Node.ID(), a.Addr(), a.Node.Config().RaftAddr)
		}
	}
	fmt.Printf("  data and logs in %s\n\n", dir)
	fmt.Printf("sample licenses: acme %v, partner %v\n", ids["acme"], ids["partner"])
	fmt.Println("each domain trusts the other for the other's scope only; anchors and revocations travel by gossip")
	a, p := domains[0].addr(1), domains[1].addr(1)
	fmt.Printf("\ntry, in another terminal:\n")
	fmt.Printf("  fedlic cluster status --addr %s\n", a)
	fmt.Printf("  fedlic check --addr %s --licensee globex --product acme/db --feature seats --amount 10\n", a)
	fmt.Printf("  fedlic check --addr %s --licensee initech --product acme/db --feature backup\n", a)
	fmt.Printf("  fedlic license list --addr %s --licensee initech\n", a)
	fmt.Printf("  fedlic domain status --addr %s\n", p)
	fmt.Printf("  fedlic trust list --addr %s\n", a)
	fmt.Printf("  # a partner license checked by acme (cross-domain):\n")
	fmt.Printf("  fedlic license verify --addr %s %s\n", a, tokens["partner"])
	fmt.Printf("  fedlic check --addr %s --token %s --feature dashboards --amount 3\n", a, tokens["partner"])
	fmt.Printf("  fedlic license revoke --addr %s %s --reason 'contract ended'\n", a, ids["acme"][0])
	fmt.Printf("  # revoke it in partner, then repeat the cross-domain check on acme:\n")
	fmt.Printf("  fedlic license revoke --addr %s %s --reason 'contract ended'\n", p, ids["partner"][0])
	fmt.Println("\nready; press Ctrl-C to stop")
}
