package node

import "errors"

// Sentinel errors. The api package maps them to gRPC codes.
var (
	// ErrNoLeader: the domain has no leader now (no quorum, or an
	// election is running). Writes and strong reads cannot be served;
	// stale reads still can.
	ErrNoLeader = errors.New("no leader: the domain has no quorum right now or is electing one; retry shortly, or read with consistency stale")
	// ErrNotLeader: this node lost leadership while handling a request
	// that was already forwarded once. The outcome of a write that got
	// this error is unknown.
	ErrNotLeader = errors.New("not the leader: leadership moved while the request was in flight; retry")
	// ErrNotReady: a new leader has not yet applied the entries of
	// earlier terms, so it cannot serve linearizable reads yet.
	ErrNotReady = errors.New("leader not ready for linearizable reads yet; retry shortly")
	// ErrCatchingUp: this replica restarted or joined and has not yet
	// applied the log a leader committed; its state would be misleading.
	ErrCatchingUp = errors.New("replica is catching up with the domain's log after a restart or join; ask another node or retry shortly")
	// errLocalLeader: this node became leader while a request waited.
	errLocalLeader = errors.New("this node is now the leader")
	// ErrShutdown: the node is stopping.
	ErrShutdown = errors.New("node is shutting down")
)
