package main

import (
	"os"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/spf13/cobra"
)

func federationCmd() *cobra.Command {
	c := &cobra.Command{Use: "federation", Short: "Peer domains: their anchors as this domain has stored them"}
	var pf, lf clientFlags
	push := &cobra.Command{
		Use:   "push-anchor FILE",
		Short: "Hand this domain a peer's anchor (from 'fedlic domain anchor' on the peer); checked against the trust policy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return fail("%v", err)
			}
			cl, ctx, done, err := pf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Federation.PushAnchor(ctx, &pb.PushAnchorRequest{AnchorJson: string(b)})
			if err != nil {
				return rpcError(err)
			}
			return pf.print(map[string]any{"domain": r.GetDomain(), "anchor_serial": r.GetSerial(), "unchanged": r.GetUnchanged(), "index": r.GetIndex()})
		},
	}
	addClientFlags(push, &pf)
	domains := &cobra.Command{
		Use: "domains", Short: "Trusted peer domains and the anchor serial stored for each", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, ctx, done, err := lf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Federation.Peers(ctx, &pb.PeersRequest{})
			if err != nil {
				return rpcError(err)
			}
			out := []map[string]any{}
			for _, p := range r.GetPeers() {
				out = append(out, map[string]any{"domain": p.GetDomain(), "trusted": p.GetTrusted(), "root_fingerprint": p.GetRootFingerprint(),
					"anchor_serial": p.GetAnchorSerial(), "anchor_received": timeStr(p.GetReceivedUnixNano()),
					"live": nonNil(p.GetLiveMembers()), "dead": nonNil(p.GetDeadMembers()),
					"revocation_watermark": p.GetRevocationWatermark()})
			}
			return lf.print(map[string]any{"domains": out})
		},
	}
	addClientFlags(domains, &lf)
	c.AddCommand(push, domains)
	return c
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
