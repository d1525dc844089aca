package api

import (
	"context"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/node"
)

// domainSvc serves the domain's keys and anchor. Only public key
// material ever leaves it.
type domainSvc struct {
	pb.UnimplementedDomainServer
	n *node.Node
}

func (s *domainSvc) Status(ctx context.Context, _ *pb.DomainStatusRequest) (*pb.DomainStatusResponse, error) {
	resp, err := s.n.DomainStatus()
	return resp, toStatus(err)
}

func (s *domainSvc) Anchor(ctx context.Context, _ *pb.AnchorRequest) (*pb.AnchorResponse, error) {
	resp, err := s.n.AnchorJSON()
	return resp, toStatus(err)
}

func (s *domainSvc) RotateKey(ctx context.Context, r *pb.RotateKeyRequest) (*pb.KeyChangeResponse, error) {
	resp, err := s.n.RotateKey(ctx, r)
	return resp, toStatus(err)
}

func (s *domainSvc) RetireKey(ctx context.Context, r *pb.RetireKeyRequest) (*pb.KeyChangeResponse, error) {
	resp, err := s.n.RetireKey(ctx, r)
	return resp, toStatus(err)
}

func (s *licenses) Verify(ctx context.Context, r *pb.VerifyRequest) (*pb.VerifyResponse, error) {
	resp, err := s.n.Verify(ctx, r)
	return resp, toStatus(err)
}
