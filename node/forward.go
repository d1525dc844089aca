package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ForwardedKey marks a request a node forwarded to the leader, so a
// request is forwarded at most once and never loops.
const ForwardedKey = "fedlic-forwarded"

// IsForwarded reports whether ctx carries an incoming forwarded request.
func IsForwarded(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	return ok && len(md.Get(ForwardedKey)) > 0
}

// leaderConn returns a connection to the leader's gRPC address, or
// ErrNoLeader. Called on a follower.
func (n *Node) leaderConn(ctx context.Context) (*grpc.ClientConn, context.Context, error) {
	if IsForwarded(ctx) {
		return nil, nil, ErrNotLeader
	}
	addr, err := n.awaitLeaderGRPC(ctx)
	if err != nil {
		return nil, nil, err
	}
	conn, err := n.conn(addr)
	if err != nil {
		return nil, nil, err
	}
	out := metadata.AppendToOutgoingContext(stripIncoming(ctx), ForwardedKey, n.cfg.NodeID)
	return conn, out, nil
}

// leaderHold is how long a request waits for an election to finish
// before it fails with ErrNoLeader (Consul's RPCHoldTimeout).
const leaderHold = 2 * time.Second

// awaitLeaderGRPC returns the leader's gRPC address, waiting up to
// leaderHold (or ctx) while none is known.
func (n *Node) awaitLeaderGRPC(ctx context.Context) (string, error) {
	deadline := time.Now().Add(leaderHold)
	for {
		if addr := n.LeaderGRPC(); addr != "" {
			return addr, nil
		}
		if n.IsLeader() {
			return "", errLocalLeader
		}
		if time.Now().After(deadline) {
			return "", ErrNoLeader
		}
		select {
		case <-ctx.Done():
			return "", ErrNoLeader
		case <-n.ctx.Done():
			return "", ErrShutdown
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stripIncoming keeps deadline and cancellation but not incoming metadata.
func stripIncoming(ctx context.Context) context.Context {
	return metadata.NewIncomingContext(ctx, metadata.MD{})
}

// conn returns a pooled client connection to a member.
func (n *Node) conn(addr string) (*grpc.ClientConn, error) {
	n.connsMu.Lock()
	defer n.connsMu.Unlock()
	if c, ok := n.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dial member %s: %w", addr, err)
	}
	n.conns[addr] = c
	return c, nil
}

// Forwarding helpers: each returns handled=false when this node is the
// leader and should serve the request itself.

func forward[Req, Resp any](n *Node, ctx context.Context, req Req, call func(*grpc.ClientConn, context.Context, Req) (Resp, error)) (Resp, bool, error) {
	var zero Resp
	deadline := time.Now().Add(leaderHold)
	for {
		if n.IsLeader() {
			return zero, false, nil
		}
		conn, fctx, err := n.leaderConn(ctx)
		if errors.Is(err, errLocalLeader) {
			return zero, false, nil // won the election while waiting
		}
		if err != nil {
			return zero, true, err
		}
		resp, err := call(conn, fctx, req)
		if err == nil || !neverApplied(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return resp, true, err
		}
		// The leader we knew is gone or not ready; the request never
		// reached a state machine, so it is safe to try the new leader.
		select {
		case <-ctx.Done():
			return resp, true, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// neverApplied reports whether a forwarding error proves the request was
// not applied: the leader's address refused the connection, or the node
// there answered that it has no leader or is not ready. "Leadership
// lost" answers are not in this set: a write may have committed.
func neverApplied(err error) bool {
	s, ok := status.FromError(err)
	if !ok || s.Code() != codes.Unavailable {
		return false
	}
	msg := s.Message()
	return strings.Contains(msg, "connect: connection refused") ||
		strings.HasPrefix(msg, ErrNoLeader.Error()) || strings.HasPrefix(msg, ErrNotReady.Error()) ||
		strings.HasPrefix(msg, ErrCatchingUp.Error())
}

func licensesClient(c *grpc.ClientConn) pb.LicensesClient { return pb.NewLicensesClient(c) }
func clusterClient(c *grpc.ClientConn) pb.ClusterClient   { return pb.NewClusterClient(c) }

// NeverApplied is neverApplied, exported for tests and clients that
// want the same retry rule.
func NeverApplied(err error) bool { return neverApplied(err) }
