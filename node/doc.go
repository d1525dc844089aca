// Package node owns one fedlic server process: its configuration,
// starting Raft (raft-boltdb log and stable store with fsync on, file
// snapshots, the TCP transport), the state machine, bootstrapping and
// joining, forwarding writes and strong reads to the leader, read
// consistency, and leader-only duties (domain initialisation, member
// records, expiry sweeps).
//
// node serves no network API itself: package api maps gRPC requests
// onto a *Node. node must never import api's server code or cmd/.
package node
