package main

import (
	"encoding/json"

	"os"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/license"
	"github.com/spf13/cobra"
)

func domainCmd() *cobra.Command {
	c := &cobra.Command{Use: "domain", Short: "Show the domain's keys, scope and trust anchor"}
	var sf, af clientFlags
	status := &cobra.Command{
		Use: "status", Short: "Domain name, root fingerprint, anchor serial, active key and scope", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, ctx, done, err := sf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			s, err := cl.Domain.Status(ctx, &pb.DomainStatusRequest{})
			if err != nil {
				return rpcError(err)
			}
			keys := []map[string]any{}
			for _, k := range s.GetKeys() {
				m := map[string]any{"id": k.GetId(), "active": k.GetActive(), "not_before": timeStr(k.GetNotBeforeUnixNano())}
				if k.GetRetiredUnixNano() != 0 {
					m["retired"] = timeStr(k.GetRetiredUnixNano())
				}
				keys = append(keys, m)
			}
			return sf.print(map[string]any{"domain": s.GetDomain(), "root_fingerprint": s.GetRootFingerprint(),
				"anchor_serial": s.GetAnchorSerial(), "active_key_id": s.GetActiveKeyId(), "scope": s.GetScope(), "keys": keys})
		},
	}
	addClientFlags(status, &sf)
	anchor := &cobra.Command{
		Use: "anchor", Short: "Print the current signed trust anchor as JSON (public keys only)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, ctx, done, err := af.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			a, err := cl.Domain.Anchor(ctx, &pb.AnchorRequest{})
			if err != nil {
				return rpcError(err)
			}
			// Print the signed document as sent: decoding it into generic
			// values would turn nanosecond times into floats and break
			// the signature.
			if !json.Valid([]byte(a.GetAnchorJson())) {
				return fail("server sent a malformed anchor")
			}
			return af.print(json.RawMessage(a.GetAnchorJson()))
		},
	}
	addClientFlags(anchor, &af)
	c.AddCommand(status, anchor)
	return c
}

func keysCmd() *cobra.Command {
	c := &cobra.Command{Use: "keys", Short: "Rotate and retire the domain's signing keys"}
	var rf, tf clientFlags
	rotate := &cobra.Command{
		Use: "rotate", Short: "Add a signing key and make it the one that signs; old keys still verify until retired", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, ctx, done, err := rf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Domain.RotateKey(ctx, &pb.RotateKeyRequest{})
			if err != nil {
				return rpcError(err)
			}
			return rf.print(map[string]any{"active_key_id": r.GetActiveKeyId(), "anchor_serial": r.GetAnchorSerial(), "index": r.GetIndex()})
		},
	}
	addClientFlags(rotate, &rf)
	retire := &cobra.Command{
		Use: "retire KID", Short: "Retire a signing key: tokens it signed stop verifying", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, ctx, done, err := tf.dial()
			if err != nil {
				return fail("%v", err)
			}
			defer done()
			r, err := cl.Domain.RetireKey(ctx, &pb.RetireKeyRequest{KeyId: args[0]})
			if err != nil {
				return rpcError(err)
			}
			return tf.print(map[string]any{"retired": args[0], "active_key_id": r.GetActiveKeyId(), "anchor_serial": r.GetAnchorSerial(), "index": r.GetIndex()})
		},
	}
	addClientFlags(retire, &tf)
	c.AddCommand(rotate, retire)
	return c
}

// verifyCmd: offline with --anchor FILE, otherwise asks the node.
// Exit 0 valid, 1 not valid, 2 error.
func verifyCmd() *cobra.Command {
	var f clientFlags
	var anchorFile, pin string
	c := &cobra.Command{
		Use:   "verify [--anchor FILE [--root-fingerprint HEX]] TOKEN",
		Short: "Verify a license token (offline with --anchor; exit 0 valid, 1 not valid, 2 error)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := map[string]any{"valid": false, "reason": "", "revoked": false, "claims": nil}
			if anchorFile != "" {
				b, err := os.ReadFile(anchorFile)
				if err != nil {
					return fail("%v", err)
				}
				sa, err := license.ParseAnchorJSON(b)
				if err != nil {
					return fail("anchor file %s: %v", anchorFile, err)
				}
				claims, err := license.Verify(args[0], sa, pin, time.Now())
				out["offline"] = true
				if err != nil {
					out["reason"], out["detail"] = license.Reason(err), err.Error()
					if t, perr := license.ParseToken(args[0]); perr == nil {
						out["claims"] = t.Claims
					}
				} else {
					out["valid"], out["reason"], out["claims"] = true, "ok", claims
				}
			} else {
				if pin != "" {
					return fail("--root-fingerprint needs --anchor: online verification uses the node's own anchor")
				}
				cl, ctx, done, err := f.dial()
				if err != nil {
					return fail("%v", err)
				}
				defer done()
				r, err := cl.Licenses.Verify(ctx, &pb.VerifyRequest{Token: args[0]})
				if err != nil {
					return rpcError(err)
				}
				out["valid"], out["reason"], out["revoked"] = r.GetValid(), r.GetReason(), r.GetRevoked()
				if r.GetDetail() != "" {
					out["detail"] = r.GetDetail()
				}
				if r.GetClaimsJson() != "" {
					out["claims"] = json.RawMessage(r.GetClaimsJson())
				}
			}
			if err := f.print(out); err != nil {
				return err
			}
			if out["valid"] != true {
				return &codeError{code: exitDenied}
			}
			return nil
		},
	}
	addClientFlags(c, &f)
	c.Flags().StringVar(&anchorFile, "anchor", "", "verify offline against this anchor file (from 'fedlic domain anchor --json')")
	c.Flags().StringVar(&pin, "root-fingerprint", "", "with --anchor: the root fingerprint you trust (hex SHA-256)")
	return c
}
