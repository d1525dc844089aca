// Package client is fedlic's Go SDK for services and issuers: dial a
// node, issue, read, update, revoke, replace and check licenses, and
// read cluster status. It depends on the generated API types only, never
// on raft or the server packages.
package client

import (
	"context"
	"fmt"
	"io"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Client talks to one fedlic node. It is safe for concurrent use.
type Client struct {
	conn       *grpc.ClientConn
	Licenses   pb.LicensesClient
	Cluster    pb.ClusterClient
	Snapshot   pb.SnapshotClient
	Domain     pb.DomainClient
	Trust      pb.TrustClient
	Federation pb.FederationClient
}

// Dial connects to a node's gRPC address (host:port). Extra options may
// add TLS credentials; without them the connection is plaintext.
func Dial(addr string, opts ...grpc.DialOption) (*Client, error) {
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	opts = append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &Client{conn: conn, Licenses: pb.NewLicensesClient(conn), Cluster: pb.NewClusterClient(conn), Snapshot: pb.NewSnapshotClient(conn), Domain: pb.NewDomainClient(conn), Trust: pb.NewTrustClient(conn), Federation: pb.NewFederationClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Conn returns the underlying connection.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Count builds a numeric entitlement (seats, quota).
func Count(feature string, n int64) *pb.Entitlement {
	return &pb.Entitlement{Feature: feature, Limit: &pb.Limit{Kind: &pb.Limit_Count{Count: n}}}
}

// Flag builds a boolean entitlement.
func Flag(feature string, on bool) *pb.Entitlement {
	return &pb.Entitlement{Feature: feature, Limit: &pb.Limit{Kind: &pb.Limit_Enabled{Enabled: on}}}
}

// Issue issues a license.
func (c *Client) Issue(ctx context.Context, r *pb.IssueRequest) (*pb.WriteResponse, error) {
	return c.Licenses.Issue(ctx, r)
}

// Get reads a license with the given consistency.
func (c *Client) Get(ctx context.Context, id string, cons pb.Consistency) (*pb.GetResponse, error) {
	return c.Licenses.Get(ctx, &pb.GetRequest{Id: id, Consistency: cons})
}

// Revoke revokes a license.
func (c *Client) Revoke(ctx context.Context, id, reason string) (*pb.WriteResponse, error) {
	return c.Licenses.Revoke(ctx, &pb.RevokeRequest{Id: id, Reason: reason})
}

// Check asks whether licensee may use feature of product.
func (c *Client) Check(ctx context.Context, licensee, product, feature string, amount int64, cons pb.Consistency) (*pb.CheckResponse, error) {
	return c.Licenses.Check(ctx, &pb.CheckRequest{Licensee: licensee, Product: product, Feature: feature, Amount: amount, Consistency: cons})
}

// Status returns the node's view of the cluster, without the state hash.
func (c *Client) Status(ctx context.Context) (*pb.StatusResponse, error) {
	return c.Cluster.Status(ctx, &pb.StatusRequest{})
}

// StatusWithHash is Status with the node's state hash, for comparing
// replicas. The node digests its whole state for it: do not poll it.
func (c *Client) StatusWithHash(ctx context.Context) (*pb.StatusResponse, error) {
	return c.Cluster.Status(ctx, &pb.StatusRequest{WithHash: true})
}

// SaveSnapshot streams a snapshot into w and returns the bytes written.
func (c *Client) SaveSnapshot(ctx context.Context, w io.Writer) (int64, error) {
	stream, err := c.Snapshot.Save(ctx, &pb.SaveRequest{})
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		ch, err := stream.Recv()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		k, err := w.Write(ch.GetData())
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
}

// RestoreSnapshot uploads a snapshot; the domain's state is replaced.
func (c *Client) RestoreSnapshot(ctx context.Context, r io.Reader) (*pb.RestoreResponse, error) {
	stream, err := c.Snapshot.Restore(ctx)
	if err != nil {
		return nil, err
	}
	return UploadSnapshot(stream, r)
}

// UploadSnapshot streams r into an open Restore call in 256 KiB chunks
// and returns the server's answer. Nodes use it to relay to the leader.
func UploadSnapshot(stream pb.Snapshot_RestoreClient, r io.Reader) (*pb.RestoreResponse, error) {
	buf := make([]byte, 256<<10)
	for {
		k, rerr := r.Read(buf)
		if k > 0 {
			if err := stream.Send(&pb.SnapshotChunk{Data: buf[:k]}); err != nil {
				return nil, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	return stream.CloseAndRecv()
}

// WaitLeader polls Status until the node reports a leader or ctx ends.
func (c *Client) WaitLeader(ctx context.Context) (*pb.StatusResponse, error) {
	for {
		s, err := c.Status(ctx)
		if err == nil && s.GetLeaderId() != "" {
			return s, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("no leader")
			}
			return nil, fmt.Errorf("waiting for a leader: %w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
