package node

import (
	"github.com/hashicorp/raft"
)

// hashicorp/raft v1.8.0 lets a follower commit past what an
// AppendEntries request proves. Its follower sets
//
//	commitIndex = min(LeaderCommitIndex, its own last log index)
//
// where the Raft paper (Fig. 2, AppendEntries rule 5) says
// min(leaderCommit, index of the last new entry). Its leader can send a
// request with no entries and LeaderCommitIndex > PrevLogEntry:
// replicate() reads the leader's last index, and setupAppendEntries reads
// the commit index later, so when the goroutine is delayed in between
// while the new term's no-op and more entries commit through the other
// follower, the request bounds its entries by the old last index and
// carries the new commit index. A deposed leader that still holds a
// suffix of its old term beyond PrevLogEntry passes the consistency check
// (its entries up to PrevLogEntry match), truncates nothing (no entries
// to compare), commits up to the leader's commit index, and applies its
// stale suffix: its state diverges for good, because raft truncates the
// suffix on the next request but never re-applies those indexes.
//
// clampCommit restores the paper's rule on the receiving side: a request
// can commit at most through PrevLogEntry+len(Entries), the entries the
// consistency check just matched against the leader's log. Later
// requests carry the rest, so commits still reach followers.
func clampCommit(rpc raft.RPC) raft.RPC {
	a, ok := rpc.Command.(*raft.AppendEntriesRequest)
	if !ok {
		return rpc
	}
	limit := a.PrevLogEntry + uint64(len(a.Entries))
	if a.LeaderCommitIndex <= limit {
		return rpc
	}
	c := *a // the in-memory transport shares the leader's request: never write to it
	c.LeaderCommitIndex = limit
	rpc.Command = &c
	return rpc
}

// forwardClamped passes RPCs from in to out through clampCommit until
// done is closed; an RPC taken but not delivered is answered with
// raft.ErrTransportShutdown so its sender does not wait for a timeout.
func forwardClamped(in <-chan raft.RPC, out chan<- raft.RPC, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case rpc := <-in:
			select {
			case out <- clampCommit(rpc):
			case <-done:
				rpc.Respond(nil, raft.ErrTransportShutdown)
				return
			}
		}
	}
}

// guardedTransport is the raft transport with clampCommit applied to
// every request raft consumes. Heartbeats (which carry no commit index)
// keep NetworkTransport's fast path; every other method is the
// NetworkTransport's own, so pre-vote and Close still work.
type guardedTransport struct {
	*raft.NetworkTransport
	ch chan raft.RPC
}

func guardTransport(t *raft.NetworkTransport, done <-chan struct{}) *guardedTransport {
	g := &guardedTransport{NetworkTransport: t, ch: make(chan raft.RPC)}
	go forwardClamped(t.Consumer(), g.ch, done)
	return g
}

// Consumer returns the clamped request stream.
func (g *guardedTransport) Consumer() <-chan raft.RPC { return g.ch }
