package fsm

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// FSM is fedlic's raft.BatchingFSM. Queries may run concurrently with
// Apply; they see the state as of the last applied batch.
type FSM struct {
	logger hclog.Logger

	mu sync.RWMutex
	st *state

	applied atomic.Uint64 // index of the last applied log entry
	waitMu  sync.Mutex
	waiters map[chan struct{}]uint64

	// OnApply, if set before raft starts, is called after each batch
	// with the results (used by nodes for notifications and metrics).
	OnApply func(index uint64)
}

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// New returns an empty state machine.
func New(logger hclog.Logger) *FSM {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &FSM{logger: logger.Named("fsm"), st: newState(), waiters: map[chan struct{}]uint64{}}
}

// Apply applies one committed log entry.
func (f *FSM) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries under one lock. The applied
// index moves under the same lock, so a reader holding the read lock
// sees a state and the exact index it reflects (see view).
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	var last uint64
	func() {
		f.mu.Lock()
		defer f.mu.Unlock() // applyOne may panic on an undecodable entry
		for i, l := range logs {
			last = l.Index
			if l.Type != raft.LogCommand {
				continue
			}
			out[i] = f.applyOne(l)
		}
		if last > 0 {
			f.applied.Store(last)
		}
	}()
	if last > 0 {
		f.notifyApplied(last)
	}
	return out
}

func (f *FSM) applyOne(l *raft.Log) interface{} {
	if len(l.Data) == 0 {
		panic(fmt.Sprintf("fsm: empty log entry at index %d", l.Index))
	}
	t := MessageType(l.Data[0])
	if t == BatchType {
		return f.applyBatchEntry(l.Index, l.Data[1:])
	}
	if _, ok := handlers[t]; !ok && t&IgnoreUnknownTypeFlag != 0 {
		f.logger.Warn("ignoring unknown message type", "type", uint8(t), "index", l.Index)
		return nil
	}
	return f.applyCommand(l.Index, t, l.Data[1:])
}

// applyCommand decodes and applies one command at index. An unknown type
// or an undecodable payload stops the replica: skipping it could make
// this replica diverge.
func (f *FSM) applyCommand(index uint64, t MessageType, payload []byte) *Result {
	h, ok := handlers[t]
	if !ok {
		panic(fmt.Sprintf("fsm: unknown message type %d at index %d: upgrade this binary", t, index))
	}
	msg := h.new()
	if err := proto.Unmarshal(payload, msg); err != nil {
		panic(fmt.Sprintf("fsm: cannot decode %s command at index %d: %v", h.name, index, err))
	}
	r := h.apply(f.st, index, msg)
	r.Index = index
	return r
}

// AppliedIndex is the index of the last log entry applied.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

func (f *FSM) notifyApplied(idx uint64) {
	f.waitMu.Lock()
	for ch, want := range f.waiters {
		if idx >= want {
			close(ch)
			delete(f.waiters, ch)
		}
	}
	f.waitMu.Unlock()
	if f.OnApply != nil {
		f.OnApply(idx)
	}
}

// SetRestoredIndex tells the FSM the index of a snapshot raft restored
// into it (at start, or by an install since): raft does not pass it to
// Restore. The caller must know the state is at least at index (raft
// records a snapshot only after the FSM holds it). The applied index
// only ever rises: once the FSM applied past index this changes nothing.
func (f *FSM) SetRestoredIndex(index uint64) {
	f.mu.Lock()
	set := index > f.applied.Load()
	if set {
		f.applied.Store(index)
	}
	f.mu.Unlock()
	if set {
		f.notifyApplied(index)
	}
}

// WaitApplied returns a channel closed once index has been applied.
func (f *FSM) WaitApplied(index uint64) <-chan struct{} {
	ch := make(chan struct{})
	f.waitMu.Lock()
	defer f.waitMu.Unlock()
	if f.applied.Load() >= index {
		close(ch)
		return ch
	}
	f.waiters[ch] = index
	return ch
}

// CancelWait forgets a channel returned by WaitApplied.
func (f *FSM) CancelWait(ch <-chan struct{}) {
	f.waitMu.Lock()
	defer f.waitMu.Unlock()
	for c := range f.waiters {
		if c == ch {
			delete(f.waiters, c)
		}
	}
}

// view runs fn with a read lock on the current state and returns the
// applied index that state reflects (exactly: both move under f.mu).
func (f *FSM) view(fn func(s *state)) uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.st)
	return f.applied.Load()
}

// Hash returns the state hash: equal on replicas that applied the same log.
func (f *FSM) Hash() string {
	return f.frozen().hash()
}

// frozen returns a point-in-time view that later applies do not change.
// Cloning writes to the trees' copy-on-write bookkeeping, so it takes
// the write lock; it is O(1).
func (f *FSM) frozen() *state {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.clone()
}
