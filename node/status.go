package node

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
	"github.com/fedlic/fedlic/fsm"
	"github.com/hashicorp/raft"
)

// Members lists the raft configuration joined with the member records.
func (n *Node) Members() ([]*pb.Member, error) {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, err
	}
	leader := n.LeaderID()
	var out []*pb.Member
	for _, s := range cf.Configuration().Servers {
		m := &pb.Member{Id: string(s.ID), RaftAddress: string(s.Address), Voter: s.Suffrage == raft.Voter, State: "follower"}
		if rec, ok := n.fsm.Member(string(s.ID)); ok {
			m.GrpcAddress = rec.GRPCAddress
		}
		switch {
		case string(s.ID) == leader:
			m.State = "leader"
		case s.Suffrage != raft.Voter:
			m.State = "nonvoter"
		}
		out = append(out, m)
	}
	return out, nil
}

// Status describes this node and the domain as this node sees it.
func (n *Node) Status(withHash bool) (*pb.StatusResponse, error) {
	members, err := n.Members()
	if err != nil {
		return nil, err
	}
	s := &pb.StatusResponse{
		Domain: n.fsm.Domain(), NodeId: n.cfg.NodeID, LeaderId: n.LeaderID(), LeaderAddress: n.LeaderGRPC(),
		Term: n.raft.CurrentTerm(), AppliedIndex: n.fsm.AppliedIndex(), CommitIndex: n.raft.CommitIndex(),
		State: n.raft.State().String(), Members: members,
	}
	if s.Domain == "" {
		s.Domain = n.cfg.Domain
	}
	if lc := n.raft.LastContact(); !lc.IsZero() && !n.IsLeader() {
		s.LastContactMs = time.Since(lc).Milliseconds()
	}
	if withHash {
		s.StateHash = n.fsm.Hash()
	}
	return s, nil
}

// SaveSnapshot writes a point-in-time snapshot of the local state.
func (n *Node) SaveSnapshot(w io.Writer) error { return n.fsm.WriteSnapshot(w) }

// RestoreSnapshot replaces the whole domain's state with a snapshot, on
// the leader: raft installs it locally and on every follower. The file is
// checked first, so a corrupt or foreign snapshot changes nothing.
func (n *Node) RestoreSnapshot(ctx context.Context, path string) (*pb.RestoreResponse, error) {
	if !n.IsLeader() {
		return nil, ErrNotLeader
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	count, domain, err := fsm.CheckSnapshot(f)
	if err != nil {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "snapshot is not usable: " + err.Error()}
	}
	if domain != "" && domain != n.fsm.Domain() {
		return nil, &fsm.Error{Code: fsm.CodePrecondition, Msg: fmt.Sprintf("snapshot belongs to domain %q, this is %q", domain, n.fsm.Domain())}
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: st.Size()}
	if err := n.raft.Restore(meta, f, time.Minute); err != nil {
		return nil, fmt.Errorf("raft restore: %w", err)
	}
	n.logger.Info("restored snapshot", "licenses", count, "index", n.raft.LastIndex())
	return &pb.RestoreResponse{Index: n.raft.LastIndex(), Licenses: uint64(count)}, nil
}

// RelayRestore sends a snapshot file to the leader's Restore.
func (n *Node) RelayRestore(ctx context.Context, f *os.File) (*pb.RestoreResponse, error) {
	conn, fctx, err := n.leaderConn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	stream, err := pb.NewSnapshotClient(conn).Restore(fctx)
	if err != nil {
		return nil, err
	}
	return client.UploadSnapshot(stream, f)
}
