//go:build !linux

package main

import "syscall"

// sysProcAttr puts an agent in its own process group, so a terminal's
// Ctrl-C reaches only this harness, which then kills the agents.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
