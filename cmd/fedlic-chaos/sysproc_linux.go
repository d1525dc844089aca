package main

import "syscall"

// sysProcAttr puts an agent in its own process group (so a terminal's
// Ctrl-C reaches only this harness, which then kills the agents) and
// asks the kernel to kill it if this harness dies without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
