package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Kind is the kind of a client operation.
type Kind string

// Operation kinds.
const (
	KindIssue   Kind = "issue"
	KindUpdate  Kind = "update"
	KindRevoke  Kind = "revoke"
	KindReplace Kind = "replace"
	KindGet     Kind = "get"
	KindCheck   Kind = "check"
)

// IsWrite reports whether k changes the ledger.
func (k Kind) IsWrite() bool {
	switch k {
	case KindIssue, KindUpdate, KindRevoke, KindReplace:
		return true
	}
	return false
}

// IsRead reports whether k only observes the ledger.
func (k Kind) IsRead() bool { return k == KindGet || k == KindCheck }

// Outcome is what the client learned about an operation.
type Outcome string

// Outcomes.
const (
	// OutcomeOK: acknowledged.
	OutcomeOK Outcome = "ok"
	// OutcomeFail: definitely not applied (a rejected request, a NotFound).
	OutcomeFail Outcome = "fail"
	// OutcomeUnknown: timeout or connection lost; may or may not have been
	// applied.
	OutcomeUnknown Outcome = "unknown"
)

// Read consistencies, as recorded in Op.Consistency.
const (
	ConsistencyStale        = "stale"
	ConsistencyLeader       = "leader"
	ConsistencyLinearizable = "linearizable"
)

// License statuses, as recorded in Op.Status and LicenseState.Status.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusRevoked   = "revoked"
	StatusExpired   = "expired"
)

// Op is one client operation: its invocation, its completion and what it
// returned.
type Op struct {
	Client int  `json:"client"`
	Kind   Kind `json:"kind"`
	// LicenseID is, for issue, the id returned (empty if unknown); for
	// replace, the OLD license id; otherwise the license read or written.
	LicenseID string `json:"license_id"`
	// NewID is, for replace, the new license id when acknowledged.
	NewID string `json:"new_id,omitempty"`
	// Call is the invoke time, unix ns from one process clock.
	Call int64 `json:"call"`
	// Return is the completion time, unix ns; for unknown outcomes, the
	// time the client gave up.
	Return  int64   `json:"return"`
	Outcome Outcome `json:"outcome"`
	// Consistency of a read: "stale", "leader" or "linearizable".
	Consistency string `json:"consistency,omitempty"`
	// Node that answered or was asked.
	Node string `json:"node,omitempty"`

	// Results, for ok outcomes. Zero values mean "not reported" and are
	// not checked, except that an ok read with neither Status nor Version
	// observed that the license does not exist.

	// Status is, for get and check, the observed status; for writes, the
	// status after the write. For replace it describes the OLD license
	// (so "revoked"); the new one is implied active at version 1.
	Status string `json:"status,omitempty"`
	// Version is the license version after the write or observed by the
	// read; for replace, the OLD license's version after it was revoked.
	Version uint64 `json:"version,omitempty"`
	// Index is the raft index the write committed at, or the replica's
	// applied index for reads.
	Index uint64 `json:"index,omitempty"`
	// Allowed is the check result.
	Allowed *bool  `json:"allowed,omitempty"`
	Error   string `json:"error,omitempty"`
}

// History is the list of operations of one chaos run. Add is safe for
// concurrent use; read Ops directly only once recording is over.
type History struct {
	Ops []Op
	mu  sync.Mutex
}

// Add appends op to the history.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.Ops = append(h.Ops, op)
	h.mu.Unlock()
}

// Snapshot returns a copy of the operations recorded so far.
func (h *History) Snapshot() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.Ops...)
}

// WriteJSONL writes the history as one JSON object per line.
func (h *History) WriteJSONL(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw) // Encode ends each value with a newline
	for i, op := range h.Snapshot() {
		if err := enc.Encode(op); err != nil {
			return fmt.Errorf("write history op %d: %w", i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}

// ReadJSONL reads a history written by WriteJSONL. Blank lines are
// skipped, unknown fields ignored (so newer tools can add some), and a
// malformed line is an error naming the line.
//
// It returns a pointer, not a History value, because History holds a
// mutex that must not be copied.
func ReadJSONL(r io.Reader) (*History, error) {
	h := &History{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var op Op
		if err := json.Unmarshal(b, &op); err != nil {
			return nil, fmt.Errorf("read history line %d: %w", line, err)
		}
		h.Ops = append(h.Ops, op)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read history after line %d: %w", line, err)
	}
	return h, nil
}

// LicenseState is one license as read from a replica after healing and
// settling.
type LicenseState struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Version uint64 `json:"version"`
}

// ReplicaState is the final state read from one replica.
type ReplicaState struct {
	Node     string                  `json:"node"`
	Hash     string                  `json:"hash"`
	Licenses map[string]LicenseState `json:"licenses"`
}
