package api

import (
	"context"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/fedlic/fedlic/node"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// metrics are the agent's Prometheus series. Gauges are read from the
// node when scraped; counters are kept by the gRPC interceptor.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	apply    prometheus.Histogram
	batch    prometheus.Histogram
}

func newMetrics(n *node.Node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fedlic_grpc_requests_total", Help: "gRPC requests by method and status code.",
	}, []string{"method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "fedlic_grpc_request_seconds", Help: "gRPC request latency by method.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"method"})
	m.apply = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "fedlic_raft_apply_seconds", Help: "Time from proposing a command on the leader until the state machine applied it.",
		Buckets: []float64{.0005, .001, .002, .004, .006, .008, .01, .015, .02, .03, .05, .1, .25, 1},
	})
	n.SetApplyObserver(func(d time.Duration) { m.apply.Observe(d.Seconds()) })
	m.batch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "fedlic_write_batch_commands", Help: "License writes the leader coalesced into each raft entry it proposed.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
	})
	n.SetBatchObserver(func(k int) { m.batch.Observe(float64(k)) })
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.reg.MustRegister(m.requests, m.latency, m.apply, m.batch,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gauge("fedlic_raft_applied_index", "Index of the last raft entry applied to the state machine.", func() float64 { return float64(n.FSM().AppliedIndex()) }),
		gauge("fedlic_raft_commit_index", "Raft commit index known to this node.", func() float64 { return float64(n.Raft().CommitIndex()) }),
		gauge("fedlic_raft_term", "Current raft term.", func() float64 { return float64(n.Raft().CurrentTerm()) }),
		gauge("fedlic_raft_leader", "1 if this node is the leader.", func() float64 { return b2f(n.IsLeader()) }),
		gauge("fedlic_raft_has_leader", "1 if this node knows a leader.", func() float64 { return b2f(n.LeaderID() != "") }),
		gauge("fedlic_raft_last_contact_seconds", "Seconds since this follower last heard from a leader (0 on the leader).", func() float64 {
			if n.Raft().State() == raft.Leader {
				return 0
			}
			lc := n.Raft().LastContact()
			if lc.IsZero() {
				return -1
			}
			return time.Since(lc).Seconds()
		}),
		gauge("fedlic_write_queue", "License writes waiting on this leader for the entry in flight to commit.", func() float64 { return float64(n.WritesWaiting()) }),
		gauge("fedlic_licenses", "Licenses in this replica's state.", func() float64 { return float64(n.FSM().Count()) }),
		gauge("fedlic_replica_caught_up", "1 once this replica serves stale reads after a restart or join.", func() float64 { return b2f(n.CaughtUp()) }),
		gauge("fedlic_anchor_serial", "Serial of this domain's trust anchor.", func() float64 { return float64(n.FSM().Keys().GetAnchorSerial()) }),
		gauge("fedlic_trusted_peers", "Peer domains in the trust policy.", func() float64 { return float64(len(n.FSM().Trust())) }),
	)
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// interceptor counts and times every unary request.
func (m *metrics) interceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	t0 := time.Now()
	resp, err := h(ctx, req)
	m.latency.WithLabelValues(info.FullMethod).Observe(time.Since(t0).Seconds())
	m.requests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	return resp, err
}

// serveHTTP serves /metrics and /debug/pprof on addr until ctx ends.
func (m *metrics) serveHTTP(addr string) (*http.Server, net.Listener, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(lis)
	return srv, lis, nil
}
