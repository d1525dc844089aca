package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"
)

// clientFlags are shared by every client command.
type clientFlags struct {
	addr    string
	json    bool
	timeout time.Duration
}

func addClientFlags(c *cobra.Command, f *clientFlags) {
	def := os.Getenv("FEDLIC_ADDR")
	if def == "" {
		def = "127.0.0.1:7400"
	}
	c.Flags().StringVar(&f.addr, "addr", def, "gRPC address of a fedlic node (env FEDLIC_ADDR)")
	c.Flags().BoolVar(&f.json, "json", false, "print exactly one JSON object on one line")
	c.Flags().DurationVar(&f.timeout, "timeout", 15*time.Second, "how long to wait for the answer")
}

func (f *clientFlags) dial() (*client.Client, context.Context, context.CancelFunc, error) {
	c, err := client.Dial(f.addr)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	return c, ctx, func() { cancel(); c.Close() }, nil
}

// print writes v as JSON: one line with --json, indented otherwise.
func (f *clientFlags) print(v any) error {
	var b []byte
	var err error
	if f.json {
		b, err = json.Marshal(v)
	} else {
		b, err = json.MarshalIndent(v, "", "  ")
	}
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

// rpcError turns a gRPC error into a readable one.
func rpcError(err error) error {
	if s, ok := status.FromError(err); ok {
		return &codeError{exitError, fmt.Errorf("%s: %s", strings.ToLower(s.Code().String()), s.Message())}
	}
	return &codeError{exitError, err}
}

func fail(format string, args ...any) error {
	return &codeError{exitError, fmt.Errorf(format, args...)}
}

func statusName(s pb.Status) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATUS_"))
}

func timeStr(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// licenseJSON is the CLI's stable JSON form of a license.
func licenseJSON(l *pb.License) map[string]any {
	if l == nil {
		return nil
	}
	ents := map[string]any{}
	for _, e := range l.GetEntitlements() {
		switch k := e.GetLimit().GetKind().(type) {
		case *pb.Limit_Enabled:
			ents[e.GetFeature()] = k.Enabled
		case *pb.Limit_Count:
			ents[e.GetFeature()] = k.Count
		}
	}
	m := map[string]any{
		"id": l.GetId(), "domain": l.GetDomain(), "licensee": l.GetLicensee(), "product": l.GetProduct(),
		"entitlements": ents, "status": statusName(l.GetStatus()), "version": l.GetVersion(),
		"created": timeStr(l.GetCreatedUnixNano()), "updated": timeStr(l.GetUpdatedUnixNano()),
		"create_index": l.GetCreateIndex(), "modify_index": l.GetModifyIndex(),
	}
	opt := map[string]string{"not_before": timeStr(l.GetNotBeforeUnixNano()), "not_after": timeStr(l.GetNotAfterUnixNano()),
		"supersedes": l.GetSupersedes(), "superseded_by": l.GetSupersededBy()}
	for k, v := range opt {
		if v != "" {
			m[k] = v
		}
	}
	if len(l.GetMetadata()) > 0 {
		m["metadata"] = l.GetMetadata()
	}
	if r := l.GetRevocation(); r != nil {
		m["revocation"] = map[string]any{"reason": r.GetReason(), "time": timeStr(r.GetTimeUnixNano()), "index": r.GetIndex()}
	}
	return m
}

// parseFeatures parses NAME=LIMIT flags: a whole number (seats, quota)
// or true/false for a boolean feature.
func parseFeatures(specs []string) ([]*pb.Entitlement, error) {
	var out []*pb.Entitlement
	seen := map[string]bool{}
	for _, s := range specs {
		name, val, ok := strings.Cut(s, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" || val == "" {
			return nil, fmt.Errorf("--feature %q: write NAME=LIMIT, e.g. seats=10 or sso=true", s)
		}
		if seen[name] {
			return nil, fmt.Errorf("--feature %s is given twice", name)
		}
		seen[name] = true
		switch strings.ToLower(val) {
		case "true", "on", "yes":
			out = append(out, client.Flag(name, true))
			continue
		case "false", "off", "no":
			out = append(out, client.Flag(name, false))
			continue
		}
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--feature %s=%s: the limit must be a whole number >= 0, or true/false", name, val)
		}
		out = append(out, client.Count(name, n))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Feature < out[j].Feature })
	return out, nil
}

func parseMeta(specs []string) (map[string]string, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--meta %q: write KEY=VALUE", s)
		}
		m[k] = v
	}
	return m, nil
}

func parseConsistency(s string) (pb.Consistency, error) {
	switch s {
	case "", "default":
		return pb.Consistency_CONSISTENCY_UNSPECIFIED, nil
	case "stale":
		return pb.Consistency_CONSISTENCY_STALE, nil
	case "leader":
		return pb.Consistency_CONSISTENCY_LEADER, nil
	case "linearizable":
		return pb.Consistency_CONSISTENCY_LINEARIZABLE, nil
	}
	return 0, fmt.Errorf("--consistency %q: use stale, leader or linearizable", s)
}
