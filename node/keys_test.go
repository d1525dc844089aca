package node_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/license"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func verifyOnline(t *testing.T, m *member, tok string) *pb.VerifyResponse {
	t.Helper()
	r, err := m.client.Licenses.Verify(ctx(t), &pb.VerifyRequest{Token: tok})
	if err != nil {
		t.Fatalf("verify on %s: %v", m.cfg.NodeID, err)
	}
	return r
}

func TestKeyRotationAcrossLeaderChange(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 0)
	leader := c.waitLeader()
	old, err := leader.client.Issue(ctx(t), issueReq("globex"))
	if err != nil || old.GetToken() == "" {
		t.Fatalf("issue: %v, token %q", err, old.GetToken())
	}
	st0, _ := leader.client.Domain.Status(ctx(t), &pb.DomainStatusRequest{})
	rot, err := c.followers()[0].client.Domain.RotateKey(ctx(t), &pb.RotateKeyRequest{}) // forwarded
	if err != nil {
		t.Fatal(err)
	}
	if rot.GetActiveKeyId() == st0.GetActiveKeyId() || rot.GetAnchorSerial() <= st0.GetAnchorSerial() {
		t.Fatalf("rotation did not change key or raise serial: %v -> %v", st0, rot)
	}
	leader.stop()
	nl := c.waitLeader()
	fresh, err := nl.client.Issue(ctx(t), issueReq("initech"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := license.ParseToken(fresh.GetToken())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Claims.KeyID != rot.GetActiveKeyId() {
		t.Fatalf("new leader signed with %s, want the rotated key %s", tok.Claims.KeyID, rot.GetActiveKeyId())
	}
	for _, m := range c.running() {
		waitFor(t, 5*time.Second, "rotation visible on "+m.cfg.NodeID, func() (bool, string) {
			r := verifyOnline(t, m, old.GetToken())
			return r.GetValid(), r.GetReason()
		})
		if r := verifyOnline(t, m, fresh.GetToken()); !r.GetValid() {
			t.Fatalf("%s: new token invalid: %v", m.cfg.NodeID, r)
		}
	}
	if _, err := nl.client.Domain.RetireKey(ctx(t), &pb.RetireKeyRequest{KeyId: rot.GetActiveKeyId()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("retiring the active key: %v, want FailedPrecondition", err)
	}
	if _, err := nl.client.Domain.RetireKey(ctx(t), &pb.RetireKeyRequest{KeyId: st0.GetActiveKeyId()}); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.running() {
		waitFor(t, 5*time.Second, "old key retired on "+m.cfg.NodeID, func() (bool, string) {
			r := verifyOnline(t, m, old.GetToken())
			return !r.GetValid() && r.GetReason() == license.CodeKeyRetired, r.GetReason()
		})
		if r := verifyOnline(t, m, fresh.GetToken()); !r.GetValid() {
			t.Fatalf("%s: token of the active key rejected after retiring the old one: %v", m.cfg.NodeID, r)
		}
	}
	// Offline, against the anchor a service would fetch, with the pin.
	a, err := nl.client.Domain.Anchor(ctx(t), &pb.AnchorRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := license.ParseAnchorJSON([]byte(a.GetAnchorJson()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := license.Verify(fresh.GetToken(), sa, st0.GetRootFingerprint(), time.Now()); err != nil {
		t.Fatalf("offline verify with the pinned root: %v", err)
	}
	if _, err := license.Verify(old.GetToken(), sa, st0.GetRootFingerprint(), time.Now()); !errors.Is(err, license.ErrKeyRetired) {
		t.Fatalf("offline verify of a retired key's token: %v", err)
	}
	assertEqualHashes(t, c.waitConverged())
}

func TestScopeRefusesOtherProducts(t *testing.T) {
	skipShort(t)
	c := newClusterWith(t, 1, func(cfg *nodeConfig) { cfg.Scope = []string{"acme/*"} })
	m := c.members[0]
	waitFor(t, 5*time.Second, "domain keys", func() (bool, string) {
		_, err := m.client.Domain.Status(ctx(t), &pb.DomainStatusRequest{})
		return err == nil, fmt.Sprint(err)
	})
	if _, err := m.client.Issue(ctx(t), &pb.IssueRequest{Licensee: "l", Product: "acme/db"}); err != nil {
		t.Fatalf("in-scope issue: %v", err)
	}
	before := m.agent.Node.FSM().Hash()
	_, err := m.client.Issue(ctx(t), &pb.IssueRequest{Licensee: "l", Product: "partner/db"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "outside this domain's scope") {
		t.Fatalf("out-of-scope issue: %v", err)
	}
	if m.agent.Node.FSM().Hash() != before {
		t.Fatal("refused issue changed the state")
	}
}

// Private keys never leave the state through responses or logs.
func TestPrivateKeysNeverLeave(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 0)
	l := c.waitLeader()
	w, err := l.client.Issue(ctx(t), issueReq("globex"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.client.Domain.RotateKey(ctx(t), &pb.RotateKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	keys := l.agent.Node.FSM().Keys()
	secrets := [][]byte{keys.GetRootPrivateKey(), ed25519.PrivateKey(keys.GetRootPrivateKey()).Seed()}
	for _, k := range keys.GetKeys() {
		secrets = append(secrets, k.GetPrivateKey(), ed25519.PrivateKey(k.GetPrivateKey()).Seed())
	}
	st, _ := l.client.Domain.Status(ctx(t), &pb.DomainStatusRequest{})
	an, _ := l.client.Domain.Anchor(ctx(t), &pb.AnchorRequest{})
	cs, _ := l.client.Status(ctx(t))
	var blobs [][]byte
	for _, m := range []proto.Message{w, st, an, cs} {
		b, _ := proto.Marshal(m)
		blobs = append(blobs, b)
	}
	for _, m := range c.members {
		blobs = append(blobs, []byte(m.log.tail(100000)))
	}
	for _, s := range secrets {
		for _, form := range [][]byte{s, []byte(hex.EncodeToString(s)), []byte(base64.StdEncoding.EncodeToString(s)), []byte(base64.RawURLEncoding.EncodeToString(s))} {
			for i, b := range blobs {
				if bytes.Contains(b, form) {
					t.Fatalf("a private key appears in output %d", i)
				}
			}
		}
	}
}

func TestTrustPolicyReplicatedAndForwarded(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 0)
	c.waitLeader()
	f := c.followers()[0]
	fp := strings.Repeat("ab", 32)
	entry := &pb.TrustEntry{Domain: "partner", RootFingerprint: strings.ToUpper(fp), Scope: []string{"partner/*"}, MaxStalenessNano: int64(time.Minute)}
	if _, err := f.client.Trust.Add(ctx(t), &pb.TrustAddRequest{Entry: entry}); err != nil {
		t.Fatalf("trust add via follower: %v", err)
	}
	for _, m := range c.running() {
		waitFor(t, 5*time.Second, "trust entry on "+m.cfg.NodeID, func() (bool, string) {
			r, err := m.client.Trust.List(ctx(t), &pb.TrustListRequest{})
			return err == nil && len(r.GetEntries()) == 1 && r.GetEntries()[0].GetRootFingerprint() == fp, fmt.Sprint(r, err)
		})
	}
	_, err := f.client.Trust.Add(ctx(t), &pb.TrustAddRequest{Entry: &pb.TrustEntry{Domain: "acme", RootFingerprint: fp, Scope: []string{"*"}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("trusting our own domain: %v", err)
	}
	if _, err := f.client.Trust.Remove(ctx(t), &pb.TrustRemoveRequest{Domain: "partner"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Trust.Remove(ctx(t), &pb.TrustRemoveRequest{Domain: "partner"}); status.Code(err) != codes.NotFound {
		t.Fatalf("removing twice: %v", err)
	}
	assertEqualHashes(t, c.waitConverged())
}
