package api

import (
	"io"
	"os"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/node"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const chunkSize = 256 << 10

type snapshots struct {
	pb.UnimplementedSnapshotServer
	n *node.Node
}

type chunkWriter struct {
	stream pb.Snapshot_SaveServer
}

func (w chunkWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += chunkSize {
		end := min(off+chunkSize, len(p))
		if err := w.stream.Send(&pb.SnapshotChunk{Data: p[off:end]}); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

// Save streams a point-in-time snapshot of this node's state. It holds
// the domain's private keys once keys exist: store it as a secret.
func (s *snapshots) Save(_ *pb.SaveRequest, stream pb.Snapshot_SaveServer) error {
	return toStatus(s.n.SaveSnapshot(chunkWriter{stream}))
}

// Restore receives a snapshot into a private temp file, then restores it
// on the leader. A follower relays the stream to the leader.
func (s *snapshots) Restore(stream pb.Snapshot_RestoreServer) error {
	ctx := stream.Context()
	f, err := os.CreateTemp(s.n.Config().DataDir, "restore-*.snap")
	if err != nil {
		return toStatus(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	for {
		c, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if _, err := f.Write(c.GetData()); err != nil {
			return toStatus(err)
		}
	}
	if !s.n.IsLeader() {
		if node.IsForwarded(ctx) {
			return status.Error(codes.Unavailable, node.ErrNotLeader.Error())
		}
		resp, err := s.n.RelayRestore(ctx, f)
		if err != nil {
			return toStatus(err)
		}
		return stream.SendAndClose(resp)
	}
	resp, err := s.n.RestoreSnapshot(ctx, f.Name())
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(resp)
}
