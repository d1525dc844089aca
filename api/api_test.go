package api_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fedlic/fedlic/api"
	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
	"github.com/fedlic/fedlic/node"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// single starts a one-node domain and waits until it leads.
func single(t *testing.T) (*api.Agent, *client.Client) {
	t.Helper()
	cfg := node.Config{Domain: "acme", NodeID: "solo", DataDir: filepath.Join(t.TempDir(), "d"),
		RaftAddr: freeAddr(t), GRPCAddr: freeAddr(t), Bootstrap: true, MaxRequestBytes: 64 << 10}
	a, err := api.StartAgent(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	cl, err := client.Dial(a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !a.Node.IsLeader() || a.Node.FSM().Domain() == "" {
		if time.Now().After(deadline) {
			t.Fatal("single node never became leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return a, cl
}

func tctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestHealthAndReflectionRegistered(t *testing.T) {
	a, cl := single(t)
	h, err := healthpb.NewHealthClient(cl.Conn()).Check(tctx(t), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	if _, ok := a.Server.GetServiceInfo()["grpc.reflection.v1.ServerReflection"]; !ok {
		t.Fatal("server reflection not registered")
	}
}

func TestBadRequestsGetClearErrorsAndChangeNothing(t *testing.T) {
	a, cl := single(t)
	ok, err := cl.Issue(tctx(t), &pb.IssueRequest{Licensee: "l", Product: "acme/db", Entitlements: []*pb.Entitlement{client.Count("seats", 1)}})
	if err != nil {
		t.Fatal(err)
	}
	before := a.Node.FSM().Hash()
	big := strings.Repeat("x", 100<<10)
	cases := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"negative limit", func() error {
			_, err := cl.Issue(tctx(t), &pb.IssueRequest{Licensee: "l", Product: "p", Entitlements: []*pb.Entitlement{client.Count("seats", -1)}})
			return err
		}, codes.InvalidArgument, "negative"},
		{"limit without value", func() error {
			_, err := cl.Issue(tctx(t), &pb.IssueRequest{Licensee: "l", Product: "p", Entitlements: []*pb.Entitlement{{Feature: "seats"}}})
			return err
		}, codes.InvalidArgument, "no value"},
		{"empty licensee", func() error {
			_, err := cl.Issue(tctx(t), &pb.IssueRequest{Product: "p"})
			return err
		}, codes.InvalidArgument, "licensee is empty"},
		{"empty window", func() error {
			_, err := cl.Issue(tctx(t), &pb.IssueRequest{Licensee: "l", Product: "p", NotBeforeUnixNano: 5e18, NotAfterUnixNano: 5e18})
			return err
		}, codes.InvalidArgument, "empty"},
		{"inverted window", func() error {
			_, err := cl.Issue(tctx(t), &pb.IssueRequest{Licensee: "l", Product: "p", NotBeforeUnixNano: 5e18, NotAfterUnixNano: 4e18})
			return err
		}, codes.InvalidArgument, "inverted"},
		{"window in the past", func() error {
			_, err := cl.Issue(tctx(t), &pb.IssueRequest{Licensee: "l", Product: "p", NotAfterUnixNano: 1})
			return err
		}, codes.InvalidArgument, "already ended"},
		{"unknown license", func() error {
			_, err := cl.Get(tctx(t), "lic-nope", pb.Consistency_CONSISTENCY_STALE)
			return err
		}, codes.NotFound, "not found"},
		{"revoke unknown", func() error {
			_, err := cl.Revoke(tctx(t), "lic-nope", "x")
			return err
		}, codes.NotFound, "not found"},
		{"revoke without reason", func() error {
			_, err := cl.Revoke(tctx(t), ok.GetLicense().GetId(), "")
			return err
		}, codes.InvalidArgument, "reason"},
		{"update wrong version", func() error {
			_, err := cl.Licenses.Update(tctx(t), &pb.UpdateRequest{Id: ok.GetLicense().GetId(), ExpectedVersion: 7, SetMetadata: map[string]string{"a": "b"}})
			return err
		}, codes.FailedPrecondition, "version"},
		{"oversized request", func() error {
			_, err := cl.Issue(tctx(t), &pb.IssueRequest{Licensee: "l", Product: "p", Metadata: map[string]string{"blob": big}})
			return err
		}, codes.ResourceExhausted, "larger than max"},
		{"bad page size", func() error {
			_, err := cl.Licenses.List(tctx(t), &pb.ListRequest{PageSize: 5000})
			return err
		}, codes.InvalidArgument, "page_size"},
		{"check without feature", func() error {
			_, err := cl.Check(tctx(t), "l", "acme/db", "", 0, pb.Consistency_CONSISTENCY_STALE)
			return err
		}, codes.InvalidArgument, "feature"},
		{"unknown fields", func() error {
			b, _ := proto.Marshal(&pb.IssueRequest{Licensee: "l", Product: "p"})
			b = protowire.AppendTag(b, 99, protowire.BytesType)
			b = protowire.AppendBytes(b, []byte("new"))
			var out pb.WriteResponse
			return cl.Conn().Invoke(tctx(t), "/fedlic.v1.Licenses/Issue", rawMsg(b), &out, grpc.ForceCodecV2(rawCodec{}))
		}, codes.InvalidArgument, "unknown field"},
	}
	for _, c := range cases {
		err := c.call()
		if status.Code(err) != c.code || !strings.Contains(status.Convert(err).Message(), c.msg) {
			t.Errorf("%s: got %v, want %s containing %q", c.name, err, c.code, c.msg)
		}
	}
	if after := a.Node.FSM().Hash(); after != before {
		t.Fatal("a rejected request changed the state")
	}
}

func TestSnapshotSaveAndRestoreOverAPI(t *testing.T) {
	a, cl := single(t)
	for i := 0; i < 5; i++ {
		if _, err := cl.Issue(tctx(t), &pb.IssueRequest{Licensee: "l", Product: "acme/db"}); err != nil {
			t.Fatal(err)
		}
	}
	saved := a.Node.FSM().Hash()
	var buf bytes.Buffer
	if _, err := cl.SaveSnapshot(tctx(t), &buf); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Issue(tctx(t), &pb.IssueRequest{Licensee: "later", Product: "acme/db"}); err != nil {
		t.Fatal(err)
	}
	// A corrupt snapshot is refused and changes nothing.
	changed := a.Node.FSM().Hash()
	if _, err := cl.RestoreSnapshot(tctx(t), bytes.NewReader(buf.Bytes()[:buf.Len()/2])); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("truncated snapshot: %v", err)
	}
	if a.Node.FSM().Hash() != changed {
		t.Fatal("refused restore changed the state")
	}
	r, err := cl.RestoreSnapshot(tctx(t), bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if r.GetLicenses() != 5 || a.Node.FSM().Count() != 5 {
		t.Fatalf("restored %d licenses, state has %d; want 5", r.GetLicenses(), a.Node.FSM().Count())
	}
	if a.Node.FSM().Hash() != saved {
		t.Fatal("restored state differs from the saved one")
	}
}

// rawMsg and rawCodec send hand-built bytes, to test unknown fields.
type rawMsg []byte

type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(rawMsg); ok {
		return mem.BufferSlice{mem.SliceBuffer(r)}, nil
	}
	b, err := proto.Marshal(v.(proto.Message))
	return mem.BufferSlice{mem.SliceBuffer(b)}, err
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

func TestMetricsEndpoint(t *testing.T) {
	cfg := node.Config{Domain: "acme", NodeID: "solo", DataDir: filepath.Join(t.TempDir(), "d"),
		RaftAddr: freeAddr(t), GRPCAddr: freeAddr(t), HTTPAddr: "127.0.0.1:0", Bootstrap: true}
	a, err := api.StartAgent(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	cl, _ := client.Dial(a.Addr())
	defer cl.Close()
	if _, err := cl.WaitLeader(tctx(t)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !a.Node.CaughtUp() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := cl.Check(tctx(t), "l", "p", "f", 0, pb.Consistency_CONSISTENCY_STALE); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Issue(tctx(t), &pb.IssueRequest{Licensee: "l", Product: "p", Entitlements: []*pb.Entitlement{client.Count("f", 1)}}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"fedlic_raft_applied_index", "fedlic_raft_leader 1", `fedlic_grpc_requests_total{code="OK",method="/fedlic.v1.Licenses/Check"} 1`, "go_goroutines",
		`fedlic_write_batch_commands_bucket{le="1"} 1`, "fedlic_write_batch_commands_count 1", "fedlic_write_queue 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if r, err := http.Get("http://" + a.HTTPAddr() + "/debug/pprof/"); err != nil || r.StatusCode != 200 {
		t.Errorf("pprof index: %v %v", r, err)
	}
}

// The state hash digests every license: Status computes it only when
// asked, so polling Status stays cheap on a large domain.
func TestStatusHashOnlyWhenAsked(t *testing.T) {
	a, cl := single(t)
	if _, err := cl.Issue(tctx(t), &pb.IssueRequest{Licensee: "l", Product: "acme/db"}); err != nil {
		t.Fatal(err)
	}
	plain, err := cl.Status(tctx(t))
	if err != nil || plain.GetStateHash() != "" || plain.GetAppliedIndex() == 0 {
		t.Fatalf("status without hash: %v %v", plain, err)
	}
	hashed, err := cl.StatusWithHash(tctx(t))
	if err != nil || hashed.GetStateHash() != a.Node.FSM().Hash() {
		t.Fatalf("status with hash: %v %v, want hash %s", hashed, err, a.Node.FSM().Hash())
	}
}
