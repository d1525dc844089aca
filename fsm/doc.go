// Package fsm owns fedlic's deterministic state machine: the command
// types written to the Raft log, Apply, snapshot and restore, the state
// queries (get, list, check, members) and the state hash that proves two
// replicas hold the same data.
//
// The state machine does no I/O and reads no clock or randomness: time
// and ids arrive inside each command, stamped by the leader. It must
// never import node/, api/ servers, transport/ or cluster/; it depends
// only on raft's FSM interfaces and the generated protobuf types.
//
// State lives in copy-on-write B-trees (github.com/google/btree). A
// snapshot clones the trees in O(1) under the lock and streams the clone
// while Apply carries on, so snapshots never hold up writes.
package fsm
