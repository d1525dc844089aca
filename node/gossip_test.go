package node_test

import (
	"fmt"
	"testing"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
)

// Three domains in one process, gossip on loopback: anchors converge,
// a revocation in one domain is denied in the others, and a key rotated
// in B is picked up by A — all carried by gossip and anti-entropy.
func TestGossipFederationOfThreeDomains(t *testing.T) {
	skipShort(t)
	names := []string{"a", "b", "c"}
	var seed string
	doms := map[string]*member{}
	for _, name := range names {
		gaddr := freeAddr(t)
		d := newClusterWith(t, 1, func(c *nodeConfig) {
			c.Domain, c.Scope, c.GossipAddr, c.GossipFast = name, []string{name + "/*"}, gaddr, true
			if seed != "" {
				c.GossipJoin = []string{seed}
			}
		}).members[0]
		if seed == "" {
			seed = gaddr
		}
		doms[name] = d
	}
	fps := map[string]string{}
	for _, name := range names {
		fps[name] = domainReady(t, doms[name]).GetRootFingerprint()
	}
	for _, truster := range names {
		for _, peer := range names {
			if peer == truster {
				continue
			}
			if _, err := doms[truster].client.Trust.Add(ctx(t), &pb.TrustAddRequest{Entry: &pb.TrustEntry{Domain: peer,
				RootFingerprint: fps[peer], Scope: []string{peer + "/*"}, MaxStalenessNano: int64(time.Hour)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	serialOf := func(m *member, peer string) uint64 {
		r, err := m.client.Federation.Peers(ctx(t), &pb.PeersRequest{})
		if err != nil {
			return 0
		}
		for _, p := range r.GetPeers() {
			if p.GetDomain() == peer {
				return p.GetAnchorSerial()
			}
		}
		return 0
	}
	for _, truster := range names {
		for _, peer := range names {
			if peer != truster {
				waitFor(t, 30*time.Second, truster+" has the anchor of "+peer, func() (bool, string) {
					return serialOf(doms[truster], peer) > 0, "none yet"
				})
			}
		}
	}
	// A revocation in c is denied in a and b.
	lic, err := doms["c"].client.Issue(ctx(t), &pb.IssueRequest{Licensee: "globex", Product: "c/db"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if r := verifyOnline(t, doms[name], lic.GetToken()); !r.GetValid() {
			t.Fatalf("%s: c's token before revocation: %v", name, r)
		}
	}
	if _, err := doms["c"].client.Revoke(ctx(t), lic.GetLicense().GetId(), "fraud"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		waitFor(t, 30*time.Second, "revocation from c reaching "+name, func() (bool, string) {
			r := verifyOnline(t, doms[name], lic.GetToken())
			return r.GetRevoked(), r.GetReason()
		})
	}
	// A key rotated in b is picked up by a.
	rot, err := doms["b"].client.Domain.RotateKey(ctx(t), &pb.RotateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := doms["b"].client.Issue(ctx(t), &pb.IssueRequest{Licensee: "initech", Product: "b/db"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "a picks up b's rotated key", func() (bool, string) {
		r := verifyOnline(t, doms["a"], fresh.GetToken())
		return r.GetValid() && serialOf(doms["a"], "b") >= rot.GetAnchorSerial(), fmt.Sprint(r.GetReason(), " serial ", serialOf(doms["a"], "b"))
	})
	members := len(doms["a"].agent.Node.Pool().Members())
	if members != 3 {
		t.Fatalf("gossip pool has %d members, want 3", members)
	}
}
