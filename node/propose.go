package node

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/fedlic/fedlic/fsm"
	"github.com/hashicorp/raft"
)

// Coalescing license writes. Under concurrent load most of a write's cost
// in raft is per log entry — encoding it, a bbolt key on every replica,
// its place in AppendEntries, a future — not per byte. The proposer keeps
// at most proposeSlots entries of license writes in flight; writes that
// arrive meanwhile wait in a queue, and when a slot frees, everything
// queued goes into one fsm.BatchType entry. A lone write goes into the log
// on its own as before, so a quiet domain pays no added latency, and the
// log of a quiet domain reads as it did before batching existed.
const (
	proposeSlots     = 1        // license-write entries in flight at once (1-3 measured alike; 1 spends the least CPU per write)
	maxBatchCommands = 512      // commands per batch entry
	maxBatchBytes    = 1 << 20  // encoded bytes per batch entry (about)
	proposeQueue     = 4 * 1024 // writes waiting for a slot
)

type proposal struct {
	ctx   context.Context
	entry []byte // one command, as fsm.Encode made it
	done  chan proposed
}

type proposed struct {
	r   *fsm.Result
	err error
}

type proposer struct {
	queue chan *proposal
	slots chan struct{}
	// waiting counts writes queued and not yet in an entry (including the
	// one the loop holds while it waits for a slot).
	waiting atomic.Int64
	// observeBatch, if set, hears the number of commands in each entry.
	observeBatch atomic.Pointer[func(int)]
}

// SetBatchObserver makes f hear how many license writes went into each
// log entry the leader proposed. f must be fast.
func (n *Node) SetBatchObserver(f func(int)) { n.props.observeBatch.Store(&f) }

// WritesWaiting is how many license writes wait on this leader for the
// entry in flight to commit.
func (n *Node) WritesWaiting() int { return int(n.props.waiting.Load()) }

func newProposer() *proposer {
	return &proposer{queue: make(chan *proposal, proposeQueue), slots: make(chan struct{}, proposeSlots)}
}

// propose queues one license write and waits for its result. The error
// is raft's (not leader, shut down, ...) or ctx's if ctx ended before the
// write was proposed; a business rejection is in the result.
func (n *Node) propose(ctx context.Context, entry []byte) (*fsm.Result, error) {
	p := &proposal{ctx: ctx, entry: entry, done: make(chan proposed, 1)}
	n.props.waiting.Add(1)
	select {
	case n.props.queue <- p:
	case <-ctx.Done():
		n.props.waiting.Add(-1)
		return nil, ctx.Err()
	case <-n.ctx.Done():
		n.props.waiting.Add(-1)
		return nil, raft.ErrRaftShutdown
	}
	select {
	case res := <-p.done:
		return res.r, res.err
	case <-n.ctx.Done():
		// Shutting down: the outcome is unknown, as when raft shuts down
		// under a pending future.
		return nil, raft.ErrRaftShutdown
	}
}

// runProposer takes queued writes, waits for a free slot, and proposes
// everything queued by then as one entry.
func (n *Node) runProposer() {
	defer n.wg.Done()
	q := n.props
	for {
		var first *proposal
		select {
		case first = <-q.queue:
		case <-n.ctx.Done():
			return
		}
		select {
		case q.slots <- struct{}{}:
		case <-n.ctx.Done():
			first.done <- proposed{err: raft.ErrRaftShutdown}
			return
		}
		batch := q.collect(first)
		if len(batch) == 0 {
			<-q.slots
			continue
		}
		entry := batch[0].entry
		if len(batch) > 1 {
			entries := make([][]byte, len(batch))
			for i, p := range batch {
				entries[i] = p.entry
			}
			var err error
			if entry, err = fsm.EncodeBatch(entries); err != nil {
				<-q.slots
				deliver(batch, nil, err)
				continue
			}
		}
		if obs := q.observeBatch.Load(); obs != nil {
			(*obs)(len(batch))
		}
		f := n.raft.Apply(entry, defaultApplyTimeout)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			err := f.Error()
			<-q.slots
			var resp interface{}
			if err == nil {
				resp = f.Response()
			}
			deliver(batch, resp, err)
		}()
	}
}

// collect gathers first and whatever else is queued into one batch. A
// write whose caller gave up while it waited is answered with its
// context's error instead: it was never proposed.
func (q *proposer) collect(first *proposal) []*proposal {
	batch := make([]*proposal, 0, 1+len(q.queue))
	taken, size := 1, 0
	add := func(p *proposal) {
		if err := p.ctx.Err(); err != nil {
			p.done <- proposed{err: err}
			return
		}
		batch = append(batch, p)
		size += len(p.entry)
	}
	add(first)
collect:
	for len(batch) < maxBatchCommands && size < maxBatchBytes {
		select {
		case p := <-q.queue:
			taken++
			add(p)
		default:
			break collect
		}
	}
	q.waiting.Add(-int64(taken))
	return batch
}

// deliver hands each proposal its result: the entry's own result for a
// lone write, its element of the batch result otherwise.
func deliver(batch []*proposal, resp interface{}, err error) {
	if err != nil {
		for _, p := range batch {
			p.done <- proposed{err: err}
		}
		return
	}
	if len(batch) == 1 {
		r, _ := resp.(*fsm.Result)
		batch[0].done <- proposed{r: r, err: missing(r == nil)}
		return
	}
	br, _ := resp.(*fsm.BatchResult)
	for i, p := range batch {
		if br == nil || i >= len(br.Results) {
			p.done <- proposed{err: missing(true)}
			continue
		}
		p.done <- proposed{r: br.Results[i]}
	}
}

func missing(yes bool) error {
	if yes {
		return errors.New("internal: state machine returned no result")
	}
	return nil
}

// applyEntry proposes one entry outside the batcher (commands that are
// not license writes) and waits for its result.
func (n *Node) applyEntry(entry []byte, timeout time.Duration) (*fsm.Result, error) {
	f := n.raft.Apply(entry, timeout)
	if err := f.Error(); err != nil {
		return nil, err
	}
	r, _ := f.Response().(*fsm.Result)
	return r, missing(r == nil)
}
