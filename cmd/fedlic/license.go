package main

import (
	"fmt"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/spf13/cobra"
)

func licenseCmd() *cobra.Command {
	c := &cobra.Command{Use: "license", Short: "Issue, read, update, revoke and replace licenses"}
	c.AddCommand(licenseIssueCmd(), licenseGetCmd(), licenseListCmd(), licenseUpdateCmd(), licenseRevokeCmd(), licenseReplaceCmd(), verifyCmd())
	return c
}

// windowFlags are the validity flags shared by issue, update and replace.
type windowFlags struct {
	expiresIn time.Duration
	notBefore string
	notAfter  string
}

func (w *windowFlags) add(c *cobra.Command, withNotBefore bool) {
	c.Flags().DurationVar(&w.expiresIn, "expires-in", 0, "validity from now, e.g. 720h (leader time)")
	c.Flags().StringVar(&w.notAfter, "not-after", "", "end of validity, RFC 3339")
	if withNotBefore {
		c.Flags().StringVar(&w.notBefore, "not-before", "", "start of validity, RFC 3339")
	}
}

func (w *windowFlags) parse() (notBefore, notAfter, expiresInMs int64, err error) {
	if w.expiresIn < 0 {
		return 0, 0, 0, fmt.Errorf("--expires-in %s must be positive", w.expiresIn)
	}
	if w.expiresIn > 0 && w.notAfter != "" {
		return 0, 0, 0, fmt.Errorf("give --expires-in or --not-after, not both")
	}
	expiresInMs = w.expiresIn.Milliseconds()
	if w.expiresIn > 0 && expiresInMs == 0 {
		return 0, 0, 0, fmt.Errorf("--expires-in %s is under a millisecond", w.expiresIn)
	}
	parse := func(flag, v string) (int64, error) {
		if v == "" {
			return 0, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return 0, fmt.Errorf("--%s %q is not RFC 3339 (e.g. 2027-01-31T00:00:00Z)", flag, v)
		}
		return t.UnixNano(), nil
	}
	if notBefore, err = parse("not-before", w.notBefore); err != nil {
		return
	}
	notAfter, err = parse("not-after", w.notAfter)
	return
}

// licenseInput is what issue, update and replace parse from their flags.
type licenseInput struct {
	ents                             []*pb.Entitlement
	meta                             map[string]string
	notBefore, notAfter, expiresInMs int64
}

func parseLicenseFlags(features, meta []string, w *windowFlags) (licenseInput, error) {
	var in licenseInput
	var err error
	if in.ents, err = parseFeatures(features); err != nil {
		return in, fail("%v", err)
	}
	if in.meta, err = parseMeta(meta); err != nil {
		return in, fail("%v", err)
	}
	if in.notBefore, in.notAfter, in.expiresInMs, err = w.parse(); err != nil {
		return in, fail("%v", err)
	}
	return in, nil
}

func writeJSON(r *pb.WriteResponse) map[string]any {
	m := licenseJSON(r.GetLicense())
	m["index"] = r.GetIndex()
	if r.GetToken() != "" {
		m["token"] = r.GetToken()
	}
	if r.GetReplaced() != nil {
		m["replaced"] = licenseJSON(r.GetReplaced())
	}
	return m
}

func licenseIssueCmd() *cobra.Command {
	var f clientFlags
	var w windowFlags
	var licensee, product string
	var features, meta []string
	c := &cobra.Command{
		Use:   "issue --licensee L --product P --feature NAME=LIMIT [--feature ...]",
		Short: "Issue a license",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := parseLicenseFlags(features, meta, &w)
			if err != nil {
				return err
			}
			ents, md, nb, na, exp := in.ents, in.meta, in.notBefore, in.notAfter, in.expiresInMs
			if licensee == "" || product == "" {
				return fail("--licensee and --product are required")
			}
			cl, ctx, done, err := f.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Issue(ctx, &pb.IssueRequest{Licensee: licensee, Product: product, Entitlements: ents,
				NotBeforeUnixNano: nb, NotAfterUnixNano: na, ExpiresInMs: exp, Metadata: md})
			if err != nil {
				return rpcError(err)
			}
			return f.print(writeJSON(r))
		},
	}
	addClientFlags(c, &f)
	w.add(c, true)
	c.Flags().StringVar(&licensee, "licensee", "", "who holds the license (required)")
	c.Flags().StringVar(&product, "product", "", "licensed product, e.g. acme/db (required)")
	c.Flags().StringArrayVar(&features, "feature", nil, "entitlement NAME=LIMIT: a count, or true/false (repeatable)")
	c.Flags().StringArrayVar(&meta, "meta", nil, "metadata KEY=VALUE (repeatable)")
	return c
}

func licenseGetCmd() *cobra.Command {
	var f clientFlags
	var cons string
	c := &cobra.Command{
		Use:   "get ID",
		Short: "Show one license",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cc, err := parseConsistency(cons)
			if err != nil {
				return fail("%v", err)
			}
			cl, ctx, done, err := f.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Get(ctx, args[0], cc)
			if err != nil {
				return rpcError(err)
			}
			m := licenseJSON(r.GetLicense())
			m["index"] = r.GetMeta().GetIndex()
			return f.print(m)
		},
	}
	addClientFlags(c, &f)
	c.Flags().StringVar(&cons, "consistency", "", "stale, leader (default) or linearizable")
	return c
}

func licenseListCmd() *cobra.Command {
	var f clientFlags
	var licensee, product, cons, page string
	var size int32
	var all bool
	c := &cobra.Command{
		Use:   "list [--licensee L] [--product P]",
		Short: "List licenses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := parseConsistency(cons)
			if err != nil {
				return fail("%v", err)
			}
			cl, ctx, done, err := f.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			var out []map[string]any
			var next string
			var index uint64
			for {
				r, err := cl.Licenses.List(ctx, &pb.ListRequest{Licensee: licensee, Product: product, PageSize: size, PageToken: page, Consistency: cc})
				if err != nil {
					return rpcError(err)
				}
				for _, l := range r.GetLicenses() {
					out = append(out, licenseJSON(l))
				}
				next, index = r.GetNextPageToken(), r.GetMeta().GetIndex()
				if !all || next == "" {
					break
				}
				page = next
			}
			if out == nil {
				out = []map[string]any{}
			}
			return f.print(map[string]any{"licenses": out, "next_page_token": next, "index": index})
		},
	}
	addClientFlags(c, &f)
	c.Flags().StringVar(&licensee, "licensee", "", "only this licensee")
	c.Flags().StringVar(&product, "product", "", "only this product")
	c.Flags().StringVar(&cons, "consistency", "", "stale, leader (default) or linearizable")
	c.Flags().StringVar(&page, "page-token", "", "continue after this page token")
	c.Flags().Int32Var(&size, "page-size", 100, "licenses per page (1-1000)")
	c.Flags().BoolVar(&all, "all", false, "follow page tokens to the end")
	return c
}

func licenseUpdateCmd() *cobra.Command {
	var f clientFlags
	var w windowFlags
	var features, remove, meta []string
	var suspend, resume bool
	var expected uint64
	c := &cobra.Command{
		Use:   "update ID [--feature NAME=LIMIT ...] [--remove-feature NAME] [--suspend|--resume]",
		Short: "Change a license (a new version); features given are set, others kept",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := parseLicenseFlags(features, meta, &w)
			if err != nil {
				return err
			}
			ents, md, na, exp := in.ents, in.meta, in.notAfter, in.expiresInMs
			if suspend && resume {
				return fail("give --suspend or --resume, not both")
			}
			req := &pb.UpdateRequest{Id: args[0], SetEntitlements: ents, RemoveFeatures: remove, SetMetadata: md,
				NotAfterUnixNano: na, ExpiresInMs: exp, ExpectedVersion: expected}
			if suspend {
				req.SetStatus = pb.Status_STATUS_SUSPENDED
			}
			if resume {
				req.SetStatus = pb.Status_STATUS_ACTIVE
			}
			if len(ents) == 0 && len(remove) == 0 && len(md) == 0 && na == 0 && exp == 0 && req.SetStatus == 0 {
				return fail("nothing to update: give --feature, --remove-feature, --meta, --expires-in, --not-after, --suspend or --resume")
			}
			cl, ctx, done, err := f.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Licenses.Update(ctx, req)
			if err != nil {
				return rpcError(err)
			}
			return f.print(writeJSON(r))
		},
	}
	addClientFlags(c, &f)
	w.add(c, false)
	c.Flags().StringArrayVar(&features, "feature", nil, "set entitlement NAME=LIMIT (repeatable)")
	c.Flags().StringArrayVar(&remove, "remove-feature", nil, "remove an entitlement (repeatable)")
	c.Flags().StringArrayVar(&meta, "meta", nil, "set metadata KEY=VALUE; an empty value deletes the key")
	c.Flags().BoolVar(&suspend, "suspend", false, "suspend the license")
	c.Flags().BoolVar(&resume, "resume", false, "resume a suspended license")
	c.Flags().Uint64Var(&expected, "expected-version", 0, "fail unless the license is at this version")
	return c
}

func licenseRevokeCmd() *cobra.Command {
	var f clientFlags
	var reason string
	c := &cobra.Command{
		Use:   "revoke ID --reason TEXT",
		Short: "Revoke a license for good",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return fail("--reason is required: say why the license is revoked")
			}
			cl, ctx, done, err := f.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Revoke(ctx, args[0], reason)
			if err != nil {
				return rpcError(err)
			}
			return f.print(writeJSON(r))
		},
	}
	addClientFlags(c, &f)
	c.Flags().StringVar(&reason, "reason", "", "why the license is revoked (required)")
	return c
}

func licenseReplaceCmd() *cobra.Command {
	var f clientFlags
	var w windowFlags
	var features, meta []string
	c := &cobra.Command{
		Use:   "replace ID [--feature NAME=LIMIT ...]",
		Short: "Issue a new license in place of ID and revoke ID (reason: replaced)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := parseLicenseFlags(features, meta, &w)
			if err != nil {
				return err
			}
			ents, md, nb, na, exp := in.ents, in.meta, in.notBefore, in.notAfter, in.expiresInMs
			cl, ctx, done, err := f.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Licenses.Replace(ctx, &pb.ReplaceRequest{Id: args[0], Entitlements: ents, Metadata: md,
				NotBeforeUnixNano: nb, NotAfterUnixNano: na, ExpiresInMs: exp})
			if err != nil {
				return rpcError(err)
			}
			return f.print(writeJSON(r))
		},
	}
	addClientFlags(c, &f)
	w.add(c, true)
	c.Flags().StringArrayVar(&features, "feature", nil, "entitlements of the new license (default: copy the old)")
	c.Flags().StringArrayVar(&meta, "meta", nil, "metadata KEY=VALUE of the new license")
	return c
}
