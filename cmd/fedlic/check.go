package main

import (
	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/spf13/cobra"
)

func checkCmd() *cobra.Command {
	var f clientFlags
	var licensee, product, feature, cons, token string
	var amount int64
	c := &cobra.Command{
		Use:   "check --licensee L --product P --feature F [--amount N]",
		Short: "Ask whether a licensee may use a feature (exit 0 allowed, 1 denied, 2 error)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := parseConsistency(cons)
			if err != nil {
				return fail("%v", err)
			}
			if feature == "" {
				return fail("--feature is required")
			}
			if token == "" && (licensee == "" || product == "") {
				return fail("give --licensee and --product (or --token)")
			}
			if amount < 0 {
				return fail("--amount must not be negative")
			}
			cl, ctx, done, err := f.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Licenses.Check(ctx, &pb.CheckRequest{Licensee: licensee, Product: product, Feature: feature,
				Amount: amount, Consistency: cc, Token: token})
			if err != nil {
				return rpcError(err)
			}
			out := map[string]any{
				"allowed": r.GetAllowed(), "reason": r.GetReason(), "license_id": r.GetLicenseId(),
				"index": r.GetMeta().GetIndex(), "stale_ms": r.GetMeta().GetStaleMs(), "node_id": r.GetMeta().GetNodeId(),
			}
			if r.GetStatus() != pb.Status_STATUS_UNSPECIFIED {
				out["status"] = statusName(r.GetStatus())
			}
			if err := f.print(out); err != nil {
				return err
			}
			if !r.GetAllowed() {
				return &codeError{code: exitDenied}
			}
			return nil
		},
	}
	addClientFlags(c, &f)
	c.Flags().StringVar(&licensee, "licensee", "", "licensee to check")
	c.Flags().StringVar(&product, "product", "", "product to check")
	c.Flags().StringVar(&feature, "feature", "", "feature to check (required)")
	c.Flags().Int64Var(&amount, "amount", 0, "units wanted; must not exceed the limit")
	c.Flags().StringVar(&cons, "consistency", "stale", "stale (default), leader or linearizable")
	c.Flags().StringVar(&token, "token", "", "a license token instead of licensee and product")
	return c
}
