package node

import (
	"context"
	"strings"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/fsm"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// TrustAdd records (or replaces) the policy for a peer domain.
func (n *Node) TrustAdd(ctx context.Context, req *pb.TrustAddRequest) (*pb.TrustWriteResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.TrustAddRequest) (*pb.TrustWriteResponse, error) {
		return pb.NewTrustClient(c).Add(ctx, r)
	}); ok {
		return resp, err
	}
	e := proto.Clone(req.GetEntry()).(*pb.TrustEntry)
	if e == nil {
		e = &pb.TrustEntry{}
	}
	e.RootFingerprint = strings.ToLower(strings.TrimSpace(e.GetRootFingerprint()))
	if err := fsm.ValidateTrustEntry(e, n.fsm.Domain()); err != nil {
		return nil, err
	}
	r, err := n.apply(ctx, fsm.TrustSetType, &pb.TrustSetCommand{Entry: e, TimeUnixNano: n.stamp()})
	if err != nil {
		return nil, err
	}
	n.logger.Info("trust policy set", "peer", e.GetDomain(), "root_fingerprint", e.GetRootFingerprint(), "scope", e.GetScope())
	return &pb.TrustWriteResponse{Index: r.Index}, nil
}

// TrustRemove forgets a peer domain.
func (n *Node) TrustRemove(ctx context.Context, req *pb.TrustRemoveRequest) (*pb.TrustWriteResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.TrustRemoveRequest) (*pb.TrustWriteResponse, error) {
		return pb.NewTrustClient(c).Remove(ctx, r)
	}); ok {
		return resp, err
	}
	if req.GetDomain() == "" {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "give the peer domain to remove (--domain)"}
	}
	r, err := n.apply(ctx, fsm.TrustRemoveType, &pb.TrustRemoveCommand{Domain: req.GetDomain(), TimeUnixNano: n.stamp()})
	if err != nil {
		return nil, err
	}
	return &pb.TrustWriteResponse{Index: r.Index}, nil
}

// TrustList reads the policy (default consistency: stale).
func (n *Node) TrustList(ctx context.Context, req *pb.TrustListRequest) (*pb.TrustListResponse, error) {
	c := orDefault(req.GetConsistency(), pb.Consistency_CONSISTENCY_STALE)
	if resp, ok, err := readPrep(n, ctx, c, req, func(cc *grpc.ClientConn, ctx context.Context, r *pb.TrustListRequest) (*pb.TrustListResponse, error) {
		return pb.NewTrustClient(cc).List(ctx, r)
	}); ok {
		return resp, err
	}
	return &pb.TrustListResponse{Entries: n.fsm.Trust(), Meta: n.ReadMeta()}, nil
}
