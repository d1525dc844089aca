package api

import (
	"context"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/node"
)

type trustSvc struct {
	pb.UnimplementedTrustServer
	n *node.Node
}

func (s *trustSvc) Add(ctx context.Context, r *pb.TrustAddRequest) (*pb.TrustWriteResponse, error) {
	resp, err := s.n.TrustAdd(ctx, r)
	return resp, toStatus(err)
}

func (s *trustSvc) Remove(ctx context.Context, r *pb.TrustRemoveRequest) (*pb.TrustWriteResponse, error) {
	resp, err := s.n.TrustRemove(ctx, r)
	return resp, toStatus(err)
}

func (s *trustSvc) List(ctx context.Context, r *pb.TrustListRequest) (*pb.TrustListResponse, error) {
	resp, err := s.n.TrustList(ctx, r)
	return resp, toStatus(err)
}
