package node

import (
	"context"
	"strconv"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/fsm"
	"github.com/fedlic/fedlic/license"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
)

// ReadMeta describes the replica that served a read, with its applied
// index now: read before the state, it is a lower bound of the state's
// index. Reads of licenses use readMeta with the exact index instead.
func (n *Node) ReadMeta() *pb.ReadMeta { return n.readMeta(n.fsm.AppliedIndex()) }

// readMeta describes the replica that served a read of the state at
// index. The index must be the state's own (fsm GetAt, ListAt, Check):
// one read after the state may be newer than what was read, and a
// client comparing it with its write's index (read-your-writes), or
// fedlic-chaos judging a stale read, would be misled (found by
// fedlic-chaos: a stale read reported an index it had not seen).
func (n *Node) readMeta(index uint64) *pb.ReadMeta {
	m := &pb.ReadMeta{Index: index, NodeId: n.cfg.NodeID}
	id := n.LeaderID()
	m.KnownLeader = id != ""
	if !n.IsLeader() {
		if lc := n.raft.LastContact(); !lc.IsZero() {
			m.StaleMs = time.Since(lc).Milliseconds()
		} else {
			m.StaleMs = -1 // never heard from a leader since start
		}
	}
	return m
}

// CaughtUp reports whether this replica's state can serve stale reads:
// it has applied everything up to min(its last log index at start, the
// commit index a leader told it). Once true it stays true; a replica
// that then loses its leader keeps answering from what it has.
func (n *Node) CaughtUp() bool {
	if n.caughtUp.Load() {
		return true
	}
	commit := n.raft.CommitIndex()
	if commit == 0 && n.catchUpTarget > 0 {
		return false // no leader has told us what is committed yet
	}
	target := min(n.catchUpTarget, commit)
	if n.catchUpTarget == 0 {
		target = commit // a new node: everything the leader committed so far
		if commit == 0 {
			return false
		}
	}
	// The FSM's state is at least at raft's newest snapshot: raft takes
	// one from the FSM's state, or installs one into the FSM before it
	// records it. Restore is not told that index, so after an install the
	// FSM's own index lagged until the next command.
	n.fsm.SetRestoredIndex(n.lastSnapshotIndex())
	applied := n.fsm.AppliedIndex()
	if applied >= target || n.onlyNonCommands(applied, target) {
		n.caughtUp.Store(true)
		return true
	}
	return false
}

// lastSnapshotIndex is the index of raft's newest snapshot (0 if none).
func (n *Node) lastSnapshotIndex() uint64 {
	i, _ := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
	return i
}

// onlyNonCommands reports whether the committed entries in (from, to]
// are all of kinds raft never hands the state machine: the no-op a new
// leader appends, barriers, configuration changes. A state machine that
// applied through from has then applied everything through to; its
// index lags only because it counts commands. Without this, a replica
// restarted after a leader change in a quiet domain (its last entry the
// new leader's no-op) refused stale reads until the next write. Proves
// nothing (false) when an entry is gone from the log (compacted after a
// snapshot) or the range is long.
func (n *Node) onlyNonCommands(from, to uint64) bool {
	if to <= from || to-from > 64 || n.logs == nil {
		return false
	}
	var l raft.Log
	for i := from + 1; i <= to; i++ {
		if err := n.logs.GetLog(i, &l); err != nil || l.Type == raft.LogCommand {
			return false
		}
	}
	return true
}

// linearizableBarrier makes a read on the leader linearizable, as
// Consul's consistent reads do: the leader must have applied everything
// from earlier terms (its establishment barrier, readyRead) and must
// still hold a quorum (VerifyLeader) after the read began. A write is
// acknowledged only after the leader's FSM applied it, so every write
// acknowledged before this read is visible in the leader's state.
//
// We do not wait for the FSM to reach raft's commit index: raft never
// passes no-op and barrier entries to the FSM, so the FSM's applied
// index can stay below the commit index indefinitely.
func (n *Node) linearizableBarrier(ctx context.Context) error {
	if err := n.waitReady(ctx, 3*time.Second); err != nil {
		return err
	}
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return ErrNotLeader
	}
	if !n.readyRead.Load() {
		return ErrNotReady // leadership changed hands while verifying
	}
	return ctx.Err()
}

// waitReady waits, briefly, for a new leader to finish establishing.
func (n *Node) waitReady(ctx context.Context, max time.Duration) error {
	deadline := time.Now().Add(max)
	for !n.readyRead.Load() {
		if !n.IsLeader() {
			return ErrNotLeader
		}
		if time.Now().After(deadline) {
			return ErrNotReady
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// readPrep decides where a read runs. It returns handled=true with the
// forwarded answer when the read must go to the leader.
func readPrep[Req, Resp any](n *Node, ctx context.Context, c pb.Consistency, req Req,
	call func(*grpc.ClientConn, context.Context, Req) (Resp, error)) (Resp, bool, error) {
	var zero Resp
	switch c {
	case pb.Consistency_CONSISTENCY_STALE:
		if !n.CaughtUp() {
			return zero, true, ErrCatchingUp
		}
		return zero, false, nil
	case pb.Consistency_CONSISTENCY_LEADER, pb.Consistency_CONSISTENCY_LINEARIZABLE:
		if resp, ok, err := forward(n, ctx, req, call); ok {
			return resp, true, err
		}
		if c == pb.Consistency_CONSISTENCY_LINEARIZABLE {
			if err := n.linearizableBarrier(ctx); err != nil {
				return zero, true, err
			}
		}
		return zero, false, nil
	}
	return zero, true, &fsm.Error{Code: fsm.CodeInvalid, Msg: "unknown consistency " + c.String() + ": use stale, leader or linearizable"}
}

func orDefault(c, def pb.Consistency) pb.Consistency {
	if c == pb.Consistency_CONSISTENCY_UNSPECIFIED {
		return def
	}
	return c
}

// Get reads one license (default consistency: leader).
func (n *Node) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	c := orDefault(req.GetConsistency(), pb.Consistency_CONSISTENCY_LEADER)
	if resp, ok, err := readPrep(n, ctx, c, req, func(cc *grpc.ClientConn, ctx context.Context, r *pb.GetRequest) (*pb.GetResponse, error) {
		return licensesClient(cc).Get(ctx, r)
	}); ok {
		return resp, err
	}
	if req.GetId() == "" {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "license id is empty: give an id"}
	}
	l, found, index := n.fsm.GetAt(req.GetId())
	if !found {
		return nil, &fsm.Error{Code: fsm.CodeNotFound, Msg: "license " + req.GetId() + " not found: check the id with 'fedlic license list'"}
	}
	return &pb.GetResponse{License: l.ToProto(), Meta: n.readMeta(index)}, nil
}

const maxPage = 1000

// List pages through licenses, optionally filtered by licensee and product.
func (n *Node) List(ctx context.Context, req *pb.ListRequest) (*pb.ListResponse, error) {
	c := orDefault(req.GetConsistency(), pb.Consistency_CONSISTENCY_LEADER)
	if resp, ok, err := readPrep(n, ctx, c, req, func(cc *grpc.ClientConn, ctx context.Context, r *pb.ListRequest) (*pb.ListResponse, error) {
		return licensesClient(cc).List(ctx, r)
	}); ok {
		return resp, err
	}
	size := int(req.GetPageSize())
	if size < 0 || size > maxPage {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "page_size must be between 1 and 1000 (0 means 100)"}
	}
	ls, more, index := n.fsm.ListAt(fsm.ListOptions{Licensee: req.GetLicensee(), Product: req.GetProduct(), After: req.GetPageToken(), Limit: size})
	resp := &pb.ListResponse{Meta: n.readMeta(index)}
	for _, l := range ls {
		resp.Licenses = append(resp.Licenses, l.ToProto())
	}
	if more && len(ls) > 0 {
		resp.NextPageToken = ls[len(ls)-1].ID
	}
	return resp, nil
}

// CheckTime is the time a check is judged at: the later of this node's
// clock and the newest leader-stamped time it applied, so a license past
// its window is expired on every replica even while no leader stamps.
func (n *Node) CheckTime() int64 {
	now := time.Now().UnixNano()
	if c := n.fsm.Clock(); c > now {
		return c
	}
	return now
}

// Check answers an entitlement check (default consistency: stale).
func (n *Node) Check(ctx context.Context, req *pb.CheckRequest) (*pb.CheckResponse, error) {
	c := orDefault(req.GetConsistency(), pb.Consistency_CONSISTENCY_STALE)
	if resp, ok, err := readPrep(n, ctx, c, req, func(cc *grpc.ClientConn, ctx context.Context, r *pb.CheckRequest) (*pb.CheckResponse, error) {
		return licensesClient(cc).Check(ctx, r)
	}); ok {
		return resp, err
	}
	if req.GetFeature() == "" {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "feature is empty: say which feature to check (--feature)"}
	}
	if req.GetAmount() < 0 {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "amount must not be negative"}
	}
	if req.GetToken() != "" {
		return n.checkToken(req, n.ReadMeta())
	}
	if req.GetLicensee() == "" || req.GetProduct() == "" {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "give both licensee and product (or a token)"}
	}
	r := n.fsm.Check(req.GetLicensee(), req.GetProduct(), req.GetFeature(), req.GetAmount(), n.CheckTime())
	return checkResponse(r, n.readMeta(r.Index)), nil
}

func checkResponse(r fsm.CheckResult, meta *pb.ReadMeta) *pb.CheckResponse {
	return &pb.CheckResponse{Allowed: r.Allowed, Reason: r.Reason, LicenseId: r.LicenseID, Meta: meta, Status: r.Status, Version: r.Version}
}

// checkToken answers a check for a presented token: the token must
// verify against this domain's anchor, then the license's current state
// on this replica decides (so revocations and updates apply at once).
func (n *Node) checkToken(req *pb.CheckRequest, meta *pb.ReadMeta) (*pb.CheckResponse, error) {
	v, err := n.Verify(context.Background(), &pb.VerifyRequest{Token: req.GetToken()})
	if err != nil {
		return nil, err
	}
	if !v.GetValid() && !v.GetRevoked() {
		return &pb.CheckResponse{Allowed: false, Reason: "token " + v.GetReason() + ": " + v.GetDetail(), Meta: meta}, nil
	}
	t, err := license.ParseToken(req.GetToken())
	if err != nil {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "token: " + err.Error()}
	}
	if t.Claims.Domain != n.fsm.Domain() {
		if !v.GetValid() {
			return &pb.CheckResponse{Allowed: false, Reason: v.GetReason() + ": " + v.GetDetail(), LicenseId: t.Claims.LicenseID,
				Status: pb.Status_STATUS_REVOKED, Meta: meta}, nil
		}
		return checkClaims(&t.Claims, req.GetFeature(), req.GetAmount(), n.CheckTime(), meta), nil
	}
	r := n.fsm.CheckLicense(t.Claims.LicenseID, req.GetFeature(), req.GetAmount(), n.CheckTime())
	meta.Index = r.Index // the answer comes from this read of the state
	return checkResponse(r, meta), nil
}

// checkClaims judges a verified peer token by its signed entitlements.
func checkClaims(c *license.Claims, feature string, amount, now int64, meta *pb.ReadMeta) *pb.CheckResponse {
	l := &fsm.License{ID: c.LicenseID, Domain: c.Domain, Licensee: c.Licensee, Product: c.Product, Version: c.Version,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, Status: fsm.StatusActive}
	for f, lim := range c.Entitlements {
		l.Entitlements = append(l.Entitlements, fsm.Entitlement{Feature: f, Limit: fsm.Limit{IsBool: lim.IsBool, Enabled: lim.Enabled, Count: lim.Count}})
	}
	fsm.SortEntitlements(l.Entitlements)
	return checkResponse(fsm.Evaluate(l, feature, amount, now), meta)
}
