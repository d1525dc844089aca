package api

import (
	"context"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/node"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DefaultMaxMessageBytes caps one request or response.
const DefaultMaxMessageBytes = 4 << 20

// Options configure NewServer.
type Options struct {
	MaxMessageBytes int
	ServerOptions   []grpc.ServerOption // e.g. TLS credentials
	Interceptors    []grpc.UnaryServerInterceptor
}

// NewServer builds the gRPC server for n with the fedlic services, the
// standard health service and server reflection.
func NewServer(n *node.Node, o Options) *grpc.Server {
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	opts := append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(o.MaxMessageBytes),
		grpc.MaxSendMsgSize(o.MaxMessageBytes),
		grpc.ChainUnaryInterceptor(append(o.Interceptors, rejectUnknownFields)...),
	}, o.ServerOptions...)
	s := grpc.NewServer(opts...)
	pb.RegisterLicensesServer(s, &licenses{n: n})
	pb.RegisterClusterServer(s, &cluster{n: n})
	pb.RegisterSnapshotServer(s, &snapshots{n: n})
	pb.RegisterDomainServer(s, &domainSvc{n: n})
	pb.RegisterTrustServer(s, &trustSvc{n: n})
	pb.RegisterFederationServer(s, &federationSvc{n: n})
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("fedlic.v1.Licenses", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s)
	return s
}

// rejectUnknownFields refuses requests carrying fields this server does
// not know: silently dropping them could drop a limit the caller set.
func rejectUnknownFields(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		if path := unknownField(m.ProtoReflect()); path != "" {
			return nil, status.Errorf(codes.InvalidArgument,
				"request to %s has unknown field(s) in %s: the client is newer than this server, or the request is malformed", info.FullMethod, path)
		}
	}
	return h(ctx, req)
}

func unknownField(m protoreflect.Message) string {
	if len(m.GetUnknown()) > 0 {
		return string(m.Descriptor().FullName())
	}
	var found string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len() && found == ""; i++ {
				found = unknownField(l.Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				found = unknownField(mv.Message())
				return found == ""
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			found = unknownField(v.Message())
		}
		return found == ""
	})
	return found
}

type licenses struct {
	pb.UnimplementedLicensesServer
	n *node.Node
}

func (s *licenses) Issue(ctx context.Context, r *pb.IssueRequest) (*pb.WriteResponse, error) {
	resp, err := s.n.Issue(ctx, r)
	return resp, toStatus(err)
}

func (s *licenses) Get(ctx context.Context, r *pb.GetRequest) (*pb.GetResponse, error) {
	resp, err := s.n.Get(ctx, r)
	return resp, toStatus(err)
}

func (s *licenses) List(ctx context.Context, r *pb.ListRequest) (*pb.ListResponse, error) {
	resp, err := s.n.List(ctx, r)
	return resp, toStatus(err)
}

func (s *licenses) Update(ctx context.Context, r *pb.UpdateRequest) (*pb.WriteResponse, error) {
	resp, err := s.n.Update(ctx, r)
	return resp, toStatus(err)
}

func (s *licenses) Revoke(ctx context.Context, r *pb.RevokeRequest) (*pb.WriteResponse, error) {
	resp, err := s.n.Revoke(ctx, r)
	return resp, toStatus(err)
}

func (s *licenses) Replace(ctx context.Context, r *pb.ReplaceRequest) (*pb.WriteResponse, error) {
	resp, err := s.n.Replace(ctx, r)
	return resp, toStatus(err)
}

func (s *licenses) Check(ctx context.Context, r *pb.CheckRequest) (*pb.CheckResponse, error) {
	resp, err := s.n.Check(ctx, r)
	return resp, toStatus(err)
}

type cluster struct {
	pb.UnimplementedClusterServer
	n *node.Node
}

func (s *cluster) Status(ctx context.Context, r *pb.StatusRequest) (*pb.StatusResponse, error) {
	resp, err := s.n.Status(r.GetWithHash())
	return resp, toStatus(err)
}

func (s *cluster) Members(ctx context.Context, r *pb.MembersRequest) (*pb.MembersResponse, error) {
	ms, err := s.n.Members()
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.MembersResponse{Members: ms}, nil
}

func (s *cluster) Join(ctx context.Context, r *pb.JoinRequest) (*pb.JoinResponse, error) {
	resp, err := s.n.Join(ctx, r)
	return resp, toStatus(err)
}

func (s *cluster) Remove(ctx context.Context, r *pb.RemoveRequest) (*pb.RemoveResponse, error) {
	resp, err := s.n.Remove(ctx, r)
	return resp, toStatus(err)
}

func (s *cluster) TransferLeadership(ctx context.Context, r *pb.TransferLeadershipRequest) (*pb.TransferLeadershipResponse, error) {
	resp, err := s.n.TransferLeadership(ctx, r)
	return resp, toStatus(err)
}
