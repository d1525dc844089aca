package node_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/license"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func domainReady(t *testing.T, m *member) *pb.DomainStatusResponse {
	t.Helper()
	var st *pb.DomainStatusResponse
	waitFor(t, 10*time.Second, "domain keys of "+m.cfg.Domain, func() (bool, string) {
		var err error
		st, err = m.client.Domain.Status(ctx(t), &pb.DomainStatusRequest{})
		return err == nil, fmt.Sprint(err)
	})
	return st
}

func anchorOf(t *testing.T, m *member) string {
	t.Helper()
	a, err := m.client.Domain.Anchor(ctx(t), &pb.AnchorRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return a.GetAnchorJson()
}

func TestCrossDomainVerification(t *testing.T) {
	skipShort(t)
	acme := newClusterWith(t, 1, func(c *nodeConfig) { c.Domain, c.Scope = "acme", []string{"acme/*"} }).members[0]
	partner := newClusterWith(t, 1, func(c *nodeConfig) { c.Domain, c.Scope = "partner", []string{"partner/*", "shared/*"} }).members[0]
	pst := domainReady(t, partner)
	domainReady(t, acme)
	issued, err := partner.client.Issue(ctx(t), &pb.IssueRequest{Licensee: "globex", Product: "partner/db",
		Entitlements: []*pb.Entitlement{{Feature: "seats", Limit: &pb.Limit{Kind: &pb.Limit_Count{Count: 5}}}}})
	if err != nil {
		t.Fatal(err)
	}
	shared, err := partner.client.Issue(ctx(t), &pb.IssueRequest{Licensee: "globex", Product: "shared/tool"})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(tok string) *pb.VerifyResponse { return verifyOnline(t, acme, tok) }

	// 1. Not trusted yet.
	if r := verify(issued.GetToken()); r.GetValid() || r.GetReason() != "untrusted domain" {
		t.Fatalf("before trust: %v", r)
	}
	// An anchor from an untrusted domain is refused and nothing is stored.
	if _, err := acme.client.Federation.PushAnchor(ctx(t), &pb.PushAnchorRequest{AnchorJson: anchorOf(t, partner)}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("anchor of an untrusted domain: %v", err)
	}
	// 2. Trust partner for partner/* only (not shared/*), pinned.
	if _, err := acme.client.Trust.Add(ctx(t), &pb.TrustAddRequest{Entry: &pb.TrustEntry{Domain: "partner",
		RootFingerprint: pst.GetRootFingerprint(), Scope: []string{"partner/*"}, MaxStalenessNano: int64(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if r := verify(issued.GetToken()); r.GetValid() || r.GetReason() != "peer state stale" {
		t.Fatalf("trusted but no anchor yet: %v", r)
	}
	// 3. A forged anchor: same domain, signed by another root. Refused, nothing stored.
	_, otherRoot, _ := ed25519.GenerateKey(rand.Reader)
	var real license.SignedAnchor
	if err := json.Unmarshal([]byte(anchorOf(t, partner)), &real); err != nil {
		t.Fatal(err)
	}
	forgedDoc := real.Anchor
	forgedDoc.RootKey = nil
	forged, err := license.SignAnchor(forgedDoc, otherRoot)
	if err != nil {
		t.Fatal(err)
	}
	fb, _ := license.EncodeAnchor(forged)
	before := acme.agent.Node.FSM().Hash()
	if _, err := acme.client.Federation.PushAnchor(ctx(t), &pb.PushAnchorRequest{Anchor: fb}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("forged anchor: %v", err)
	}
	if acme.agent.Node.FSM().Hash() != before {
		t.Fatal("a forged anchor changed the state")
	}
	// 4. The real anchor is accepted; the partner token verifies in acme.
	old := anchorOf(t, partner)
	if r, err := acme.client.Federation.PushAnchor(ctx(t), &pb.PushAnchorRequest{AnchorJson: old}); err != nil || r.GetDomain() != "partner" {
		t.Fatalf("real anchor: %v %v", r, err)
	}
	if r := verify(issued.GetToken()); !r.GetValid() {
		t.Fatalf("partner token in acme: %v", r)
	}
	ck, err := acme.client.Licenses.Check(ctx(t), &pb.CheckRequest{Token: issued.GetToken(), Feature: "seats", Amount: 5})
	if err != nil || !ck.GetAllowed() {
		t.Fatalf("cross-domain check: %v %v", ck, err)
	}
	ck, _ = acme.client.Licenses.Check(ctx(t), &pb.CheckRequest{Token: issued.GetToken(), Feature: "seats", Amount: 6})
	if ck.GetAllowed() {
		t.Fatalf("over-limit cross-domain check allowed: %v", ck)
	}
	// 5. Valid signature, product outside the scope acme granted partner.
	if r := verify(shared.GetToken()); r.GetValid() || r.GetReason() != "out of scope" {
		t.Fatalf("out-of-scope token: %v", r)
	}
	// 6. Rotation in partner is picked up; the older anchor cannot be replayed.
	if _, err := partner.client.Domain.RotateKey(ctx(t), &pb.RotateKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	newer, err := partner.client.Issue(ctx(t), &pb.IssueRequest{Licensee: "initech", Product: "partner/db"})
	if err != nil {
		t.Fatal(err)
	}
	if r := verify(newer.GetToken()); r.GetValid() || r.GetReason() != license.CodeUnknownKey {
		t.Fatalf("token of a key acme has not seen yet: %v", r)
	}
	if _, err := acme.client.Federation.PushAnchor(ctx(t), &pb.PushAnchorRequest{AnchorJson: anchorOf(t, partner)}); err != nil {
		t.Fatal(err)
	}
	if r := verify(newer.GetToken()); !r.GetValid() {
		t.Fatalf("token of the rotated key: %v", r)
	}
	if _, err := acme.client.Federation.PushAnchor(ctx(t), &pb.PushAnchorRequest{AnchorJson: old}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("replayed older anchor: %v", err)
	}
	// 7. Staleness: with a tiny max staleness, deny or allow per policy.
	for _, allow := range []bool{false, true} {
		if _, err := acme.client.Trust.Add(ctx(t), &pb.TrustAddRequest{Entry: &pb.TrustEntry{Domain: "partner",
			RootFingerprint: pst.GetRootFingerprint(), Scope: []string{"partner/*"}, MaxStalenessNano: 1, AllowOnStale: allow}}); err != nil {
			t.Fatal(err)
		}
		r := verify(newer.GetToken())
		if allow != r.GetValid() || (!allow && r.GetReason() != "peer state stale") {
			t.Fatalf("stale peer with allow_on_stale=%v: %v", allow, r)
		}
	}
	// 8. The whole partner domain gone: acme still verifies from what it stored.
	partner.stop()
	if r := verify(newer.GetToken()); !r.GetValid() {
		t.Fatalf("with partner down: %v", r)
	}
	if _, err := acme.client.Issue(ctx(t), &pb.IssueRequest{Licensee: "l", Product: "acme/x"}); err != nil {
		t.Fatalf("acme issuing with partner down: %v", err)
	}
}
