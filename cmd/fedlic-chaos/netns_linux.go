//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// netLab is the network of one process-mode run with partitions:
//
//	root namespace (harness, clients)  flc<pid><seq>: 10.213.K.1/24
//	   | veth
//	flc<pid><seq>hub: bridge br0 (uplink, n1, n2, n3)
//	   | veth per node
//	flc<pid><seq>n1..n3: eth0 10.213.K.11-13/24, lo, default via 10.213.K.1
//
// The bridge lives in a namespace of its own, not in the root one: with
// br_netfilter loaded (Docker loads it, and sets the root FORWARD policy
// to DROP), frames bridged in the root namespace go through the root's
// iptables FORWARD chain and node-to-node traffic is dropped. A fresh
// namespace has no rules, so its bridge forwards everything.
//
// A partition is an nftables table inside the victim's namespace that
// drops packets to and from the other nodes' addresses, but not from the
// root end (10.213.K.1): the harness's clients still reach the victim.
type netLab struct {
	prefix string   // every name of this lab starts with it
	subnet string   // "10.213.K"
	rootIf string   // root end of the uplink veth
	hub    string   // namespace of the bridge
	nodes  []string // namespace of node i

	mu       sync.Mutex
	isolated map[int]bool
}

// Names: "flc" + pid + a letter per lab of this process. The full pid
// (not a remainder) is in the name, so a later run can tell whether the
// run that made a namespace is still alive.
var (
	labSeq    atomic.Int32
	labNSRe   = regexp.MustCompile(`^flc([0-9]+)([a-z])(hub|n[0-9]+|probe)$`)
	labLinkRe = regexp.MustCompile(`^flc([0-9]+)([a-z])$`)
)

// labTable is the nftables table holding a partition's rules.
const labTable = "fedlic_chaos"

// labRaftPort and labGRPCPort are every node's ports: each node has an
// address of its own, so they need not be free ports.
const (
	labRaftPort = 7000
	labGRPCPort = 7001
)

func (l *netLab) nodeIP(i int) string { return fmt.Sprintf("%s.%d", l.subnet, 11+i) }
func (l *netLab) rootIP() string      { return l.subnet + ".1" }

// addrs are node i's raft and gRPC addresses.
func (l *netLab) addrs(i int) (raft, grpc string) {
	ip := l.nodeIP(i)
	return net.JoinHostPort(ip, strconv.Itoa(labRaftPort)), net.JoinHostPort(ip, strconv.Itoa(labGRPCPort))
}

// wrap is the command prefix that runs a program in node i's namespace.
// `ip netns exec` execs the program (it does not fork), so the pid the
// harness holds is the program's and kill -9 and SIGSTOP reach it.
func (l *netLab) wrap(i int) []string { return []string{"ip", "netns", "exec", l.nodes[i]} }

// ipCmd runs one command with a timeout, returning its output in the error.
func ipCmd(stdin string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// probeNetns says why partitions cannot run here, or nil: the harness
// must be root, have ip and nft, and be able to add a namespace and an
// nftables table in it.
func probeNetns() error {
	if os.Geteuid() != 0 {
		return errors.New("not root (network namespaces need root)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found in PATH", tool)
		}
	}
	ns := fmt.Sprintf("flc%d%cprobe", os.Getpid(), 'a'+(labSeq.Add(1)-1)%26)
	if err := ipCmd("", "ip", "netns", "add", ns); err != nil {
		return err
	}
	defer ipCmd("", "ip", "netns", "del", ns)
	return ipCmd("", "ip", "netns", "exec", ns, "nft", "add", "table", "inet", labTable)
}

// newNetLab builds the namespaces, veths and bridge for n nodes. On error
// whatever was made is removed.
func newNetLab(n int) (*netLab, error) {
	pid := os.Getpid()
	prefix := fmt.Sprintf("flc%d%c", pid, 'a'+(labSeq.Add(1)-1)%26)
	k, err := freeSubnet(pid)
	if err != nil {
		return nil, err
	}
	l := &netLab{prefix: prefix, subnet: fmt.Sprintf("10.213.%d", k), rootIf: prefix, hub: prefix + "hub", isolated: map[int]bool{}}
	for i := 0; i < n; i++ {
		l.nodes = append(l.nodes, fmt.Sprintf("%sn%d", prefix, i+1))
	}
	steps := [][]string{
		{"netns", "add", l.hub},
		{"-n", l.hub, "link", "add", "br0", "type", "bridge"},
		{"-n", l.hub, "link", "set", "dev", "br0", "up"},
		{"link", "add", l.rootIf, "type", "veth", "peer", "name", "uplink", "netns", l.hub},
		{"addr", "add", l.rootIP() + "/24", "dev", l.rootIf},
		{"link", "set", "dev", l.rootIf, "up"},
		{"-n", l.hub, "link", "set", "dev", "uplink", "master", "br0", "up"},
	}
	for i, ns := range l.nodes {
		hubEnd := fmt.Sprintf("n%d", i+1)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"link", "add", "name", "eth0", "netns", ns, "type", "veth", "peer", "name", hubEnd, "netns", l.hub},
			[]string{"-n", l.hub, "link", "set", "dev", hubEnd, "master", "br0", "up"},
			[]string{"-n", ns, "addr", "add", l.nodeIP(i) + "/24", "dev", "eth0"},
			[]string{"-n", ns, "link", "set", "dev", "eth0", "up"},
			[]string{"-n", ns, "link", "set", "dev", "lo", "up"},
			[]string{"-n", ns, "route", "add", "default", "via", l.rootIP()},
		)
	}
	for _, s := range steps {
		if err := ipCmd("", "ip", s...); err != nil {
			l.close()
			return nil, fmt.Errorf("set up network namespaces: %w", err)
		}
	}
	return l, nil
}

// freeSubnet picks K for 10.213.K.0/24, starting from one derived from
// pid, skipping any K an address of the root namespace is in, and 77
// (docker mode's default network).
func freeSubnet(pid int) (int, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return 0, err
	}
	used := map[int]bool{77: true}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip4 := ipn.IP.To4(); ip4 != nil && ip4[0] == 10 && ip4[1] == 213 {
				used[int(ip4[2])] = true
			}
		}
	}
	const lo, span = 100, 150 // 10.213.100.0 - 10.213.249.0
	for j := 0; j < span; j++ {
		if k := lo + (pid+j)%span; !used[k] {
			return k, nil
		}
	}
	return 0, errors.New("no free 10.213.K.0/24 subnet for the network namespaces")
}

// isolate cuts node i off from every other node, both directions. The
// root end stays reachable.
func (l *netLab) isolate(i int) error {
	var peers []string
	for j := range l.nodes {
		if j != i {
			peers = append(peers, l.nodeIP(j))
		}
	}
	set := strings.Join(peers, ", ")
	rules := fmt.Sprintf(`table inet %[1]s {
	chain in { type filter hook input priority -10; policy accept; ip saddr { %[2]s } drop; }
	chain out { type filter hook output priority -10; policy accept; ip daddr { %[2]s } drop; }
}
`, labTable, set)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := ipCmd(rules, "ip", "netns", "exec", l.nodes[i], "nft", "-f", "-"); err != nil {
		return err
	}
	l.isolated[i] = true
	return nil
}

// heal removes node i's partition rules.
func (l *netLab) heal(i int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.isolated[i] {
		return nil
	}
	if err := ipCmd("", "ip", "netns", "exec", l.nodes[i], "nft", "delete", "table", "inet", labTable); err != nil {
		return err
	}
	delete(l.isolated, i)
	return nil
}

// close deletes the lab's namespaces (their veths and the bridge go with
// them) and the root end of the uplink. Agents still running in a
// namespace keep it alive until they exit: stop them first.
func (l *netLab) close() error {
	var errs []error
	for _, ns := range append([]string{l.hub}, l.nodes...) {
		if nsExists(ns) {
			errs = append(errs, ipCmd("", "ip", "netns", "del", ns))
		}
	}
	if _, err := net.InterfaceByName(l.rootIf); err == nil {
		errs = append(errs, ipCmd("", "ip", "link", "del", "dev", l.rootIf))
	}
	return errors.Join(errs...)
}

func nsExists(ns string) bool {
	_, err := os.Stat("/var/run/netns/" + ns)
	return err == nil
}

// pidAlive reports whether a process with this pid runs. A zombie (a
// killed run not yet reaped by its parent) counts as dead.
func pidAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		err := syscall.Kill(pid, 0)
		return err == nil || errors.Is(err, syscall.EPERM)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+1:]) // after "pid (comm)"
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// removeStaleLabs deletes namespaces and root links named like a lab
// whose process is gone (a run that was killed before cleaning up). It
// returns what it removed.
func removeStaleLabs() ([]string, error) {
	stale := func(re *regexp.Regexp, name string) bool {
		m := re.FindStringSubmatch(name)
		if m == nil {
			return false
		}
		pid, err := strconv.Atoi(m[1])
		return err == nil && pid != os.Getpid() && !pidAlive(pid)
	}
	var removed []string
	var errs []error
	entries, _ := os.ReadDir("/var/run/netns")
	for _, e := range entries {
		if stale(labNSRe, e.Name()) {
			if err := ipCmd("", "ip", "netns", "del", e.Name()); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, "netns "+e.Name())
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		errs = append(errs, err)
	}
	for _, ifc := range ifs {
		if stale(labLinkRe, ifc.Name) {
			if err := ipCmd("", "ip", "link", "del", "dev", ifc.Name); err != nil {
				// Deleting its peer's namespace may have removed it meanwhile.
				if _, gone := net.InterfaceByName(ifc.Name); gone == nil {
					errs = append(errs, err)
				}
				continue
			}
			removed = append(removed, "link "+ifc.Name)
		}
	}
	return removed, errors.Join(errs...)
}
