//go:build !linux

package main

import "errors"

// netLab is Linux-only (network namespaces); elsewhere process mode runs
// without partitions.
type netLab struct{ prefix string }

var errNoNetns = errors.New("network namespaces need Linux")

func probeNetns() error                           { return errNoNetns }
func newNetLab(n int) (*netLab, error)            { return nil, errNoNetns }
func removeStaleLabs() ([]string, error)          { return nil, nil }
func (l *netLab) addrs(i int) (raft, grpc string) { return "", "" }
func (l *netLab) nodeIP(i int) string             { return "" }
func (l *netLab) wrap(i int) []string             { return nil }
func (l *netLab) isolate(i int) error             { return errNoNetns }
func (l *netLab) heal(i int) error                { return errNoNetns }
func (l *netLab) close() error                    { return nil }
