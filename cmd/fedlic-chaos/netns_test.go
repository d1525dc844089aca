//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes TestNetnsHelper, run in a child process inside a
// namespace, listen on or dial an address.
const helperEnv = "FEDLIC_CHAOS_NETNS_HELPER"

// TestNetnsHelper is not a test: in a child started by startHelper it
// either listens ("listen ADDR": accept and close forever, after printing
// "ready") or dials once ("dial ADDR": exit 0 if connected, 3 if not).
func TestNetnsHelper(t *testing.T) {
	verb, addr, ok := strings.Cut(os.Getenv(helperEnv), " ")
	if !ok {
		t.Skip("only a helper process for TestNetnsIsolate")
	}
	switch verb {
	case "listen":
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(2)
		}
		fmt.Println("ready")
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(2)
			}
			c.Close()
		}
	case "dial":
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(3)
		}
		c.Close()
		os.Exit(0)
	}
	os.Exit(2)
}

// helperCmd runs this test binary's TestNetnsHelper in node i's namespace
// through lab.wrap, as the agents are run.
func helperCmd(t *testing.T, lab *netLab, i int, verb, addr string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append(lab.wrap(i), exe, "-test.run=^TestNetnsHelper$")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), helperEnv+"="+verb+" "+addr)
	cmd.SysProcAttr = sysProcAttr()
	return cmd
}

// dialFrom reports whether node i can open a TCP connection to addr.
func dialFrom(t *testing.T, lab *netLab, i int, addr string) (bool, string) {
	out, err := helperCmd(t, lab, i, "dial", addr).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
		return false, strings.TrimSpace(string(out))
	}
	if err != nil {
		t.Fatalf("dial helper in node %d: %v: %s", i, err, out)
	}
	return true, ""
}

func dialRoot(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err
}

// poll waits for cond with a deadline (no fixed sleeps).
func poll(t *testing.T, max time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(max)
	for {
		ok, obs := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last: %s", max, what, obs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return err.Error()
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	return strings.Fields(s[strings.LastIndex(s, ")")+1:])[0]
}

// TestNetnsIsolate builds the namespaces of a three-node run, and shows
// that a process started through lab.wrap is itself in the namespace
// (same pid: SIGSTOP reaches it), that isolating node 1 stops TCP between
// node 1 and node 2 in both directions while the root namespace still
// reaches node 1 and nodes 2 and 3 still reach each other, and that
// healing restores it. Then the lab is removed without a trace.
func TestNetnsIsolate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if err := probeNetns(); err != nil {
		t.Fatalf("root, but network namespaces do not work here: %v", err)
	}
	lab, err := newNetLab(3)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			lab.close()
		}
	})

	// A listener in every node's namespace, on the gRPC address an agent uses.
	var addrs []string
	for i := 0; i < 3; i++ {
		_, g := lab.addrs(i)
		addrs = append(addrs, g)
		cmd := helperCmd(t, lab, i, "listen", g)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "ready" {
			t.Fatalf("listener in node %d: %q", i, line)
		}
		if i == 0 {
			pid := cmd.Process.Pid
			exe, _ := os.Executable()
			if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); got != exe {
				t.Errorf("pid %d runs %q, want %q: the wrapper did not exec", pid, got, exe)
			}
			if a, b := inode(t, fmt.Sprintf("/proc/%d/ns/net", pid)), inode(t, "/var/run/netns/"+lab.nodes[0]); a != b {
				t.Errorf("pid %d is in net namespace %d, want %s (%d)", pid, a, lab.nodes[0], b)
			}
			if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			poll(t, 5*time.Second, "the listener to stop", func() (bool, string) { s := procState(pid); return s == "T", s })
			if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			poll(t, 5*time.Second, "the listener to run again", func() (bool, string) { s := procState(pid); return s != "T", s })
		}
	}

	connected := func(from, to int) func() (bool, string) {
		return func() (bool, string) { return dialFrom(t, lab, from, addrs[to]) }
	}
	poll(t, 10*time.Second, "node 1 to reach node 2", connected(0, 1))
	for i := range addrs {
		poll(t, 10*time.Second, "the root namespace to reach node "+fmt.Sprint(i+1), func() (bool, string) {
			err := dialRoot(addrs[i])
			return err == nil, fmt.Sprint(err)
		})
	}

	if err := lab.isolate(0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := dialFrom(t, lab, 0, addrs[1]); ok {
		t.Error("node 1 reached node 2 while isolated")
	}
	if ok, _ := dialFrom(t, lab, 1, addrs[0]); ok {
		t.Error("node 2 reached node 1 while it was isolated")
	}
	if err := dialRoot(addrs[0]); err != nil {
		t.Errorf("the root namespace could not reach isolated node 1: %v", err)
	}
	if ok, why := dialFrom(t, lab, 1, addrs[2]); !ok {
		t.Errorf("node 2 could not reach node 3 while node 1 was isolated: %s", why)
	}

	if err := lab.heal(0); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "node 1 to reach node 2 after the heal", connected(0, 1))
	poll(t, 10*time.Second, "node 2 to reach node 1 after the heal", connected(1, 0))

	closed = true
	if err := lab.close(); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "the lab to be gone", func() (bool, string) {
		for _, ns := range append([]string{lab.hub}, lab.nodes...) {
			if nsExists(ns) {
				return false, "namespace " + ns
			}
		}
		if _, err := net.InterfaceByName(lab.rootIf); err == nil {
			return false, "link " + lab.rootIf
		}
		return true, ""
	})
}

// TestRemoveStaleLabs: a namespace named for a dead run is removed, one
// named for a live process is kept.
func TestRemoveStaleLabs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("flc%dzn1", dead.Process.Pid)
	live := "flc1zn1" // pid 1 is alive
	for _, ns := range []string{stale, live} {
		if err := ipCmd("", "ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if nsExists(ns) {
				ipCmd("", "ip", "netns", "del", ns)
			}
		})
	}
	removed, err := removeStaleLabs()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed %v", removed)
	if nsExists(stale) {
		t.Errorf("%s (pid %d, dead) was not removed", stale, dead.Process.Pid)
	}
	if !nsExists(live) {
		t.Errorf("%s (pid 1, alive) was removed", live)
	}
}
