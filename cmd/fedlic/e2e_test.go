package main

// End-to-end tests: real `fedlic agent` processes on loopback, driven only
// through the fedlic CLI (flags, --json output, exit codes 0/1/2), the
// way an operator or a script would. Helpers are in e2e_helpers_test.go.
// Run them with: go test -race -run E2E -v ./cmd/fedlic/

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EClusterFailover: issue through a follower, lose the leader to
// kill -9, keep answering stale checks through the election, write again,
// bring the old leader back from its folder with its original command
// line, revoke, and require every replica to end in the same state.
func TestE2EClusterFailover(t *testing.T) {
	needBinary(t)
	begin := time.Now()
	c := startCluster(t, "e2e")

	// 1. Every node sees a leader and three members.
	leaderID := waitStable(t, c.nodes, 3, 60*time.Second)
	t.Logf("step 1: leader %s, 3 members after %s", leaderID, time.Since(begin).Round(time.Millisecond))

	// 2. Issue through a follower: the follower forwards to the leader.
	follower := c.others(leaderID)[0]
	const licensee, product = "initrode", "acme/db"
	issued := cli(t, "license", "issue", "--addr", follower.grpc, "--json",
		"--licensee", licensee, "--product", product, "--feature", "seats=10", "--feature", "sso=true").mustJSON(t)
	if issued.code != 0 {
		t.Fatalf("issue via follower %s: %s", follower.id, issued)
	}
	licID := issued.str("id")
	if !strings.HasPrefix(licID, "lic-") || issued.str("status") != "active" {
		t.Fatalf("issue: want an active license with a lic- id: %s", issued)
	}
	ents, _ := issued.obj["entitlements"].(map[string]any)
	if fmt.Sprint(ents["seats"]) != "10" || ents["sso"] != true {
		t.Fatalf("issue: entitlements = %v, want seats=10 sso=true", ents)
	}
	checkArgs := func(n *agentProc, feature string, extra ...string) []string {
		return append([]string{"check", "--addr", n.grpc, "--json", "--timeout", "3s", "--consistency", "stale",
			"--licensee", licensee, "--product", product, "--feature", feature}, extra...)
	}
	for _, n := range c.nodes {
		waitFor(t, 10*time.Second, "the new license to be allowed on "+n.id, func() (bool, string) {
			r := cli(t, checkArgs(n, "seats", "--amount", "10")...)
			return r.code == 0 && r.jsonErr == nil && r.obj["allowed"] == true && r.str("license_id") == licID, r.String()
		})
	}
	if r := cli(t, checkArgs(c.nodes[0], "seats", "--amount", "11")...).mustJSON(t); r.code != 1 || r.obj["allowed"] != false {
		t.Fatalf("check above the limit: want exit 1 and allowed=false: %s", r)
	}
	if r := cli(t, checkArgs(c.nodes[1], "sso")...).mustJSON(t); r.code != 0 || r.obj["allowed"] != true {
		t.Fatalf("check of the sso flag: want exit 0 and allowed=true: %s", r)
	}
	t.Logf("step 2: issued %s via %s at index %d; allowed on all nodes", licID, follower.id, issued.num(t, "index"))

	// 3. kill -9 the leader. Until the survivors report a new leader,
	// every stale check on them must still answer "allowed".
	victim := c.node(t, leaderID)
	survivors := c.others(leaderID)
	victim.kill(t)
	killedAt := time.Now()
	checks := 0
	var newLeader string
	waitFor(t, 30*time.Second, "the survivors to elect a new leader after "+victim.id+" was killed", func() (bool, string) {
		for _, s := range survivors {
			r := cli(t, checkArgs(s, "seats", "--amount", "10")...)
			checks++
			if r.code != 0 || r.jsonErr != nil || r.obj["allowed"] != true {
				t.Fatalf("stale check on %s while the domain had no leader (check #%d, %s after the kill): %s",
					s.id, checks, time.Since(killedAt).Round(time.Millisecond), r)
			}
		}
		var seen []string
		for _, s := range survivors {
			st := clusterStatus(t, s)
			if st.code != 0 || st.jsonErr != nil {
				seen = append(seen, st.String())
				continue
			}
			if l := st.str("leader_id"); l != "" && l != victim.id {
				newLeader = l
				return true, ""
			}
			seen = append(seen, fmt.Sprintf("%s: state %s, leader %q", s.id, st.str("state"), st.str("leader_id")))
		}
		return false, strings.Join(seen, "; ")
	})
	if checks < 1 {
		t.Fatal("no stale check ran while the survivors had no leader")
	}
	t.Logf("step 3: killed %s; %s leads after %s; %d stale checks during the election all allowed",
		victim.id, newLeader, time.Since(killedAt).Round(time.Millisecond), checks)

	// 4. Writes resume on the survivors (exit 2 = no leader yet: retry).
	var second cliResult
	waitFor(t, 30*time.Second, "a write to succeed on "+survivors[0].id+" after the failover", func() (bool, string) {
		second = cli(t, "license", "issue", "--addr", survivors[0].grpc, "--json", "--timeout", "5s",
			"--licensee", "hooli", "--product", product, "--feature", "seats=3")
		switch second.code {
		case 0:
			return true, ""
		case 2:
			return false, second.String()
		}
		t.Fatalf("issue after failover: want exit 0, or 2 while there is no leader: %s", second)
		return false, ""
	})
	second.mustJSON(t)
	newIndex := second.num(t, "index")
	t.Logf("step 4: write resumed %s after the kill, index %d", time.Since(killedAt).Round(time.Millisecond), newIndex)

	// 5. Restart the killed node with its original command line: it
	// resumes from its folder, neither bootstrapping nor joining again.
	restartAt := time.Now()
	victim.start(t)
	waitFor(t, 30*time.Second, victim.id+" to catch up after its restart", func() (bool, string) {
		if !victim.running() {
			t.Fatalf("%s exited after its restart: %v\n%s", victim.id, victim.run.err, victim.logTail(30))
		}
		s := clusterStatus(t, victim)
		if s.code != 0 || s.jsonErr != nil {
			return false, s.String()
		}
		return s.num(t, "applied_index") >= newIndex && s.str("leader_id") != "", s.stdout
	})
	// Same three members at the same addresses: the restart added nobody.
	s := clusterStatus(t, victim).mustJSON(t)
	for _, m := range s.list("members") {
		mm, _ := m.(map[string]any)
		id, _ := mm["id"].(string)
		if n := c.node(t, id); mm["address"] != n.raft || mm["grpc_address"] != n.grpc {
			t.Fatalf("after the restart, member %s is at %v / %v, want raft %s grpc %s", id, mm["address"], mm["grpc_address"], n.raft, n.grpc)
		}
	}
	if len(s.list("members")) != 3 {
		t.Fatalf("after the restart: want 3 members: %s", s)
	}
	if r := cli(t, checkArgs(victim, "seats", "--amount", "10")...); r.code != 0 {
		t.Fatalf("stale check on the restarted %s: %s", victim.id, r)
	}
	t.Logf("step 5: %s restarted and caught up to index %d in %s", victim.id, newIndex, time.Since(restartAt).Round(time.Millisecond))

	// 6. Revoke (through the restarted node); every node denies.
	rev := cli(t, "license", "revoke", licID, "--reason", "test", "--addr", victim.grpc, "--json").mustJSON(t)
	if rev.code != 0 || rev.str("status") != "revoked" {
		t.Fatalf("revoke: %s", rev)
	}
	revokedAt := time.Now()
	for _, n := range c.nodes {
		waitFor(t, 10*time.Second, "the revocation to reach "+n.id, func() (bool, string) {
			r := cli(t, checkArgs(n, "seats")...)
			if r.code == 0 || r.code == 1 {
				r.mustJSON(t)
			}
			return r.code == 1 && r.obj["allowed"] == false && strings.Contains(r.str("reason"), "revoked"), r.String()
		})
		g := cli(t, "license", "get", licID, "--consistency", "stale", "--addr", n.grpc, "--json").mustJSON(t)
		rv, _ := g.obj["revocation"].(map[string]any)
		if g.code != 0 || g.str("status") != "revoked" || rv["reason"] != "test" {
			t.Fatalf("get on %s after the revocation: want status revoked, reason test: %s", n.id, g)
		}
	}
	t.Logf("step 6: revocation denied on every node within %s", time.Since(revokedAt).Round(time.Millisecond))

	// 7. Every replica ends in the same state.
	idx, hash := waitConverged(t, c.nodes, rev.num(t, "index"), 20*time.Second)
	t.Logf("step 7: all replicas at index %d, state_hash %s; whole test %s", idx, hash, time.Since(begin).Round(time.Millisecond))
}

// TestE2EBadInput: bad flags, files and requests exit 2 with a message on
// stderr, print nothing on stdout, and change nothing in the domain.
func TestE2EBadInput(t *testing.T) {
	needBinary(t)
	c := startCluster(t, "e2e-bad")
	waitStable(t, c.nodes, 3, 60*time.Second)
	addr := c.nodes[1].grpc
	ok := cli(t, "license", "issue", "--addr", addr, "--json", "--licensee", "globex", "--product", "acme/db",
		"--feature", "seats=5").mustJSON(t)
	if ok.code != 0 {
		t.Fatalf("issue: %s", ok)
	}

	countLicenses := func() int {
		r := cli(t, "license", "list", "--all", "--addr", addr, "--json").mustJSON(t)
		if r.code != 0 {
			t.Fatalf("list: %s", r)
		}
		return len(r.list("licenses"))
	}
	beforeIdx, beforeHash := waitConverged(t, c.nodes, ok.num(t, "index"), 20*time.Second)
	beforeCount := countLicenses()

	dir := t.TempDir()
	writeFile := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	valid := fmt.Sprintf("domain = \"x\"\nnode_id = \"n9\"\ndata_dir = %q\nraft_addr = \"127.0.0.1:1\"\ngrpc_addr = \"127.0.0.1:2\"\n",
		filepath.Join(dir, "n9"))
	unknownKey := writeFile("unknown.hcl", valid+"bogus_setting = 3\n")
	syntaxErr := writeFile("syntax.hcl", valid+"log_level = \"info\n")
	agentFlags := []string{"--node-id", "n9", "--data-dir", filepath.Join(dir, "n9"), "--raft-addr", "127.0.0.1:1", "--grpc-addr", "127.0.0.1:2"}
	issue := []string{"license", "issue", "--addr", addr, "--json", "--licensee", "globex", "--product", "acme/db"}

	cases := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"agent without --domain", append([]string{"agent"}, agentFlags...), []string{"--domain is required"}},
		{"agent --bootstrap --join", append([]string{"agent", "--domain", "x", "--bootstrap", "--join", "x:1"}, agentFlags...),
			[]string{"--bootstrap and --join exclude each other"}},
		{"config with an unknown key", []string{"agent", "--config", unknownKey}, []string{"unknown.hcl", "bogus_setting"}},
		{"config with a syntax error", []string{"agent", "--config", syntaxErr}, []string{"syntax.hcl"}},
		{"feature limit not a number", slices.Concat(issue, []string{"--feature", "seats=abc"}), []string{"seats=abc", "whole number"}},
		{"feature without =", slices.Concat(issue, []string{"--feature", "seats"}), []string{"NAME=LIMIT"}},
		{"check without --feature", []string{"check", "--addr", addr, "--json", "--licensee", "globex", "--product", "acme/db"},
			[]string{"--feature is required"}},
		{"get an unknown license", []string{"license", "get", "lic-doesnotexist", "--addr", addr, "--json"},
			[]string{"not found", "lic-doesnotexist"}},
		{"inverted validity window", slices.Concat(issue, []string{"--feature", "seats=1",
			"--not-before", "2030-01-01T00:00:00Z", "--not-after", "2029-01-01T00:00:00Z"}), []string{"invalidargument", "inverted"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, tc.args...)
			if r.code != 2 {
				t.Fatalf("want exit 2: %s", r)
			}
			t.Logf("stderr: %s", strings.TrimSpace(r.stderr))
			if r.stdout != "" {
				t.Errorf("want nothing on stdout: %s", r)
			}
			if !strings.HasPrefix(r.stderr, "error: ") {
				t.Errorf("want stderr to start with \"error: \": %s", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(r.stderr), strings.ToLower(w)) {
					t.Errorf("want stderr to mention %q: %s", w, r)
				}
			}
		})
	}

	// A fourth agent claims node2's id with another raft address: the
	// leader refuses the join and the agent exits.
	t.Run("join with a taken node id", func(t *testing.T) {
		imp := c.newAgent(t, "node2")
		args := slices.Concat(imp.args, []string{"--join", c.nodes[0].grpc})
		r := fedlic(t, 60*time.Second, args...)
		if r.code == 0 || r.code == -1 {
			t.Fatalf("want the impostor agent to exit non-zero on its own: %s", r)
		}
		if !strings.Contains(r.stderr, "node2") || !strings.Contains(r.stderr, "refused") {
			t.Fatalf("want stderr to say the join of node2 was refused: %s", r)
		}
		t.Logf("exit %d; last stderr line: %s", r.code, lastLine(r.stderr))
		s := clusterStatus(t, c.nodes[0]).mustJSON(t)
		for _, m := range s.list("members") {
			mm, _ := m.(map[string]any)
			if mm["id"] == "node2" && mm["address"] != c.node(t, "node2").raft {
				t.Fatalf("node2's address changed to %v", mm["address"])
			}
		}
		if len(s.list("members")) != 3 {
			t.Fatalf("want 3 members after the refused join: %s", s)
		}
	})

	afterIdx, afterHash := waitConverged(t, c.nodes, beforeIdx, 20*time.Second)
	if afterIdx != beforeIdx || afterHash != beforeHash {
		t.Errorf("rejected input changed the domain: applied index %d -> %d, state_hash %s -> %s",
			beforeIdx, afterIdx, beforeHash, afterHash)
	}
	if n := countLicenses(); n != beforeCount {
		t.Errorf("rejected input changed the number of licenses: %d -> %d", beforeCount, n)
	}
}

// TestE2EDev: `fedlic dev` comes up, answers the check it prints, and on
// Ctrl-C stops and deletes its temporary data folder.
func TestE2EDev(t *testing.T) {
	needBinary(t)
	var (
		proc           *procRun
		stdout, stderr *syncBuffer
	)
	tmp := t.TempDir() // before the Cleanup below, so removed after the kill
	t.Cleanup(func() {
		if proc != nil {
			proc.cmd.Process.Kill()
			<-proc.exited
		}
		if t.Failed() && stdout != nil {
			t.Logf("--- fedlic dev stdout:\n%s\n--- stderr:\n%s", stdout, stderr)
		}
	})
	ready := false
	for attempt := 1; attempt <= 5 && !ready; attempt++ {
		// Three consecutive gRPC ports, then three raft ports, below the
		// kernel's ephemeral range so outgoing connections rarely take them.
		base := 20000 + rand.IntN(12000)
		if !portsFree(base, 19) {
			continue
		}
		if proc != nil {
			proc.cmd.Process.Kill()
			<-proc.exited
		}
		stdout, stderr = &syncBuffer{}, &syncBuffer{}
		cmd := exec.Command(fedlicBin, "dev", "--grpc-port", strconv.Itoa(base), "--raft-port", strconv.Itoa(base+3), "--gossip-port", strconv.Itoa(base+6))
		cmd.Stdout, cmd.Stderr = stdout, stderr
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		cmd.SysProcAttr = childAttrs()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &procRun{cmd: cmd, exited: make(chan struct{})}
		go func() {
			p.err = cmd.Wait()
			close(p.exited)
		}()
		proc = p
		waitFor(t, 60*time.Second, "fedlic dev to print ready (or exit)", func() (bool, string) {
			select {
			case <-p.exited:
				return true, ""
			default:
			}
			return strings.Contains(stdout.String(), "\nready"), stdout.String()
		})
		select {
		case <-p.exited:
			if strings.Contains(stderr.String(), "address already in use") {
				t.Logf("attempt %d: a port near %d was taken; retrying: %s", attempt, base, stderr)
				continue
			}
			t.Fatalf("fedlic dev exited before ready: %v\nstdout:\n%s\nstderr:\n%s", p.err, stdout, stderr)
		default:
			ready = true
		}
	}
	if !ready {
		t.Fatal("fedlic dev: no free block of ports after 5 attempts")
	}
	out := stdout.String()
	m := regexp.MustCompile(`data and logs in (\S+)`).FindStringSubmatch(out)
	if m == nil || !dirExists(m[1]) {
		t.Fatalf("fedlic dev did not print an existing data folder:\n%s", out)
	}
	dataDir := m[1]

	// Run the example check that dev prints, exactly as printed.
	var example []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[0] == "fedlic" && f[1] == "check" && strings.Contains(line, "globex") {
			example = f[1:]
			break
		}
	}
	if example == nil || !strings.Contains(strings.Join(example, " "), "--product acme/db --feature seats") {
		t.Fatalf("fedlic dev printed no example check for globex acme/db seats:\n%s", out)
	}
	r := cli(t, append(example, "--json")...).mustJSON(t)
	if r.code != 0 || r.obj["allowed"] != true {
		t.Fatalf("the example check printed by fedlic dev: %s", r)
	}

	// Ctrl-C: the process stops on its own and removes its data folder.
	if err := proc.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	stopAt := time.Now()
	waitFor(t, 20*time.Second, "fedlic dev to exit after SIGINT", func() (bool, string) {
		select {
		case <-proc.exited:
			return true, ""
		default:
			return false, "still running"
		}
	})
	if proc.err != nil {
		t.Errorf("fedlic dev after SIGINT: %v (want exit 0)\nstderr:\n%s", proc.err, stderr)
	}
	if !strings.Contains(stdout.String(), "stopping the dev federation") {
		t.Errorf("fedlic dev did not say it was stopping:\n%s", stdout)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("fedlic dev left its data folder %s behind (stat: %v)", dataDir, err)
	}
	t.Logf("fedlic dev stopped %s after SIGINT", time.Since(stopAt).Round(time.Millisecond))
}

// portsFree reports whether n consecutive loopback ports from base are
// free now.
func portsFree(base, n int) bool {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for p := base; p < base+n; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		ls = append(ls, l)
	}
	return true
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
