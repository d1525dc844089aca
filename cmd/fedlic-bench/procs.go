package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
)

// agentProc is one real `fedlic agent` process.
type agentProc struct {
	id, grpc, raft, dir string
	args                []string
	cmd                 *exec.Cmd
	exited              chan struct{} // closed when the process has been reaped
	client              *client.Client
}

type domain struct {
	bin    string
	name   string
	procs  []*agentProc
	tmp    string
	extras []string
}

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
	cands := []string{flagPath}
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "fedlic"))
	}
	cands = append(cands, "bin/fedlic")
	for _, c := range cands {
		if c == "" {
			continue
		}
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return filepath.Abs(c)
		}
	}
	return "", errors.New("fedlic binary not found: run `make build` or pass --fedlic PATH")
}

// startDomain starts three agent processes and waits for a leader.
func startDomain(ctx context.Context, bin string, extra ...string) (*domain, error) {
	return startNamedDomain(ctx, bin, "bench", nil, extra...)
}

// startNamedDomain starts domain name; perNode adds arguments for node i.
func startNamedDomain(ctx context.Context, bin, name string, perNode func(i int) []string, extra ...string) (*domain, error) {
	return startNodes(ctx, bin, name, 3, perNode, extra...)
}

// startNodes starts a domain of count agents: node 1 bootstraps, the
// others join it.
func startNodes(ctx context.Context, bin, name string, count int, perNode func(i int) []string, extra ...string) (*domain, error) {
	tmp, err := os.MkdirTemp("", "fedlic-bench-")
	if err != nil {
		return nil, err
	}
	d := &domain{bin: bin, name: name, tmp: tmp, extras: extra}
	for i := 0; i < count; i++ {
		var extraNode []string
		if perNode != nil {
			extraNode = perNode(i)
		}
		if _, err := d.addNode(extraNode...); err != nil {
			d.stop()
			return nil, err
		}
		if i == 0 {
			if _, err := d.waitLeader(ctx, 30*time.Second); err != nil {
				d.stop()
				return nil, err
			}
		}
	}
	if err := d.waitMembers(ctx, count); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// addNode starts one more agent: the first bootstraps, later ones join
// the first. It does not wait for the node to be a member.
func (d *domain) addNode(extra ...string) (*agentProc, error) {
	g, err1 := freePort()
	r, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	i := len(d.procs)
	p := &agentProc{id: fmt.Sprintf("n%d", i+1), grpc: g, raft: r, dir: filepath.Join(d.tmp, fmt.Sprintf("n%d", i+1))}
	p.args = []string{"agent", "--domain", d.name, "--node-id", p.id, "--data-dir", p.dir, "--raft-addr", r, "--grpc-addr", g, "--log-level", "warn"}
	if i == 0 {
		p.args = append(p.args, "--bootstrap")
	} else {
		p.args = append(p.args, "--join", d.procs[0].grpc)
	}
	p.args = append(p.args, d.extras...)
	p.args = append(p.args, extra...)
	d.procs = append(d.procs, p)
	return p, d.startProc(p)
}

func (d *domain) startProc(p *agentProc) error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(d.tmp, p.id+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(d.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	p.exited = exited
	go func() { p.cmd.Wait(); logf.Close(); close(exited) }()
	if p.client == nil {
		p.client, err = client.Dial(p.grpc)
	}
	return err
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *agentProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
		}
	}
}

// pids are the process ids of the running agents.
func (d *domain) pids() []int {
	var out []int
	for _, p := range d.procs {
		if p.cmd != nil && p.cmd.Process != nil {
			out = append(out, p.cmd.Process.Pid)
		}
	}
	return out
}

// stop kills every agent and removes the folder; calling it again is a no-op.
func (d *domain) stop() {
	for _, p := range d.procs {
		p.kill()
		if p.client != nil {
			p.client.Close()
		}
	}
	d.procs = nil
	os.RemoveAll(d.tmp)
}

func (d *domain) leader(ctx context.Context) *agentProc {
	for _, p := range d.procs {
		c, cancel := context.WithTimeout(ctx, time.Second)
		s, err := p.client.Status(c)
		cancel()
		if err == nil && s.GetState() == "Leader" {
			return p
		}
	}
	return nil
}

func (d *domain) waitLeader(ctx context.Context, max time.Duration) (*agentProc, error) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		if l := d.leader(ctx); l != nil {
			return l, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("no leader within %s (logs in %s)", max, d.tmp)
}

func (d *domain) waitMembers(ctx context.Context, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s, err := d.procs[0].client.Cluster.Members(ctx, &pb.MembersRequest{})
		if err == nil && len(s.GetMembers()) == n {
			all := true
			for _, m := range s.GetMembers() {
				all = all && m.GetGrpcAddress() != ""
			}
			if all {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("domain never reached %d members", n)
}

// waitConverged waits until all running processes report the same applied index.
func (d *domain) waitConverged(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	var obs []string
	for time.Now().Before(deadline) {
		obs = obs[:0]
		var first uint64
		same := true
		for i, p := range d.procs {
			s, err := p.client.Status(ctx)
			if err != nil {
				same = false
				obs = append(obs, p.id+":"+err.Error())
				break
			}
			if i == 0 {
				first = s.GetAppliedIndex()
			}
			same = same && s.GetAppliedIndex() == first && s.GetLeaderId() != ""
			obs = append(obs, fmt.Sprintf("%s=%d", p.id, s.GetAppliedIndex()))
		}
		if same {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("replicas did not converge: %s", strings.Join(obs, " "))
}
