package client_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/fedlic/fedlic/api"
	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
	"github.com/fedlic/fedlic/node"
)

// startDomain runs a one-node domain for the examples.
func startDomain() (addr string, stop func()) {
	dir, _ := os.MkdirTemp("", "fedlic-example-")
	free := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}
	a, err := api.StartAgent(context.Background(), node.Config{Domain: "acme", NodeID: "n1", DataDir: filepath.Join(dir, "n1"),
		RaftAddr: free(), GRPCAddr: free(), Bootstrap: true, Scope: []string{"acme/*"}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	c, _ := client.Dial(a.Addr())
	defer c.Close()
	// Wait until the domain has its keys (the first leader creates them).
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Domain.Status(context.Background(), &pb.DomainStatusRequest{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			log.Fatalf("domain not ready after 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return a.Addr(), func() { a.Stop(); os.RemoveAll(dir) }
}

// A service checks a licensee's entitlement on its local replica.
func ExampleClient_Check() {
	addr, stop := startDomain()
	defer stop()
	ctx := context.Background()
	c, err := client.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Issue(ctx, &pb.IssueRequest{Licensee: "globex", Product: "acme/db",
		Entitlements: []*pb.Entitlement{client.Count("seats", 25)}}); err != nil {
		log.Fatal(err)
	}
	r, err := c.Check(ctx, "globex", "acme/db", "seats", 30, pb.Consistency_CONSISTENCY_LINEARIZABLE)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.GetAllowed(), r.GetReason())
	// Output: false amount 30 of seats exceeds the limit 25
}

// A service verifies a presented license token offline, with the
// domain's root fingerprint pinned by its operator.
func ExampleVerifier() {
	addr, stop := startDomain()
	defer stop()
	ctx := context.Background()
	c, _ := client.Dial(addr)
	defer c.Close()
	issued, err := c.Issue(ctx, &pb.IssueRequest{Licensee: "globex", Product: "acme/db",
		Entitlements: []*pb.Entitlement{client.Count("seats", 25), client.Flag("sso", true)}})
	if err != nil {
		log.Fatal(err)
	}
	st, _ := c.Domain.Status(ctx, &pb.DomainStatusRequest{})
	pinned := st.GetRootFingerprint() // in real life: from your operator, not from the server

	v, err := client.NewVerifier(ctx, c, pinned, time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	claims, err := v.Verify(issued.GetToken())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Licensee, claims.Product, claims.Entitlements["seats"].Count)
	// Output: globex acme/db 25
}
