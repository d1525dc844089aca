package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/fsm"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

const defaultApplyTimeout = 10 * time.Second

// apply proposes a command on the leader and waits for it to be applied.
// A business rejection comes back as the *fsm.Error in the result.
func (n *Node) apply(ctx context.Context, t fsm.MessageType, msg proto.Message) (*fsm.Result, error) {
	b, err := fsm.Encode(t, msg)
	if err != nil {
		return nil, err
	}
	timeout := defaultApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
		if timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	t0 := time.Now()
	var r *fsm.Result
	if fsm.Batchable(t) {
		r, err = n.propose(ctx, b)
	} else {
		r, err = n.applyEntry(b, timeout)
	}
	if obs := n.observeApply.Load(); obs != nil {
		(*obs)(time.Since(t0))
	}
	if err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
			return nil, ErrNotLeader
		case errors.Is(err, raft.ErrRaftShutdown):
			return nil, ErrShutdown
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return nil, context.DeadlineExceeded
		}
		return nil, err
	}
	if r.Err != nil {
		return r, r.Err
	}
	if (r.License != nil && r.License.Status == fsm.StatusRevoked) || r.Old != nil {
		select {
		case n.revokeWake <- struct{}{}:
		default: // a wake is already pending
		}
	}
	return r, nil
}

// newID returns a fresh license id. Only the leader calls it; the id is
// then part of the command, so replicas never generate randomness.
func newID() string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return "lic-" + hex.EncodeToString(b[:])
}

func expiry(notAfter, expiresInMs, now int64) int64 {
	if expiresInMs > 0 {
		return now + expiresInMs*int64(time.Millisecond)
	}
	return notAfter
}

func (n *Node) writeResponse(r *fsm.Result) *pb.WriteResponse {
	resp := &pb.WriteResponse{Index: r.Index}
	if r.License != nil {
		resp.License = r.License.ToProto()
		if r.License.Status != fsm.StatusRevoked {
			tok, err := n.Token(r.License)
			if err != nil {
				n.logger.Warn("could not sign license token", "id", r.License.ID, "error", err)
			}
			resp.Token = tok
		}
	}
	if r.Old != nil {
		resp.Replaced = r.Old.ToProto()
	}
	return resp
}

// Issue creates a license. Followers forward to the leader.
func (n *Node) Issue(ctx context.Context, req *pb.IssueRequest) (*pb.WriteResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.IssueRequest) (*pb.WriteResponse, error) {
		return licensesClient(c).Issue(ctx, r)
	}); ok {
		return resp, err
	}
	if req.GetExpiresInMs() < 0 {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "expires_in must be positive"}
	}
	now := n.stamp()
	l := &pb.License{
		Id: newID(), Domain: n.cfg.Domain, Licensee: req.GetLicensee(), Product: req.GetProduct(),
		Entitlements: req.GetEntitlements(), NotBeforeUnixNano: req.GetNotBeforeUnixNano(),
		NotAfterUnixNano: expiry(req.GetNotAfterUnixNano(), req.GetExpiresInMs(), now),
		Metadata:         req.GetMetadata(), CreatedUnixNano: now,
	}
	if err := fsm.ValidateLicense(l, now); err != nil {
		return nil, err // rejected before it reaches the log
	}
	r, err := n.apply(ctx, fsm.IssueType, &pb.IssueCommand{License: l})
	if err != nil {
		return nil, err
	}
	return n.writeResponse(r), nil
}

// Update changes a license's entitlements, metadata, expiry or status.
func (n *Node) Update(ctx context.Context, req *pb.UpdateRequest) (*pb.WriteResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.UpdateRequest) (*pb.WriteResponse, error) {
		return licensesClient(c).Update(ctx, r)
	}); ok {
		return resp, err
	}
	now := n.stamp()
	cmd := &pb.UpdateCommand{
		Id: req.GetId(), SetEntitlements: req.GetSetEntitlements(), RemoveFeatures: req.GetRemoveFeatures(),
		SetMetadata: req.GetSetMetadata(), SetStatus: req.GetSetStatus(), ExpectedVersion: req.GetExpectedVersion(),
		TimeUnixNano: now,
	}
	if na := expiry(req.GetNotAfterUnixNano(), req.GetExpiresInMs(), now); na != 0 {
		cmd.SetNotAfter, cmd.NotAfterUnixNano = true, na
	}
	if err := fsm.ValidateUpdate(cmd); err != nil {
		return nil, err
	}
	if _, ok := n.fsm.Get(req.GetId()); !ok {
		return nil, &fsm.Error{Code: fsm.CodeNotFound, Msg: "license " + req.GetId() + " not found: check the id with 'fedlic license list'"}
	}
	r, err := n.apply(ctx, fsm.UpdateType, cmd)
	if err != nil {
		return nil, err
	}
	return n.writeResponse(r), nil
}

// Revoke revokes a license for good.
func (n *Node) Revoke(ctx context.Context, req *pb.RevokeRequest) (*pb.WriteResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.RevokeRequest) (*pb.WriteResponse, error) {
		return licensesClient(c).Revoke(ctx, r)
	}); ok {
		return resp, err
	}
	cmd := &pb.RevokeCommand{Id: req.GetId(), Reason: req.GetReason(), TimeUnixNano: n.stamp()}
	if err := fsm.ValidateRevoke(cmd); err != nil {
		return nil, err
	}
	r, err := n.apply(ctx, fsm.RevokeType, cmd)
	if err != nil {
		return nil, err
	}
	return n.writeResponse(r), nil
}

// Replace issues a new license for the same licensee and product and
// revokes the old one with reason "replaced", linking the two.
func (n *Node) Replace(ctx context.Context, req *pb.ReplaceRequest) (*pb.WriteResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.ReplaceRequest) (*pb.WriteResponse, error) {
		return licensesClient(c).Replace(ctx, r)
	}); ok {
		return resp, err
	}
	old, ok := n.fsm.Get(req.GetId())
	if !ok {
		return nil, &fsm.Error{Code: fsm.CodeNotFound, Msg: "license " + req.GetId() + " not found: check the id with 'fedlic license list'"}
	}
	now := n.stamp()
	l := &pb.License{
		Id: newID(), Domain: n.cfg.Domain, Licensee: old.Licensee, Product: old.Product,
		Entitlements: req.GetEntitlements(), NotBeforeUnixNano: req.GetNotBeforeUnixNano(),
		NotAfterUnixNano: expiry(req.GetNotAfterUnixNano(), req.GetExpiresInMs(), now),
		Metadata:         req.GetMetadata(), CreatedUnixNano: now,
	}
	if len(l.Entitlements) == 0 {
		l.Entitlements = old.ToProto().GetEntitlements()
	}
	if err := fsm.ValidateLicense(l, now); err != nil {
		return nil, err
	}
	r, err := n.apply(ctx, fsm.ReplaceType, &pb.ReplaceCommand{OldId: req.GetId(), License: l, TimeUnixNano: now})
	if err != nil {
		return nil, err
	}
	return n.writeResponse(r), nil
}
