package api

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/fedlic/fedlic/node"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
)

// Agent is a running fedlic server: a node and its gRPC server.
type Agent struct {
	Node   *node.Node
	Server *grpc.Server
	lis    net.Listener
	done   chan error
	once   sync.Once
}

// StartAgent starts a node and serves its API on cfg.GRPCAddr, then joins
// the domain if the node is new and cfg.Join is set. ctx bounds joining.
func StartAgent(ctx context.Context, cfg node.Config, logger hclog.Logger) (*Agent, error) {
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("grpc listen on %s: %w", cfg.GRPCAddr, err)
	}
	n, err := node.New(cfg, logger)
	if err != nil {
		lis.Close()
		return nil, err
	}
	a := &Agent{Node: n, Server: NewServer(n, Options{MaxMessageBytes: cfg.MaxRequestBytes}), lis: lis, done: make(chan error, 1)}
	go func() { a.done <- a.Server.Serve(lis) }()
	if err := n.Start(ctx); err != nil {
		a.Stop()
		return nil, err
	}
	return a, nil
}

// Addr is the address the gRPC server listens on.
func (a *Agent) Addr() string { return a.lis.Addr().String() }

// Done returns a channel that receives the serve error when serving ends.
func (a *Agent) Done() <-chan error { return a.done }

// Stop stops serving and shuts the node down.
func (a *Agent) Stop() {
	a.once.Do(func() {
		a.Server.Stop()
		a.Node.Shutdown()
	})
}
