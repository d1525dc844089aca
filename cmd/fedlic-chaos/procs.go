package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// member is one node of the domain under test: a process this harness
// started (proc != nil) or an existing node it attached to.
type member struct {
	name   string // raft node id, also the name used in the history
	grpc   string
	client *client.Client
	proc   *agentProc
}

// agentProc is one real `fedlic agent` process. Restarts reuse args, so a
// restarted node resumes from the same data dir.
type agentProc struct {
	bin, dir, logPath string
	args              []string
	// wrap, if set, is a command prefix the agent runs under, such as
	// `ip netns exec NS`; it must exec the agent, so the pid is the agent's.
	wrap []string

	mu       sync.Mutex
	shutdown bool // set by stopAll: never start again
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the current process has been reaped
}

// chaosConfigHCL lowers raft's snapshot interval (120 s by default, and
// not a flag) so snapshots, and restarts from them, happen in short runs.
const chaosConfigHCL = `snapshot_interval = "1s"
trailing_logs = 128
`

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// findFedlic locates the fedlic binary: --fedlic, beside this binary, or bin/fedlic.
func findFedlic(flagPath string) (string, error) {
	if flagPath != "" {
		if st, err := os.Stat(flagPath); err != nil || st.IsDir() {
			return "", fmt.Errorf("--fedlic %s: not a file", flagPath)
		}
		return filepath.Abs(flagPath)
	}
	var cands []string
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "fedlic"))
	}
	cands = append(cands, "bin/fedlic")
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return filepath.Abs(c)
		}
	}
	return "", errors.New("fedlic binary not found: run `make build` or pass --fedlic PATH")
}

// startProcs starts three agents in tmp (node1 bootstraps, the others
// join it) and waits for three members and a leader. Without lab they
// listen on free loopback ports; with it, node i runs in the lab's
// namespace i and listens on that namespace's address.
func startProcs(ctx context.Context, bin, tmp string, snapshotThreshold uint64, register func(*agentProc), lab *netLab) ([]*member, error) {
	cfgPath := filepath.Join(tmp, "chaos.hcl")
	if err := os.WriteFile(cfgPath, []byte(chaosConfigHCL), 0o600); err != nil {
		return nil, err
	}
	var ms []*member
	fail := func(err error) ([]*member, error) {
		stopAll(ms)
		return nil, err
	}
	for i := 0; i < 3; i++ {
		var g, r string
		var wrap []string
		if lab != nil {
			r, g = lab.addrs(i)
			wrap = lab.wrap(i)
		} else {
			var err1, err2 error
			g, err1 = freePort()
			r, err2 = freePort()
			if err := errors.Join(err1, err2); err != nil {
				return fail(err)
			}
		}
		name := fmt.Sprintf("n%d", i+1)
		p := &agentProc{bin: bin, dir: filepath.Join(tmp, name), logPath: filepath.Join(tmp, name+".log"), wrap: wrap}
		p.args = []string{"agent", "--config", cfgPath, "--domain", "chaos", "--node-id", name, "--data-dir", p.dir,
			"--raft-addr", r, "--grpc-addr", g, "--log-level", "info", "--snapshot-threshold", fmt.Sprint(snapshotThreshold)}
		if i == 0 {
			p.args = append(p.args, "--bootstrap")
		} else {
			p.args = append(p.args, "--join", ms[0].grpc)
		}
		c, err := client.Dial(g)
		if err != nil {
			return fail(err)
		}
		if register != nil {
			register(p)
		}
		m := &member{name: name, grpc: g, client: c, proc: p}
		ms = append(ms, m)
		if err := p.start(); err != nil {
			return fail(err)
		}
		if i == 0 {
			if err := waitFor(ctx, 30*time.Second, "node n1 to lead", func() (bool, string) {
				s, err := statusOf(ctx, m, time.Second)
				if err != nil {
					return false, err.Error()
				}
				return s.GetState() == "Leader", s.GetState()
			}); err != nil {
				return fail(fmt.Errorf("%w (log: %s)", err, p.logPath))
			}
		}
	}
	if err := waitFor(ctx, 30*time.Second, "three members", func() (bool, string) {
		c, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		s, err := ms[0].client.Cluster.Members(c, &pb.MembersRequest{})
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, m := range s.GetMembers() {
			if m.GetGrpcAddress() != "" {
				n++
			}
		}
		return n == 3, fmt.Sprintf("%d members with gRPC addresses", n)
	}); err != nil {
		return fail(err)
	}
	for _, m := range ms {
		if err := waitServing(ctx, m, 30*time.Second); err != nil {
			return fail(err)
		}
	}
	return ms, nil
}

// attach dials existing nodes and names them by their node ids.
func attach(ctx context.Context, addrs []string) ([]*member, error) {
	var ms []*member
	for _, a := range addrs {
		c, err := client.Dial(a)
		if err != nil {
			stopAll(ms)
			return nil, err
		}
		m := &member{name: a, grpc: a, client: c}
		ms = append(ms, m)
		s, err := statusOf(ctx, m, 5*time.Second)
		if err != nil {
			stopAll(ms)
			return nil, fmt.Errorf("attach to %s: %w", a, err)
		}
		m.name = s.GetNodeId()
	}
	return ms, nil
}

func (p *agentProc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutdown {
		return errors.New("the run is over: not restarting")
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	argv := append(append(append([]string(nil), p.wrap...), p.bin), p.args...)
	fmt.Fprintf(logf, "==== chaos: starting %v at %s\n", argv, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.bin, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	return nil
}

// kill sends SIGKILL (after SIGCONT, harmless) and waits until reaped.
func (p *agentProc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
}

// stop kills the process for good: a later start fails.
func (p *agentProc) stop() {
	p.mu.Lock()
	p.shutdown = true
	p.mu.Unlock()
	p.kill()
}

func (p *agentProc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return errors.New("not started")
	}
	return p.cmd.Process.Signal(sig)
}

// stopAll kills every started process and closes every client.
func stopAll(ms []*member) {
	var wg sync.WaitGroup
	for _, m := range ms {
		if m.proc != nil {
			wg.Add(1)
			go func() { defer wg.Done(); m.proc.stop() }()
		}
	}
	wg.Wait()
	for _, m := range ms {
		m.client.Close()
	}
}

func statusOf(ctx context.Context, m *member, timeout time.Duration) (*pb.StatusResponse, error) {
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return m.client.Status(c)
}

// waitServing waits until m answers a stale read: then it has caught up
// with the log and serves stale reads (node.CaughtUp latches).
func waitServing(ctx context.Context, m *member, max time.Duration) error {
	return waitFor(ctx, max, m.name+" to serve stale reads", func() (bool, string) {
		c, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := m.client.Get(c, "chaos-probe-no-such-license", pb.Consistency_CONSISTENCY_STALE)
		if status.Code(err) == codes.NotFound {
			return true, ""
		}
		return false, fmt.Sprint(err)
	})
}

// waitFor polls cond every 50 ms until it holds, ctx ends or max passes.
func waitFor(ctx context.Context, max time.Duration, what string, cond func() (bool, string)) error {
	deadline := time.Now().Add(max)
	last := ""
	for {
		ok, obs := cond()
		if ok {
			return nil
		}
		last = obs
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s; last observation: %s", max, what, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
