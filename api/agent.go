package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
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
	// http serves /metrics and /debug/pprof when cfg.HTTPAddr is set.
	http    *http.Server
	httpLis net.Listener
	once    sync.Once
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
	m := newMetrics(n)
	a := &Agent{Node: n, lis: lis, done: make(chan error, 1),
		Server: NewServer(n, Options{MaxMessageBytes: cfg.MaxRequestBytes, Interceptors: []grpc.UnaryServerInterceptor{m.interceptor}})}
	if cfg.HTTPAddr != "" {
		if a.http, a.httpLis, err = m.serveHTTP(cfg.HTTPAddr); err != nil {
			lis.Close()
			n.Shutdown()
			return nil, fmt.Errorf("http listen on %s: %w", cfg.HTTPAddr, err)
		}
	}
	go func() { a.done <- a.Server.Serve(lis) }()
	if err := n.Start(ctx); err != nil {
		a.Stop()
		return nil, err
	}
	return a, nil
}

// Addr is the address the gRPC server listens on.
func (a *Agent) Addr() string { return a.lis.Addr().String() }

// HTTPAddr is the address of the metrics and pprof endpoint, or "".
func (a *Agent) HTTPAddr() string {
	if a.httpLis == nil {
		return ""
	}
	return a.httpLis.Addr().String()
}

// Done returns a channel that receives the serve error when serving ends.
func (a *Agent) Done() <-chan error { return a.done }

// Stop stops serving and shuts the node down.
func (a *Agent) Stop() {
	a.once.Do(func() {
		a.Server.Stop()
		if a.http != nil {
			a.http.Close()
		}
		a.Node.Shutdown()
	})
}
