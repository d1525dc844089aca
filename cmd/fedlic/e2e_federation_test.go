package main

// End-to-end test of the federation: two three-node domains of real
// agent processes in one gossip pool, driven only through the CLI.
// Helpers shared with e2e_test.go are in e2e_helpers_test.go.
// Run it with: go test -race -run E2EFederation -v ./cmd/fedlic/

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestE2EFederation: domain acme trusts domain partner (and the other way
// round); a partner token verifies and checks on every acme node once the
// anchor arrives by gossip or anti-entropy, the trusted scope narrows and
// widens what is accepted, a revocation in partner reaches every acme
// node, and with every partner agent killed acme keeps issuing and keeps
// judging partner tokens from its stored state under its staleness policy
// while gossip reports partner's members dead.
func TestE2EFederation(t *testing.T) {
	needBinary(t)
	begin := time.Now()
	since := func(t0 time.Time) time.Duration { return time.Since(t0).Round(time.Millisecond) }

	// memberlist's LAN timing: every process runs on this host.
	cfg := filepath.Join(t.TempDir(), "gossip-fast.hcl")
	if err := os.WriteFile(cfg, []byte("gossip_fast = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, seed := startFedDomain(t, "acme", "acme/*", cfg, "")
	b, _ := startFedDomain(t, "partner", "partner/*", cfg, seed)

	// 1. Both domains have a leader, three members and keys; gossip
	// shows each domain the other's three live members, untrusted.
	waitStable(t, a.nodes, 3, 60*time.Second)
	waitStable(t, b.nodes, 3, 60*time.Second)
	fpA, fpB := rootFingerprint(t, a), rootFingerprint(t, b)
	raftUp := since(begin)
	if fpA == fpB {
		t.Fatalf("both domains report root fingerprint %s", fpA)
	}
	waitPeerMembers(t, a.nodes, "partner", false, func(live, dead []string) bool { return len(live) == 3 },
		"partner's 3 members live in acme's gossip view", 30*time.Second)
	waitPeerMembers(t, b.nodes, "acme", false, func(live, dead []string) bool { return len(live) == 3 },
		"acme's 3 members live in partner's gossip view", 30*time.Second)
	t.Logf("step 1: both domains up with keys after %s (acme root %s…, partner root %s…); gossip pool of 6 after %s",
		raftUp, fpA[:12], fpB[:12], since(begin))

	// 2. Mutual trust, each for the other's scope only.
	trustAdd(t, a.nodes[1], "partner", fpB, "partner/*", "1h", "allow")
	trustAdd(t, b.nodes[1], "acme", fpA, "acme/*", "1h", "allow")
	trustedAt := time.Now()

	// 3. Two partner licenses; both verify and check on every acme node
	// once partner's anchor has arrived.
	lic1, tok1 := issue(t, b.nodes[2], "globex", "partner/db", "seats=5")
	lic2, tok2 := issue(t, b.nodes[0], "initech", "partner/db", "seats=2")
	for _, n := range a.nodes {
		waitFor(t, 25*time.Second, "partner's anchor to reach "+n.id+" (verify ok)", func() (bool, string) {
			r := verifyToken(t, n, tok1)
			return r.code == 0 && r.obj["valid"] == true && r.str("reason") == "ok", r.String()
		})
	}
	anchorAfter := since(trustedAt)
	for _, n := range a.nodes {
		if r := verifyToken(t, n, tok2); r.code != 0 || r.str("reason") != "ok" {
			t.Fatalf("verify of the second partner token on %s: want exit 0, reason ok: %s", n.id, r)
		}
		if r := checkToken(t, n, tok1, "seats", "5"); r.code != 0 || r.obj["allowed"] != true || r.str("license_id") != lic1 {
			t.Fatalf("check --token of %s on %s (seats 5 of 5): want exit 0, allowed, license_id %s: %s", lic1, n.id, lic1, r)
		}
		if r := checkToken(t, n, tok1, "seats", "6"); r.code != 1 || r.obj["allowed"] != false {
			t.Fatalf("check --token of %s on %s (seats 6 of 5): want exit 1, not allowed: %s", lic1, n.id, r)
		}
	}
	t.Logf("step 3: issued %s and %s in partner; valid and allowed on every acme node %s after the trust was added",
		lic1, lic2, anchorAfter)

	// 4. Narrow the trusted scope to a product the token is not for: out
	// of scope on every acme node; then restore it.
	trustAdd(t, a.nodes[0], "partner", fpB, "partner/db-only", "1h", "allow")
	for _, n := range a.nodes {
		waitFor(t, 10*time.Second, "the narrowed scope to apply on "+n.id, func() (bool, string) {
			r := verifyToken(t, n, tok1)
			return r.code == 1 && r.obj["valid"] == false && r.str("reason") == "out of scope", r.String()
		})
		if r := checkToken(t, n, tok1, "seats", "1"); r.code != 1 || r.obj["allowed"] != false || !strings.Contains(r.str("reason"), "out of scope") {
			t.Fatalf("check --token on %s with partner/db outside the trusted scope: want exit 1, reason out of scope: %s", n.id, r)
		}
	}
	trustAdd(t, a.nodes[2], "partner", fpB, "partner/*", "1h", "allow")
	for _, n := range a.nodes {
		waitFor(t, 10*time.Second, "the restored scope to apply on "+n.id, func() (bool, string) {
			r := verifyToken(t, n, tok1)
			return r.code == 0 && r.str("reason") == "ok", r.String()
		})
	}
	t.Log("step 4: scope partner/db-only made the token out of scope on every acme node; partner/* made it valid again")

	// 5. Revoke the first license in partner: every acme node denies it.
	rev := cli(t, "license", "revoke", lic1, "--reason", "contract ended", "--addr", b.nodes[1].grpc, "--json").mustJSON(t)
	if rev.code != 0 || rev.str("status") != "revoked" {
		t.Fatalf("revoke %s in partner: %s", lic1, rev)
	}
	revokedAt := time.Now()
	for _, n := range a.nodes {
		waitFor(t, 15*time.Second-time.Since(revokedAt), "the revocation of "+lic1+" to reach "+n.id, func() (bool, string) {
			r := verifyToken(t, n, tok1)
			return r.code == 1 && r.obj["valid"] == false && r.str("reason") == "revoked" && r.obj["revoked"] == true, r.String()
		})
	}
	revokeAfter := since(revokedAt)
	for _, n := range a.nodes {
		if r := checkToken(t, n, tok1, "seats", "1"); r.code != 1 || r.obj["allowed"] != false || !strings.Contains(r.str("reason"), "revoked") {
			t.Fatalf("check --token of the revoked %s on %s: want exit 1, reason revoked: %s", lic1, n.id, r)
		}
		if r := verifyToken(t, n, tok2); r.code != 0 || r.str("reason") != "ok" {
			t.Fatalf("the unrevoked %s on %s after %s was revoked: %s", lic2, n.id, lic1, r)
		}
	}
	t.Logf("step 5: revocation of %s denied on every acme node %s after the revoke returned", lic1, revokeAfter)

	// 6. kill -9 all of partner. acme keeps issuing and judges partner's
	// tokens from the anchor and revocations it stored.
	for _, n := range b.nodes {
		n.kill(t)
	}
	killedAt := time.Now()
	own := cli(t, "license", "issue", "--addr", a.nodes[1].grpc, "--json", "--timeout", "5s",
		"--licensee", "hooli", "--product", "acme/db", "--feature", "seats=3").mustJSON(t)
	if own.code != 0 || own.str("status") != "active" {
		t.Fatalf("acme issue with partner down: %s", own)
	}
	for _, n := range a.nodes {
		waitFor(t, 10*time.Second, "acme's new license to be allowed on "+n.id, func() (bool, string) {
			r := cli(t, "check", "--addr", n.grpc, "--json", "--licensee", "hooli", "--product", "acme/db", "--feature", "seats", "--amount", "3")
			return r.code == 0 && r.obj["allowed"] == true && r.str("license_id") == own.str("id"), r.String()
		})
		if r := verifyToken(t, n, own.str("token")); r.code != 0 || r.str("reason") != "ok" {
			t.Fatalf("verify of acme's own token on %s: %s", n.id, r)
		}
		if r := verifyToken(t, n, tok2); r.code != 0 || r.str("reason") != "ok" {
			t.Fatalf("verify of partner's %s on %s with partner down: want exit 0 from stored state: %s", lic2, n.id, r)
		}
		if r := checkToken(t, n, tok2, "seats", "2"); r.code != 0 || r.obj["allowed"] != true {
			t.Fatalf("check --token of partner's %s on %s with partner down: %s", lic2, n.id, r)
		}
		if r := verifyToken(t, n, tok1); r.code != 1 || r.str("reason") != "revoked" {
			t.Fatalf("the revoked %s on %s with partner down: want exit 1, reason revoked: %s", lic1, n.id, r)
		}
	}
	t.Logf("step 6a: partner killed; acme issued %s; partner's %s still valid and %s still revoked on every acme node",
		own.str("id"), lic2, lic1)

	trustAdd(t, a.nodes[0], "partner", fpB, "partner/*", "1ns", "deny")
	for _, n := range a.nodes {
		waitFor(t, 10*time.Second, "on-stale deny to apply on "+n.id, func() (bool, string) {
			r := verifyToken(t, n, tok2)
			return r.code == 1 && r.obj["valid"] == false && r.str("reason") == "peer state stale", r.String()
		})
		if r := checkToken(t, n, tok2, "seats", "1"); r.code != 1 || r.obj["allowed"] != false {
			t.Fatalf("check --token of %s on %s under on-stale deny: want exit 1: %s", lic2, n.id, r)
		}
	}
	trustAdd(t, a.nodes[1], "partner", fpB, "partner/*", "1ns", "allow")
	for _, n := range a.nodes {
		waitFor(t, 10*time.Second, "on-stale allow to apply on "+n.id, func() (bool, string) {
			r := verifyToken(t, n, tok2)
			return r.code == 0 && r.obj["valid"] == true && r.str("reason") == "ok", r.String()
		})
	}
	t.Logf("step 6b: max staleness 1ns: deny -> peer state stale, allow -> valid on every acme node (%s after the kill)", since(killedAt))

	// 7. Gossip notices partner is gone: still listed and trusted, with
	// no live members and all three dead, on every acme node.
	for _, n := range a.nodes {
		waitPeerMembers(t, []*agentProc{n}, "partner", true, func(live, dead []string) bool {
			return len(live) == 0 && slices.Equal(dead, []string{"node1", "node2", "node3"})
		}, "partner's 3 members dead in "+n.id+"'s gossip view", 30*time.Second)
	}
	t.Logf("step 7: every acme node lists partner trusted with 3 dead members %s after the kill; whole test %s",
		since(killedAt), since(begin))
}

// startFedDomain starts a three-node domain like startCluster, with a
// product scope, the config file cfg, and a gossip address per node.
// Every node joins the gossip pool through seed; with seed empty the
// first node starts the pool and its address is the seed returned.
func startFedDomain(t *testing.T, domain, scope, cfg, seed string) (*cluster, string) {
	t.Helper()
	c := &cluster{domain: domain, dir: t.TempDir()}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.kill(t)
		}
		if t.Failed() {
			for _, n := range c.nodes {
				t.Logf("--- last lines of %s/%s's log (%s):\n%s", domain, n.id, n.logPath, n.logTail(60))
			}
		}
	})
	for i := 1; i <= 3; i++ {
		n := c.newAgent(t, fmt.Sprintf("node%d", i))
		gossip := freeAddr(t)
		n.args = append(n.args, "--config", cfg, "--scope", scope, "--gossip-addr", gossip)
		if seed == "" {
			seed = gossip
		} else {
			n.args = append(n.args, "--gossip-join", seed)
		}
		if i == 1 {
			n.args = append(n.args, "--bootstrap")
		} else {
			n.args = append(n.args, "--join", c.nodes[0].grpc)
		}
		c.nodes = append(c.nodes, n)
		n.start(t)
		if gossip == seed {
			waitGossipPort(t, n, gossip)
		}
	}
	return c, seed
}

// waitGossipPort waits until the seed agent n accepts TCP connections on
// its gossip address. A gossip join is tried once, at start: an agent
// whose --gossip-join seed is not listening yet stays outside the pool
// (see the test's report), so the seed must be up before anyone joins.
func waitGossipPort(t *testing.T, n *agentProc, addr string) {
	t.Helper()
	waitFor(t, 30*time.Second, n.id+" to listen for gossip on "+addr, func() (bool, string) {
		if !n.running() {
			t.Fatalf("%s exited: %v\n%s", n.id, n.run.err, n.logTail(30))
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	})
}

// rootFingerprint waits until every node of c reports the same root
// fingerprint in `fedlic domain status` and returns it.
func rootFingerprint(t *testing.T, c *cluster) string {
	t.Helper()
	var fp string
	waitFor(t, 20*time.Second, "a root fingerprint on every node of "+c.domain, func() (bool, string) {
		fp = ""
		for _, n := range c.nodes {
			r := cli(t, "domain", "status", "--addr", n.grpc, "--json", "--timeout", "3s")
			switch {
			case r.code != 0 || r.jsonErr != nil:
				return false, r.String()
			case r.str("domain") != c.domain || len(r.str("root_fingerprint")) != 64:
				return false, n.id + ": " + r.stdout
			case fp != "" && r.str("root_fingerprint") != fp:
				return false, fmt.Sprintf("nodes of %s disagree: %s and %s", c.domain, fp, r.str("root_fingerprint"))
			}
			fp = r.str("root_fingerprint")
		}
		return true, ""
	})
	return fp
}

// trustAdd sets n's domain's trust entry for peer, requiring success.
func trustAdd(t *testing.T, n *agentProc, peer, fp, scope, maxStale, onStale string) {
	t.Helper()
	r := cli(t, "trust", "add", "--addr", n.grpc, "--json", "--domain", peer, "--root-fingerprint", fp,
		"--scope", scope, "--max-staleness", maxStale, "--on-stale", onStale).mustJSON(t)
	if r.code != 0 || r.str("domain") != peer {
		t.Fatalf("trust add %s (scope %s, max staleness %s, on stale %s): %s", peer, scope, maxStale, onStale, r)
	}
}

// issue issues a license through n and returns its id and token.
func issue(t *testing.T, n *agentProc, licensee, product, feature string) (string, string) {
	t.Helper()
	r := cli(t, "license", "issue", "--addr", n.grpc, "--json", "--licensee", licensee, "--product", product,
		"--feature", feature).mustJSON(t)
	if r.code != 0 || !strings.HasPrefix(r.str("id"), "lic-") || r.str("token") == "" {
		t.Fatalf("issue %s for %s via %s: want exit 0, an id and a token: %s", product, licensee, n.id, r)
	}
	return r.str("id"), r.str("token")
}

// verifyToken runs `fedlic license verify` on n. Exit 0 and 1 must come
// with the JSON answer.
func verifyToken(t *testing.T, n *agentProc, token string) cliResult {
	t.Helper()
	r := cli(t, "license", "verify", "--addr", n.grpc, "--json", "--timeout", "5s", token)
	if r.code == 0 || r.code == 1 {
		r.mustJSON(t)
	}
	return r
}

// checkToken runs `fedlic check --token` on n.
func checkToken(t *testing.T, n *agentProc, token, feature, amount string) cliResult {
	t.Helper()
	r := cli(t, "check", "--addr", n.grpc, "--json", "--timeout", "5s", "--token", token, "--feature", feature, "--amount", amount)
	if r.code == 0 || r.code == 1 {
		r.mustJSON(t)
	}
	return r
}

// waitPeerMembers waits until `fedlic federation domains` on every given
// node lists peer with the given trusted flag and live/dead member ids
// that satisfy ok.
func waitPeerMembers(t *testing.T, nodes []*agentProc, peer string, trusted bool, ok func(live, dead []string) bool, what string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, what, func() (bool, string) {
		for _, n := range nodes {
			r := cli(t, "federation", "domains", "--addr", n.grpc, "--json", "--timeout", "3s")
			if r.code != 0 || r.jsonErr != nil {
				return false, r.String()
			}
			var entry map[string]any
			for _, d := range r.list("domains") {
				if m, _ := d.(map[string]any); m["domain"] == peer {
					entry = m
				}
			}
			if entry == nil {
				return false, n.id + " does not list " + peer + ": " + r.stdout
			}
			live, dead := strs(entry["live"]), strs(entry["dead"])
			if entry["trusted"] != trusted || !ok(live, dead) {
				return false, fmt.Sprintf("%s: %s trusted=%v live=%v dead=%v", n.id, peer, entry["trusted"], live, dead)
			}
		}
		return true, ""
	})
}

// strs turns a JSON array of strings into a sorted slice.
func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
