package main

import "syscall"

// childAttrs makes every process a test starts die with the test binary,
// even when the binary itself is killed (a -timeout panic, SIGKILL) and
// its t.Cleanup functions never run: no agent outlives the test.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
