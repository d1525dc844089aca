package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The second write baseline: three bare raft nodes (raft-boltdb, fsync
// on, no-op FSM, fedlic's raft settings) as three processes, each behind
// a bare gRPC unary method that does nothing but raft.Apply. It has the
// deployment shape of a fedlic domain — three schedulers on two cores, a
// client process, a gRPC hop — without anything fedlic adds (commands,
// validation, the state machine, token signing). The in-process bare
// cluster (bareraft.go) is the raft-only limit; this is the limit of any
// gRPC-fronted three-process raft service on this machine.

const bareService = "fedlicbench.BareRaft"

// bareRaftServer is the handler type of the hand-written service below
// (no .proto: requests and responses are well-known wrapper messages).
type bareRaftServer interface {
	apply(ctx context.Context, in *wrapperspb.BytesValue) (*wrapperspb.UInt64Value, error)
	state(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
}

var bareServiceDesc = grpc.ServiceDesc{
	ServiceName: bareService,
	HandlerType: (*bareRaftServer)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Apply", Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(bareRaftServer).apply(ctx, in)
		}},
		{MethodName: "State", Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(bareRaftServer).state(ctx, in)
		}},
	},
}

type bareNodeServer struct{ r *raft.Raft }

func (s *bareNodeServer) apply(_ context.Context, in *wrapperspb.BytesValue) (*wrapperspb.UInt64Value, error) {
	f := s.r.Apply(in.GetValue(), 10*time.Second)
	if err := f.Error(); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return wrapperspb.UInt64(f.Index()), nil
}

func (s *bareNodeServer) state(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	return wrapperspb.String(s.r.State().String()), nil
}

// bareNodeCmd is the hidden subcommand each baseline process runs.
func bareNodeCmd() *cobra.Command {
	var id, dir, raftAddr, grpcAddr, peers string
	c := &cobra.Command{
		Use: "bare-raft-node", Hidden: true, Args: cobra.NoArgs,
		Short: "one node of the three-process bare raft baseline (started by the write bench)",
		RunE: func(*cobra.Command, []string) error {
			return runBareNode(id, dir, raftAddr, grpcAddr, peers)
		},
	}
	c.Flags().StringVar(&id, "id", "", "raft server id")
	c.Flags().StringVar(&dir, "dir", "", "data folder")
	c.Flags().StringVar(&raftAddr, "raft-addr", "", "raft host:port")
	c.Flags().StringVar(&grpcAddr, "grpc-addr", "", "gRPC host:port")
	c.Flags().StringVar(&peers, "bootstrap", "", "id=raftaddr,... : bootstrap this configuration")
	return c
}

func runBareNode(id, dir, raftAddr, grpcAddr, peers string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	store, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	snaps, err := raft.NewFileSnapshotStore(dir, 1, io.Discard)
	if err != nil {
		return err
	}
	trans, err := raft.NewTCPTransport(raftAddr, nil, 3, 10*time.Second, io.Discard)
	if err != nil {
		return err
	}
	logs, _ := raft.NewLogCache(512, store)
	r, err := raft.NewRaft(bareConfig(raft.ServerID(id)), &noopFSM{}, logs, store, snaps, trans)
	if err != nil {
		return err
	}
	if peers != "" {
		var cfg raft.Configuration
		for _, p := range strings.Split(peers, ",") {
			pid, addr, ok := strings.Cut(p, "=")
			if !ok {
				return fmt.Errorf("--bootstrap %q: want id=addr,...", peers)
			}
			cfg.Servers = append(cfg.Servers, raft.Server{ID: raft.ServerID(pid), Address: raft.ServerAddress(addr)})
		}
		if err := r.BootstrapCluster(cfg).Error(); err != nil {
			return err
		}
	}
	lis, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	srv.RegisterService(&bareServiceDesc, &bareNodeServer{r: r})
	go srv.Serve(lis)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	srv.Stop()
	return r.Shutdown().Error()
}

// bareProcs is the running three-process baseline.
type bareProcs struct {
	cmds  []*exec.Cmd
	conns []*grpc.ClientConn
	tmp   string
}

// startBareProcs starts three bare-raft-node processes of this binary and
// returns the gRPC address of the one that leads.
func startBareProcs(ctx context.Context) (*bareProcs, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	tmp, err := os.MkdirTemp("", "fedlic-bench-bareprocs-")
	if err != nil {
		return nil, "", err
	}
	bp := &bareProcs{tmp: tmp}
	var raftAddrs, grpcAddrs, peers []string
	for i := 0; i < 3; i++ {
		r, err1 := freePort()
		g, err2 := freePort()
		if err := errors.Join(err1, err2); err != nil {
			bp.stop()
			return nil, "", err
		}
		raftAddrs, grpcAddrs = append(raftAddrs, r), append(grpcAddrs, g)
		peers = append(peers, fmt.Sprintf("p%d=%s", i+1, r))
	}
	for i := 0; i < 3; i++ {
		args := []string{"bare-raft-node", "--id", fmt.Sprintf("p%d", i+1), "--dir", filepath.Join(tmp, fmt.Sprint(i+1)),
			"--raft-addr", raftAddrs[i], "--grpc-addr", grpcAddrs[i]}
		if i == 0 {
			args = append(args, "--bootstrap", strings.Join(peers, ","))
		}
		cmd := exec.Command(exe, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			bp.stop()
			return nil, "", err
		}
		bp.cmds = append(bp.cmds, cmd)
		conn, err := dialBare(grpcAddrs[i])
		if err != nil {
			bp.stop()
			return nil, "", err
		}
		bp.conns = append(bp.conns, conn)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, c := range bp.conns {
			out := new(wrapperspb.StringValue)
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			err := c.Invoke(cctx, "/"+bareService+"/State", wrapperspb.String(""), out)
			cancel()
			if err == nil && out.GetValue() == raft.Leader.String() {
				return bp, c.Target(), nil
			}
		}
	}
	bp.stop()
	return nil, "", errors.New("three-process bare raft: no leader within 30s")
}

// dialBare opens a connection to a baseline node.
func dialBare(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// bareApply is one committed write through the three-process baseline.
func bareApply(ctx context.Context, c *grpc.ClientConn, payload []byte) error {
	return c.Invoke(ctx, "/"+bareService+"/Apply", wrapperspb.Bytes(payload), new(wrapperspb.UInt64Value))
}

func (bp *bareProcs) pids() []int {
	var out []int
	for _, c := range bp.cmds {
		out = append(out, c.Process.Pid)
	}
	return out
}

func (bp *bareProcs) stop() {
	for _, c := range bp.conns {
		c.Close()
	}
	for _, cmd := range bp.cmds {
		cmd.Process.Kill()
		cmd.Wait()
	}
	os.RemoveAll(bp.tmp)
}
