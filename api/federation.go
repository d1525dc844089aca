package api

import (
	"context"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/node"
)

type federationSvc struct {
	pb.UnimplementedFederationServer
	n *node.Node
}

func (s *federationSvc) PushAnchor(ctx context.Context, r *pb.PushAnchorRequest) (*pb.PushAnchorResponse, error) {
	resp, err := s.n.PushAnchor(ctx, r)
	return resp, toStatus(err)
}

func (s *federationSvc) Peers(ctx context.Context, _ *pb.PeersRequest) (*pb.PeersResponse, error) {
	return s.n.Peers(), nil
}

func (s *federationSvc) PushRevocation(ctx context.Context, r *pb.PushRevocationRequest) (*pb.PushRevocationResponse, error) {
	resp, err := s.n.PushRevocation(ctx, r)
	return resp, toStatus(err)
}

func (s *federationSvc) Revocations(ctx context.Context, r *pb.RevocationsRequest) (*pb.RevocationsResponse, error) {
	resp, err := s.n.Revocations(r)
	return resp, toStatus(err)
}
