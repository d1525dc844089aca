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

func TestPeerRevocationsSpreadAndCannotBeForged(t *testing.T) {
	skipShort(t)
	acme := newClusterWith(t, 3, func(c *nodeConfig) { c.Domain, c.Scope = "acme", []string{"acme/*"} })
	partner := newClusterWith(t, 1, func(c *nodeConfig) { c.Domain, c.Scope = "partner", []string{"partner/*"} }).members[0]
	pst := domainReady(t, partner)
	a := acme.waitLeader()
	domainReady(t, a)
	if _, err := a.client.Trust.Add(ctx(t), &pb.TrustAddRequest{Entry: &pb.TrustEntry{Domain: "partner",
		RootFingerprint: pst.GetRootFingerprint(), Scope: []string{"partner/*"}, MaxStalenessNano: int64(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.client.Federation.PushAnchor(ctx(t), &pb.PushAnchorRequest{AnchorJson: anchorOf(t, partner)}); err != nil {
		t.Fatal(err)
	}
	lic, err := partner.client.Issue(ctx(t), &pb.IssueRequest{Licensee: "globex", Product: "partner/db",
		Entitlements: []*pb.Entitlement{{Feature: "seats", Limit: &pb.Limit{Kind: &pb.Limit_Count{Count: 5}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := partner.client.Revoke(ctx(t), lic.GetLicense().GetId(), "contract ended"); err != nil {
		t.Fatal(err)
	}
	revs, err := partner.client.Federation.Revocations(ctx(t), &pb.RevocationsRequest{})
	if err != nil || len(revs.GetNotices()) != 1 {
		t.Fatalf("revocation notices: %v %v", revs, err)
	}
	// A tampered notice (one byte of the reason flipped) is refused; nothing stored.
	bad := append([]byte(nil), revs.GetNotices()[0]...)
	bad[len(bad)-70] ^= 1
	before := a.agent.Node.FSM().Hash()
	if _, err := a.client.Federation.PushRevocation(ctx(t), &pb.PushRevocationRequest{Notice: bad}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("tampered notice: %v", err)
	}
	for _, garbage := range [][]byte{nil, {1}, {1, 3}, []byte("\x01\x03" + string(make([]byte, 40)))} {
		if _, err := a.client.Federation.PushRevocation(ctx(t), &pb.PushRevocationRequest{Notice: garbage}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("garbage notice %q: %v", garbage, err)
		}
	}
	if a.agent.Node.FSM().Hash() != before {
		t.Fatal("refused notices changed the state")
	}
	// The genuine notice, pushed to a follower, is forwarded and reaches every acme node.
	if _, err := acme.followers()[0].client.Federation.PushRevocation(ctx(t), &pb.PushRevocationRequest{Notice: revs.GetNotices()[0]}); err != nil {
		t.Fatal(err)
	}
	for _, m := range acme.running() {
		waitFor(t, 5*time.Second, "peer revocation on "+m.cfg.NodeID, func() (bool, string) {
			r := verifyOnline(t, m, lic.GetToken())
			return !r.GetValid() && r.GetRevoked() && r.GetReason() == "revoked", r.GetReason()
		})
		ck, err := m.client.Licenses.Check(ctx(t), &pb.CheckRequest{Token: lic.GetToken(), Feature: "seats", Amount: 1})
		if err != nil || ck.GetAllowed() {
			t.Fatalf("%s: revoked peer license checked as %v, %v", m.cfg.NodeID, ck, err)
		}
	}
	// Re-sending changes nothing; the revocation survives the peer's total loss.
	if r, err := a.client.Federation.PushRevocation(ctx(t), &pb.PushRevocationRequest{Notice: revs.GetNotices()[0]}); err != nil || !r.GetUnchanged() {
		t.Fatalf("re-sent notice: %v %v", r, err)
	}
	partner.stop()
	if r := verifyOnline(t, a, lic.GetToken()); !r.GetRevoked() {
		t.Fatalf("revocation forgotten after the peer went away: %v", r)
	}
	assertEqualHashes(t, acme.waitConverged())
}

// Gossip delivers out of order and loses messages: a peer's newest
// revocation may arrive while older ones never do. Anti-entropy must
// still pull those (fedlic-chaos --federation found it skipping
// everything below the newest revocation recorded).
func TestAntiEntropyPullsRevocationsGossipMissed(t *testing.T) {
	skipShort(t)
	a := newClusterWith(t, 1, func(c *nodeConfig) { c.Domain, c.Scope = "acme", []string{"acme/*"} }).members[0]
	partner := newClusterWith(t, 1, func(c *nodeConfig) { c.Domain, c.Scope = "partner", []string{"partner/*"} }).members[0]
	pst := domainReady(t, partner)
	domainReady(t, a)
	if _, err := a.client.Trust.Add(ctx(t), &pb.TrustAddRequest{Entry: &pb.TrustEntry{Domain: "partner",
		RootFingerprint: pst.GetRootFingerprint(), Scope: []string{"partner/*"}, MaxStalenessNano: int64(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.client.Federation.PushAnchor(ctx(t), &pb.PushAnchorRequest{AnchorJson: anchorOf(t, partner)}); err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for i := 0; i < 5; i++ {
		lic, err := partner.client.Issue(ctx(t), &pb.IssueRequest{Licensee: fmt.Sprint("globex-", i), Product: "partner/db"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := partner.client.Revoke(ctx(t), lic.GetLicense().GetId(), "contract ended"); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, lic.GetToken())
	}
	revs, err := partner.client.Federation.Revocations(ctx(t), &pb.RevocationsRequest{})
	if err != nil || len(revs.GetNotices()) != 5 {
		t.Fatalf("revocation notices: %v %v", revs, err)
	}
	// "Gossip" delivers only the newest.
	if _, err := a.client.Federation.PushRevocation(ctx(t), &pb.PushRevocationRequest{Notice: revs.GetNotices()[4]}); err != nil {
		t.Fatal(err)
	}
	if err := a.agent.Node.PullPeer(ctx(t), "partner", partner.cfg.GRPCAddr); err != nil {
		t.Fatal(err)
	}
	for i, tok := range tokens {
		if r := verifyOnline(t, a, tok); r.GetValid() || !r.GetRevoked() {
			t.Errorf("revocation %d of 5 not pulled: %v", i+1, r)
		}
	}
	// The next pull brings what the peer revoked since.
	lic, err := partner.client.Issue(ctx(t), &pb.IssueRequest{Licensee: "initech", Product: "partner/db"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := partner.client.Revoke(ctx(t), lic.GetLicense().GetId(), "contract ended"); err != nil {
		t.Fatal(err)
	}
	if err := a.agent.Node.PullPeer(ctx(t), "partner", partner.cfg.GRPCAddr); err != nil {
		t.Fatal(err)
	}
	if r := verifyOnline(t, a, lic.GetToken()); r.GetValid() || !r.GetRevoked() {
		t.Errorf("revocation after the first pull not pulled: %v", r)
	}
}
