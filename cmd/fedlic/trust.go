package main

import (
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/spf13/cobra"
)

func trustJSON(e *pb.TrustEntry) map[string]any {
	onStale := "deny"
	if e.GetAllowOnStale() {
		onStale = "allow"
	}
	return map[string]any{"domain": e.GetDomain(), "root_fingerprint": e.GetRootFingerprint(), "scope": e.GetScope(),
		"on_stale": onStale, "max_staleness": time.Duration(e.GetMaxStalenessNano()).String(), "added": timeStr(e.GetAddedUnixNano())}
}

func trustCmd() *cobra.Command {
	c := &cobra.Command{Use: "trust", Short: "Which peer domains this domain trusts, and for which products"}
	var af, lf, rf clientFlags
	var domain, fp, onStale string
	var scopes []string
	var maxStale time.Duration
	add := &cobra.Command{
		Use:   "add --domain B --root-fingerprint HEX --scope 'b/*' [--scope ...] [--on-stale allow|deny] [--max-staleness D]",
		Short: "Trust a peer domain's root key for a product scope (replaces an existing entry)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if onStale != "allow" && onStale != "deny" {
				return fail("--on-stale %q: use allow or deny", onStale)
			}
			if maxStale < 0 {
				return fail("--max-staleness must not be negative")
			}
			cl, ctx, done, err := af.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Trust.Add(ctx, &pb.TrustAddRequest{Entry: &pb.TrustEntry{Domain: domain, RootFingerprint: fp, Scope: scopes,
				AllowOnStale: onStale == "allow", MaxStalenessNano: int64(maxStale)}})
			if err != nil {
				return rpcError(err)
			}
			return af.print(map[string]any{"domain": domain, "index": r.GetIndex()})
		},
	}
	addClientFlags(add, &af)
	add.Flags().StringVar(&domain, "domain", "", "peer domain name (required)")
	add.Flags().StringVar(&fp, "root-fingerprint", "", "the peer's root fingerprint, as its operator gave it to you (required)")
	add.Flags().StringArrayVar(&scopes, "scope", nil, "product pattern granted to the peer, e.g. 'partner/*' (repeatable, required)")
	add.Flags().StringVar(&onStale, "on-stale", "deny", "when the peer's data is older than --max-staleness: allow or deny")
	add.Flags().DurationVar(&maxStale, "max-staleness", time.Hour, "how old the peer's anchor and revocations may get")
	list := &cobra.Command{
		Use: "list", Short: "Show the trust policy", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, ctx, done, err := lf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Trust.List(ctx, &pb.TrustListRequest{})
			if err != nil {
				return rpcError(err)
			}
			out := []map[string]any{}
			for _, e := range r.GetEntries() {
				out = append(out, trustJSON(e))
			}
			return lf.print(map[string]any{"trust": out, "index": r.GetMeta().GetIndex()})
		},
	}
	addClientFlags(list, &lf)
	var rdomain string
	remove := &cobra.Command{
		Use: "remove --domain B", Short: "Stop trusting a peer domain", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rdomain == "" {
				return fail("--domain is required")
			}
			cl, ctx, done, err := rf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Trust.Remove(ctx, &pb.TrustRemoveRequest{Domain: rdomain})
			if err != nil {
				return rpcError(err)
			}
			return rf.print(map[string]any{"removed": rdomain, "index": r.GetIndex()})
		},
	}
	addClientFlags(remove, &rf)
	remove.Flags().StringVar(&rdomain, "domain", "", "peer domain to forget")
	c.AddCommand(add, list, remove)
	return c
}
