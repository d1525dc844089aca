package main

// Helpers for the end-to-end tests in e2e_test.go: they build the fedlic
// binary once, run real `fedlic agent` processes, and drive them only
// through the CLI's --json output and exit codes (the CLI's contract).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fedlicBin is the binary TestMain built; empty in -short mode.
var fedlicBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "fedlic-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		os.Exit(2)
	}
	fedlicBin, err = buildFedlic(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildFedlic builds this package (the CLI) into dir, without cgo, as
// `make build` does.
func buildFedlic(dir string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "fedlic")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build fedlic: %v\n%s", err, out)
	}
	return bin, nil
}

// needBinary skips end-to-end tests in -short mode.
func needBinary(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: runs real agent processes; skipped in -short mode")
	}
	if fedlicBin == "" {
		t.Fatal("fedlic binary was not built by TestMain")
	}
}

// scaled stretches a deadline by FEDLIC_E2E_TIMEOUT_SCALE (e.g. 3 on a
// slow CI machine). Deadlines only bound waits; they never cause them.
func scaled(d time.Duration) time.Duration {
	if s, err := strconv.ParseFloat(os.Getenv("FEDLIC_E2E_TIMEOUT_SCALE"), 64); err == nil && s > 0 {
		return time.Duration(float64(d) * s)
	}
	return d
}

// waitFor polls cond until it reports true, failing the test after
// timeout with what was awaited and cond's last observation.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	timeout = scaled(timeout)
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last observation: %s", timeout, what, last)
		}
		time.Sleep(75 * time.Millisecond)
	}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// cliResult is one finished fedlic invocation.
type cliResult struct {
	args           []string
	code           int // exit code; -1 when killed by a signal
	stdout, stderr string
	obj            map[string]any // the JSON object on stdout, if any
	jsonErr        error          // why stdout is not exactly one JSON object
}

func (r cliResult) String() string {
	return fmt.Sprintf("`fedlic %s`: exit %d, stdout %q, stderr %q",
		strings.Join(r.args, " "), r.code, strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
}

// str returns a string field of the JSON answer ("" if absent).
func (r cliResult) str(key string) string {
	s, _ := r.obj[key].(string)
	return s
}

// num returns an unsigned integer field of the JSON answer.
func (r cliResult) num(t *testing.T, key string) uint64 {
	t.Helper()
	n, ok := r.obj[key].(json.Number)
	if !ok {
		t.Fatalf("%s: field %q is %T, not a number", r, key, r.obj[key])
	}
	v, err := strconv.ParseUint(n.String(), 10, 64)
	if err != nil {
		t.Fatalf("%s: field %q: %v", r, key, err)
	}
	return v
}

// list returns an array field of the JSON answer.
func (r cliResult) list(key string) []any {
	l, _ := r.obj[key].([]any)
	return l
}

// mustJSON fails unless stdout held exactly one JSON object on one line.
func (r cliResult) mustJSON(t *testing.T) cliResult {
	t.Helper()
	if r.jsonErr != nil {
		t.Fatalf("%s: stdout is not one JSON object: %v", r, r.jsonErr)
	}
	return r
}

// fedlic runs the CLI binary with args and returns its result. A command
// still running after timeout is killed (and reported with exit -1).
func fedlic(t *testing.T, timeout time.Duration, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(timeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, fedlicBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = childAttrs()
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run fedlic %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		r.code = -1
		r.stderr += fmt.Sprintf("\n[killed by the test after %s]", scaled(timeout))
	}
	r.obj, r.jsonErr = parseOneObject(r.stdout)
	return r
}

// cli runs a client command; they all answer well within 20 s.
func cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	return fedlic(t, 20*time.Second, args...)
}

// parseOneObject checks the --json contract: exactly one JSON object on
// exactly one line.
func parseOneObject(stdout string) (map[string]any, error) {
	s := strings.TrimSuffix(stdout, "\n")
	if s == "" {
		return nil, errors.New("stdout is empty")
	}
	if strings.Contains(s, "\n") {
		return nil, errors.New("stdout has more than one line")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	if obj == nil {
		return nil, errors.New("stdout is JSON null, not an object")
	}
	return obj, nil
}

// agentProc is one `fedlic agent` process, restartable with the same
// command line.
type agentProc struct {
	id, grpc, raft, dir, logPath string
	args                         []string
	run                          *procRun // nil before the first start
}

// procRun is one start of a process.
type procRun struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process is reaped
	err    error         // Wait's result; read only after exited
}

func (a *agentProc) start(t *testing.T) {
	t.Helper()
	if a.running() {
		t.Fatalf("%s is already running", a.id)
	}
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatalf("open log of %s: %v", a.id, err)
	}
	defer logf.Close() // the child holds its own descriptor
	fmt.Fprintf(logf, "=== test: starting fedlic %s\n", strings.Join(a.args, " "))
	cmd := exec.Command(fedlicBin, a.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", a.id, err)
	}
	r := &procRun{cmd: cmd, exited: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.exited)
	}()
	a.run = r
}

func (a *agentProc) running() bool {
	if a.run == nil {
		return false
	}
	select {
	case <-a.run.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL (no chance to clean up) and waits until the process
// is gone.
func (a *agentProc) kill(t *testing.T) {
	t.Helper()
	if !a.running() {
		return
	}
	a.run.cmd.Process.Kill()
	select {
	case <-a.run.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("%s (pid %d) still running 10s after SIGKILL", a.id, a.run.cmd.Process.Pid)
	}
}

// logTail returns the last n lines of the agent's log.
func (a *agentProc) logTail(n int) string {
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cluster is a three-node domain of agent processes.
type cluster struct {
	domain string
	dir    string
	nodes  []*agentProc
}

// startCluster starts node1 with --bootstrap and node2, node3 with --join
// node1, each in its own data folder, and kills them all when the test
// ends; on failure it logs the tail of every agent's log.
func startCluster(t *testing.T, domain string) *cluster {
	t.Helper()
	c := &cluster{domain: domain, dir: t.TempDir()}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.kill(t)
		}
		if t.Failed() {
			for _, n := range c.nodes {
				t.Logf("--- last lines of %s's log (%s):\n%s", n.id, n.logPath, n.logTail(60))
			}
		}
	})
	for i := 1; i <= 3; i++ {
		n := c.newAgent(t, fmt.Sprintf("node%d", i))
		if i == 1 {
			n.args = append(n.args, "--bootstrap")
		} else {
			n.args = append(n.args, "--join", c.nodes[0].grpc)
		}
		c.nodes = append(c.nodes, n)
		n.start(t)
	}
	return c
}

// newAgent describes (but does not start) an agent with fresh ports and
// its own data folder.
func (c *cluster) newAgent(t *testing.T, id string) *agentProc {
	t.Helper()
	n := &agentProc{id: id, grpc: freeAddr(t), raft: freeAddr(t)}
	n.dir = filepath.Join(c.dir, id)
	for i := 2; dirExists(n.dir); i++ { // a second agent with a taken id
		n.dir = filepath.Join(c.dir, fmt.Sprintf("%s-%d", id, i))
	}
	n.logPath = n.dir + ".log"
	n.args = []string{"agent", "--domain", c.domain, "--node-id", id, "--data-dir", n.dir,
		"--raft-addr", n.raft, "--grpc-addr", n.grpc}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return n
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func (c *cluster) node(t *testing.T, id string) *agentProc {
	t.Helper()
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	t.Fatalf("no node %q in the cluster", id)
	return nil
}

func (c *cluster) others(id string) []*agentProc {
	var out []*agentProc
	for _, n := range c.nodes {
		if n.id != id {
			out = append(out, n)
		}
	}
	return out
}

// clusterStatus runs `fedlic cluster status` against one node.
func clusterStatus(t *testing.T, n *agentProc) cliResult {
	t.Helper()
	return cli(t, "cluster", "status", "--hash", "--addr", n.grpc, "--json", "--timeout", "3s")
}

// waitStable waits until every given node answers cluster status with the
// same leader, knows that leader's gRPC address (needed to forward), and
// lists `members` members. It returns the leader's id.
func waitStable(t *testing.T, nodes []*agentProc, members int, timeout time.Duration) string {
	t.Helper()
	var leader string
	waitFor(t, timeout, fmt.Sprintf("a leader and %d members on every node", members), func() (bool, string) {
		leader = ""
		for _, n := range nodes {
			if !n.running() {
				t.Fatalf("%s exited: %v", n.id, n.run.err)
			}
			s := clusterStatus(t, n)
			switch {
			case s.code != 0 || s.jsonErr != nil:
				return false, s.String()
			case s.str("leader_id") == "" || s.str("leader_address") == "":
				return false, n.id + " knows no leader (or not its address): " + s.stdout
			case len(s.list("members")) != members:
				return false, fmt.Sprintf("%s lists %d members: %s", n.id, len(s.list("members")), s.stdout)
			case leader != "" && s.str("leader_id") != leader:
				return false, fmt.Sprintf("nodes disagree on the leader: %s and %s", leader, s.str("leader_id"))
			}
			leader = s.str("leader_id")
		}
		return true, ""
	})
	return leader
}

// waitConverged waits until every node reports the same applied index
// (at least minIndex), then requires equal state hashes. It returns the
// index and hash.
func waitConverged(t *testing.T, nodes []*agentProc, minIndex uint64, timeout time.Duration) (uint64, string) {
	t.Helper()
	var sts []cliResult
	waitFor(t, timeout, fmt.Sprintf("every node to apply the same index >= %d", minIndex), func() (bool, string) {
		sts = sts[:0]
		var idx []string
		for _, n := range nodes {
			s := clusterStatus(t, n)
			if s.code != 0 || s.jsonErr != nil {
				return false, s.String()
			}
			sts = append(sts, s)
			idx = append(idx, fmt.Sprintf("%s=%d", n.id, s.num(t, "applied_index")))
		}
		first := sts[0].num(t, "applied_index")
		for _, s := range sts {
			if a := s.num(t, "applied_index"); a != first || a < minIndex {
				return false, "applied indexes " + strings.Join(idx, " ")
			}
		}
		return true, ""
	})
	idx, hash := sts[0].num(t, "applied_index"), sts[0].str("state_hash")
	if hash == "" {
		t.Fatalf("%s: no state_hash", sts[0])
	}
	for i, s := range sts {
		if s.str("state_hash") != hash {
			t.Fatalf("replicas diverged at applied index %d: %s has state_hash %s, %s has %s",
				idx, nodes[0].id, hash, nodes[i].id, s.str("state_hash"))
		}
	}
	return idx, hash
}

// syncBuffer is an io.Writer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
