package main

import (
	"os"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/spf13/cobra"
)

func memberJSON(ms []*pb.Member) []map[string]any {
	out := []map[string]any{}
	for _, m := range ms {
		out = append(out, map[string]any{"id": m.GetId(), "address": m.GetRaftAddress(), "grpc_address": m.GetGrpcAddress(),
			"voter": m.GetVoter(), "state": m.GetState()})
	}
	return out
}

func clusterCmd() *cobra.Command {
	c := &cobra.Command{Use: "cluster", Short: "Inspect and change the domain's members"}
	var sf, mf, rf, tf clientFlags
	var withHash bool
	status := &cobra.Command{
		Use: "status", Short: "Show this node's view of the domain", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, ctx, done, err := sf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			get := cl.Status
			if withHash {
				get = cl.StatusWithHash
			}
			s, err := get(ctx)
			if err != nil {
				return rpcError(err)
			}
			out := map[string]any{
				"domain": s.GetDomain(), "node_id": s.GetNodeId(), "leader_id": s.GetLeaderId(), "leader_address": s.GetLeaderAddress(),
				"term": s.GetTerm(), "applied_index": s.GetAppliedIndex(), "commit_index": s.GetCommitIndex(),
				"state": s.GetState(), "last_contact_ms": s.GetLastContactMs(), "members": memberJSON(s.GetMembers()),
			}
			if withHash {
				out["state_hash"] = s.GetStateHash()
			}
			return sf.print(out)
		},
	}
	addClientFlags(status, &sf)
	status.Flags().BoolVar(&withHash, "hash", false, "also print state_hash, a digest of the whole state (compare replicas); O(licenses) work on the node")
	members := &cobra.Command{
		Use: "members", Short: "List the domain's servers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, ctx, done, err := mf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Cluster.Members(ctx, &pb.MembersRequest{})
			if err != nil {
				return rpcError(err)
			}
			return mf.print(map[string]any{"members": memberJSON(r.GetMembers())})
		},
	}
	addClientFlags(members, &mf)
	remove := &cobra.Command{
		Use: "remove NODE_ID", Short: "Remove a server from the domain", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, ctx, done, err := rf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Cluster.Remove(ctx, &pb.RemoveRequest{NodeId: args[0]})
			if err != nil {
				return rpcError(err)
			}
			return rf.print(map[string]any{"removed": args[0], "index": r.GetIndex()})
		},
	}
	addClientFlags(remove, &rf)
	transfer := &cobra.Command{
		Use: "transfer-leadership [NODE_ID]", Short: "Hand leadership to another voter", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, ctx, done, err := tf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			req := &pb.TransferLeadershipRequest{}
			if len(args) == 1 {
				req.NodeId = args[0]
			}
			r, err := cl.Cluster.TransferLeadership(ctx, req)
			if err != nil {
				return rpcError(err)
			}
			return tf.print(map[string]any{"leader_id": r.GetLeaderId()})
		},
	}
	addClientFlags(transfer, &tf)
	c.AddCommand(status, members, remove, transfer)
	return c
}

func snapshotCmd() *cobra.Command {
	c := &cobra.Command{Use: "snapshot", Short: "Save and restore the domain's state"}
	var sf, rf clientFlags
	save := &cobra.Command{
		Use: "save FILE", Short: "Save a snapshot (a secret: it holds the domain's keys); written with mode 0600", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, ctx, done, err := sf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			tmp := args[0] + ".part"
			f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return fail("%v", err)
			}
			n, err := cl.SaveSnapshot(ctx, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(tmp)
				return rpcError(err)
			}
			if err := os.Rename(tmp, args[0]); err != nil {
				return fail("%v", err)
			}
			return sf.print(map[string]any{"file": args[0], "bytes": n})
		},
	}
	addClientFlags(save, &sf)
	restore := &cobra.Command{
		Use: "restore FILE", Short: "Replace the domain's whole state with a snapshot", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return fail("%v", err)
			}
			defer f.Close()
			cl, ctx, done, err := rf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.RestoreSnapshot(ctx, f)
			if err != nil {
				return rpcError(err)
			}
			return rf.print(map[string]any{"file": args[0], "index": r.GetIndex(), "licenses": r.GetLicenses()})
		},
	}
	addClientFlags(restore, &rf)
	c.AddCommand(save, restore)
	return c
}
