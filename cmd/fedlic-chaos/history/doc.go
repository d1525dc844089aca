// Package history owns the operation history format recorded by
// fedlic-chaos and the checks run over it: linearizability of the
// per-license register (with porcupine), acknowledged writes lost on a
// replica, revocations undone, replica agreement and stale-read
// availability while the cluster has no leader.
//
// It imports only the standard library and porcupine: never the fsm, node
// or client packages, so that the checker judges the system from the
// outside, by what clients saw and what replicas hold, and cannot share a
// bug with the code it checks.
package history
