//go:build !linux

package main

import "syscall"

// childAttrs: only Linux can tie a child's life to its parent; elsewhere
// the tests rely on t.Cleanup alone.
func childAttrs() *syscall.SysProcAttr { return nil }
