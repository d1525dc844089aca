package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/fsm"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Join adds a server to the domain. It runs on the leader (followers
// forward) and is idempotent by (id, address): a repeated join of the
// same member succeeds; the same id at another address, or another id at
// the same address, is refused.
func (n *Node) Join(ctx context.Context, req *pb.JoinRequest) (*pb.JoinResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.JoinRequest) (*pb.JoinResponse, error) {
		return clusterClient(c).Join(ctx, r)
	}); ok {
		return resp, err
	}
	if req.GetNodeId() == "" || req.GetRaftAddress() == "" || req.GetGrpcAddress() == "" {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "join needs node_id, raft_address and grpc_address"}
	}
	id, addr := raft.ServerID(req.GetNodeId()), raft.ServerAddress(req.GetRaftAddress())
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, err
	}
	already := false
	for _, s := range cf.Configuration().Servers {
		switch {
		case s.ID == id && s.Address == addr:
			already = s.Suffrage == raft.Voter || !req.GetVoter()
		case s.ID == id:
			return nil, &fsm.Error{Code: fsm.CodePrecondition, Msg: fmt.Sprintf(
				"node id %s is already a member at %s, not %s: pick another --node-id, or remove the old member first (fedlic cluster remove %s)", id, s.Address, addr, id)}
		case s.Address == addr:
			return nil, &fsm.Error{Code: fsm.CodePrecondition, Msg: fmt.Sprintf(
				"raft address %s already belongs to node %s: a node keeps its id across restarts; remove %s first to reuse the address", addr, s.ID, s.ID)}
		}
	}
	timeout := 10 * time.Second
	if !already {
		var f raft.IndexFuture
		if req.GetVoter() {
			f = n.raft.AddVoter(id, addr, 0, timeout)
		} else {
			f = n.raft.AddNonvoter(id, addr, 0, timeout)
		}
		if err := f.Error(); err != nil {
			return nil, fmt.Errorf("add %s to raft configuration: %w", id, err)
		}
		n.logger.Info("member joined", "id", id, "raft", addr, "grpc", req.GetGrpcAddress(), "voter", req.GetVoter())
	}
	m := &pb.Member{Id: req.GetNodeId(), RaftAddress: req.GetRaftAddress(), GrpcAddress: req.GetGrpcAddress(), Voter: req.GetVoter()}
	r, err := n.apply(ctx, fsm.SetMemberType, &pb.SetMemberCommand{Member: m, TimeUnixNano: n.stamp()})
	if err != nil {
		return nil, err
	}
	return &pb.JoinResponse{Index: r.Index, AlreadyMember: already}, nil
}

// Remove takes a server out of the domain.
func (n *Node) Remove(ctx context.Context, req *pb.RemoveRequest) (*pb.RemoveResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.RemoveRequest) (*pb.RemoveResponse, error) {
		return clusterClient(c).Remove(ctx, r)
	}); ok {
		return resp, err
	}
	if req.GetNodeId() == "" {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "give the node id to remove"}
	}
	if err := n.raft.RemoveServer(raft.ServerID(req.GetNodeId()), 0, 10*time.Second).Error(); err != nil {
		return nil, fmt.Errorf("remove %s: %w", req.GetNodeId(), err)
	}
	r, err := n.apply(ctx, fsm.RemoveMemberType, &pb.RemoveMemberCommand{Id: req.GetNodeId(), TimeUnixNano: n.stamp()})
	if err != nil {
		return nil, err
	}
	return &pb.RemoveResponse{Index: r.Index}, nil
}

// TransferLeadership hands leadership to another voter.
func (n *Node) TransferLeadership(ctx context.Context, req *pb.TransferLeadershipRequest) (*pb.TransferLeadershipResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.TransferLeadershipRequest) (*pb.TransferLeadershipResponse, error) {
		return clusterClient(c).TransferLeadership(ctx, r)
	}); ok {
		return resp, err
	}
	var f raft.Future
	if id := req.GetNodeId(); id != "" {
		m, ok := n.fsm.Member(id)
		if !ok {
			return nil, &fsm.Error{Code: fsm.CodeNotFound, Msg: "no member " + id}
		}
		f = n.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(m.RaftAddress))
	} else {
		f = n.raft.LeadershipTransfer()
	}
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("leadership transfer: %w", err)
	}
	return &pb.TransferLeadershipResponse{LeaderId: n.LeaderID()}, nil
}

// joinPeers asks the --join addresses, in turn, to add this node, until
// one succeeds, a refusal says retrying is pointless, or ctx ends.
func (n *Node) joinPeers(ctx context.Context) error {
	req := &pb.JoinRequest{NodeId: n.cfg.NodeID, RaftAddress: string(n.trans.LocalAddr()), GrpcAddress: n.cfg.GRPCAddr, Voter: n.cfg.IsVoter()}
	backoff := 100 * time.Millisecond
	var last error
	for {
		for _, addr := range n.cfg.Join {
			conn, err := n.conn(addr)
			if err != nil {
				return err
			}
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			_, err = pb.NewClusterClient(conn).Join(cctx, req)
			cancel()
			if err == nil {
				n.logger.Info("joined the domain", "via", addr)
				return nil
			}
			if s, ok := status.FromError(err); ok && (s.Code() == codes.FailedPrecondition || s.Code() == codes.InvalidArgument) {
				return fmt.Errorf("join refused by %s: %s", addr, s.Message())
			}
			last = err
			n.logger.Warn("join attempt failed; will retry", "via", addr, "error", err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("could not join any of %v", n.cfg.Join), last)
		case <-time.After(backoff):
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
}
