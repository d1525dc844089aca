package node_test

import (
	"fmt"
	"math/rand"
	"strconv"
	"sync"
	"testing"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/node"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
}

func TestWriteToFollowerIsForwarded(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 0)
	c.waitLeader()
	f := c.followers()[0]
	r, err := f.client.Issue(ctx(t), issueReq("globex"))
	if err != nil {
		t.Fatalf("issue via follower %s: %v", f.cfg.NodeID, err)
	}
	if r.GetLicense().GetVersion() != 1 || r.GetIndex() == 0 || r.GetLicense().GetId() == "" {
		t.Fatalf("unexpected write response %v", r)
	}
	// Reads on every node, at every consistency.
	for _, m := range c.running() {
		waitFor(t, 5*time.Second, "license replicated to "+m.cfg.NodeID, func() (bool, string) {
			g, err := m.client.Get(ctx(t), r.GetLicense().GetId(), stale)
			return err == nil && g.GetMeta().GetIndex() >= r.GetIndex(), fmt.Sprint(err)
		})
		for _, cons := range []pb.Consistency{leaderRead, linearizable} {
			g, err := m.client.Get(ctx(t), r.GetLicense().GetId(), cons)
			if err != nil || g.GetLicense().GetLicensee() != "globex" {
				t.Fatalf("%s get %s: %v %v", m.cfg.NodeID, cons, g, err)
			}
		}
		ck, err := m.client.Check(ctx(t), "globex", "acme/db", "seats", 10, stale)
		if err != nil || !ck.GetAllowed() {
			t.Fatalf("%s check: %v %v", m.cfg.NodeID, ck, err)
		}
		if ck.GetMeta().GetNodeId() != m.cfg.NodeID {
			t.Fatalf("stale check answered by %s, want local %s", ck.GetMeta().GetNodeId(), m.cfg.NodeID)
		}
	}
}

func TestLeaderLossKeepsAcknowledgedWrites(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 0)
	leader := c.waitLeader()
	var ids []string
	for i := 0; i < 20; i++ {
		m := c.members[i%3]
		r, err := m.client.Issue(ctx(t), issueReq(fmt.Sprintf("l%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.GetLicense().GetId())
	}
	leader.stop()
	nl := c.waitLeader()
	if nl.cfg.NodeID == leader.cfg.NodeID {
		t.Fatal("stopped node still leader")
	}
	for _, id := range ids {
		for _, m := range c.running() {
			if _, err := m.client.Get(ctx(t), id, linearizable); err != nil {
				t.Fatalf("acknowledged license %s missing via %s after leader loss: %v", id, m.cfg.NodeID, err)
			}
		}
	}
	if _, err := c.followers()[0].client.Issue(ctx(t), issueReq("after")); err != nil {
		t.Fatalf("write after failover: %v", err)
	}
	c.restart(leader)
	assertEqualHashes(t, c.waitConverged())
}

func TestRestartedNodeCatchesUp(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 0)
	c.waitLeader()
	f := c.followers()[0]
	f.stop()
	var last uint64
	for i := 0; i < 30; i++ {
		r, err := c.running()[i%2].client.Issue(ctx(t), issueReq(fmt.Sprintf("r%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		last = r.GetIndex()
	}
	// Same config, --join included: must resume, not join again.
	c.restart(f)
	m := c.members[indexOf(c, f.cfg.NodeID)]
	waitFor(t, 10*time.Second, "restarted node caught up", func() (bool, string) {
		got := m.agent.Node.FSM().AppliedIndex()
		return got >= last, fmt.Sprintf("applied %d, want >= %d", got, last)
	})
	if n := m.agent.Node.FSM().Count(); n != 30 {
		t.Fatalf("restarted node holds %d licenses, want 30", n)
	}
	if got := len(m.agent.Node.FSM().Members()); got != 3 {
		t.Fatalf("restart changed membership: %d members", got)
	}
	assertEqualHashes(t, c.waitConverged())
}

func indexOf(c *cluster, id string) int {
	for i, m := range c.members {
		if m.cfg.NodeID == id {
			return i
		}
	}
	return -1
}

func TestNonVoterServesStaleReads(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 1)
	replica := c.members[3]
	st, err := replica.client.Status(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	voters := 0
	for _, m := range st.GetMembers() {
		if m.GetVoter() {
			voters++
		}
		if m.GetId() == replica.cfg.NodeID && (m.GetVoter() || m.GetState() != "nonvoter") {
			t.Fatalf("replica listed as %v", m)
		}
	}
	if voters != 3 {
		t.Fatalf("%d voters, want 3", voters)
	}
	r, err := replica.client.Issue(ctx(t), issueReq("initech")) // forwarded
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "stale check on the read replica", func() (bool, string) {
		ck, err := replica.client.Check(ctx(t), "initech", "acme/db", "sso", 0, stale)
		return err == nil && ck.GetAllowed() && ck.GetMeta().GetIndex() >= r.GetIndex(), fmt.Sprint(ck, err)
	})
}

func TestReplicasEqualAfterConcurrentLoad(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 0)
	c.waitLeader()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			var mine []string
			for i := 0; i < 25; i++ {
				m := c.members[rng.Intn(3)]
				switch {
				case len(mine) > 0 && i%5 == 4:
					if _, err := m.client.Revoke(ctx(t), mine[0], "load"); err != nil {
						errs <- err
						return
					}
					mine = mine[1:]
				case len(mine) > 0 && i%3 == 2:
					_, err := m.client.Licenses.Update(ctx(t), &pb.UpdateRequest{Id: mine[len(mine)-1], SetMetadata: map[string]string{"i": fmt.Sprint(i)}})
					if err != nil {
						errs <- err
						return
					}
				default:
					r, err := m.client.Issue(ctx(t), issueReq(fmt.Sprintf("w%d", w)))
					if err != nil {
						errs <- err
						return
					}
					mine = append(mine, r.GetLicense().GetId())
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("write under load: %v", err)
	}
	assertEqualHashes(t, c.waitConverged())
}

func TestJoinIsIdempotentAndRefusesConflicts(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 0)
	n2 := c.members[1]
	before := c.waitConverged()["n1"]
	// Same id and address: accepted again, nothing new.
	r, err := c.members[2].client.Cluster.Join(ctx(t), &pb.JoinRequest{NodeId: "n2", RaftAddress: n2.cfg.RaftAddr, GrpcAddress: n2.cfg.GRPCAddr, Voter: true})
	if err != nil || !r.GetAlreadyMember() {
		t.Fatalf("repeated join: %v %v", r, err)
	}
	for _, bad := range []*pb.JoinRequest{
		{NodeId: "n2", RaftAddress: "127.0.0.1:1", GrpcAddress: "127.0.0.1:2", Voter: true},   // id taken
		{NodeId: "n9", RaftAddress: n2.cfg.RaftAddr, GrpcAddress: "127.0.0.1:2", Voter: true}, // address taken
		{NodeId: "", RaftAddress: "127.0.0.1:1", GrpcAddress: "127.0.0.1:2", Voter: true},     // no id
	} {
		_, err := c.members[0].client.Cluster.Join(ctx(t), bad)
		if code := status.Code(err); code != codes.FailedPrecondition && code != codes.InvalidArgument {
			t.Fatalf("join %v: got %v, want FailedPrecondition or InvalidArgument", bad, err)
		}
	}
	st, _ := c.members[0].client.Status(ctx(t))
	if len(st.GetMembers()) != 3 {
		t.Fatalf("refused joins changed membership: %v", st.GetMembers())
	}
	_ = before
	assertEqualHashes(t, c.waitConverged())
}

func TestExpiryUsesLeaderTimeOnEveryReplica(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 0)
	req := issueReq("soon")
	req.ExpiresInMs = 300
	r, err := c.members[0].client.Issue(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.running() {
		waitFor(t, 10*time.Second, "license swept to expired on "+m.cfg.NodeID, func() (bool, string) {
			g, err := m.client.Get(ctx(t), r.GetLicense().GetId(), stale)
			return err == nil && g.GetLicense().GetStatus() == pb.Status_STATUS_EXPIRED, fmt.Sprint(g.GetLicense().GetStatus(), err)
		})
		ck, err := m.client.Check(ctx(t), "soon", "acme/db", "seats", 1, stale)
		if err != nil || ck.GetAllowed() || ck.GetReason() != "expired" {
			t.Fatalf("%s: expired license check = %v, %v", m.cfg.NodeID, ck, err)
		}
	}
	assertEqualHashes(t, c.waitConverged())
}

// A replica restarted while its domain has no leader holds only its last
// snapshot (raft does not persist the commit index): it must refuse stale
// reads as Unavailable rather than deny a valid license, and serve again
// once a leader tells it what is committed.
func TestRestartedReplicaDoesNotDenyBeforeCatchingUp(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 0)
	if _, err := c.members[0].client.Issue(ctx(t), issueReq("globex")); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	for _, m := range c.members {
		m.stop()
	}
	c.restart(c.members[2])
	r := c.members[2]
	ck, err := r.client.Check(ctx(t), "globex", "acme/db", "seats", 1, stale)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("restarted replica without a leader answered %v, %v; want Unavailable", ck, err)
	}
	c.restart(c.members[0])
	waitFor(t, 20*time.Second, "restarted replica serving again", func() (bool, string) {
		ck, err := r.client.Check(ctx(t), "globex", "acme/db", "seats", 1, stale)
		if err == nil && !ck.GetAllowed() {
			t.Fatalf("restarted replica denied a valid license: %v", ck)
		}
		return err == nil && ck.GetAllowed(), fmt.Sprint(err)
	})
}

func TestNeverAppliedClassification(t *testing.T) {
	cases := map[error]bool{
		status.Error(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused\""): true,
		status.Error(codes.Unavailable, node.ErrNoLeader.Error()):          true,
		status.Error(codes.Unavailable, node.ErrNotLeader.Error()):         false, // may have committed
		status.Error(codes.DeadlineExceeded, "deadline exceeded"):          false,
		status.Error(codes.InvalidArgument, "connect: connection refused"): false,
	}
	for err, want := range cases {
		if got := node.NeverApplied(err); got != want {
			t.Errorf("NeverApplied(%v) = %v, want %v", err, got, want)
		}
	}
}

// TestRestartedReplicaServesAfterLeaderChangeInQuietDomain: a replica
// whose log ends with a new leader's no-op (which raft never hands the
// state machine) is caught up once it applied the commands before it; it
// must not refuse stale reads until somebody writes again.
func TestRestartedReplicaServesAfterLeaderChangeInQuietDomain(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 0)
	l := c.waitLeader()
	if _, err := l.client.Issue(ctx(t), issueReq("globex")); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	l.stop()
	nl := c.waitLeader()
	var f *member
	for _, m := range c.running() {
		if m != nl {
			f = m
		}
	}
	waitFor(t, 10*time.Second, "the new leader's no-op committed on "+f.cfg.NodeID, func() (bool, string) {
		fr, lr := f.agent.Node.Raft(), nl.agent.Node.Raft()
		return fr.LastIndex() == lr.LastIndex() && fr.CommitIndex() == fr.LastIndex(), fmt.Sprintf("last %d/%d commit %d", fr.LastIndex(), lr.LastIndex(), fr.CommitIndex())
	})
	if last, applied := f.agent.Node.Raft().LastIndex(), f.agent.Node.FSM().AppliedIndex(); applied >= last {
		t.Fatalf("setup: the state machine applied %d of %d: the log does not end with entries it never sees", applied, last)
	}
	f.stop()
	c.restart(f)
	for _, m := range c.running() {
		if m.cfg.NodeID == f.cfg.NodeID {
			f = m
		}
	}
	waitFor(t, 10*time.Second, "the restarted replica serving stale reads with no write since", func() (bool, string) {
		ck, err := f.client.Check(ctx(t), "globex", "acme/db", "seats", 1, stale)
		if err == nil && !ck.GetAllowed() {
			t.Fatalf("restarted replica denied a valid license: %v", ck)
		}
		return err == nil, fmt.Sprint(err)
	})
}

// TestReplicaCaughtUpBySnapshotInstallServes: a replica restarted after
// the leader compacted the entries it lacks catches up by a snapshot
// install; with no write after it, it must still serve stale reads.
func TestReplicaCaughtUpBySnapshotInstallServes(t *testing.T) {
	skipShort(t)
	c := newClusterWith(t, 3, func(cfg *nodeConfig) { cfg.TrailingLogs = 1 })
	l := c.waitLeader()
	f := c.followers()[0]
	f.stop()
	for i := 0; i < 20; i++ {
		if _, err := l.client.Issue(ctx(t), issueReq(fmt.Sprintf("c%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.agent.Node.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	c.restart(f)
	for _, m := range c.running() {
		if m.cfg.NodeID == f.cfg.NodeID {
			f = m
		}
	}
	waitFor(t, 10*time.Second, "a snapshot installed on "+f.cfg.NodeID, func() (bool, string) {
		s := f.agent.Node.Raft().Stats()
		return s["last_snapshot_index"] != "0" && f.agent.Node.Raft().AppliedIndex() >= l.agent.Node.Raft().AppliedIndex(), fmt.Sprint(s["last_snapshot_index"])
	})
	waitFor(t, 10*time.Second, "the replica serving stale reads after the install, with no write since", func() (bool, string) {
		ck, err := f.client.Check(ctx(t), "c7", "acme/db", "seats", 1, stale)
		if err == nil && !ck.GetAllowed() {
			t.Fatalf("replica denied a valid license after the install: %v", ck)
		}
		return err == nil, fmt.Sprintf("%v (fsm applied %d)", err, f.agent.Node.FSM().AppliedIndex())
	})
	snap, err := strconv.ParseUint(f.agent.Node.Raft().Stats()["last_snapshot_index"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if applied := f.agent.Node.FSM().AppliedIndex(); applied < snap {
		t.Errorf("after the install the replica's reads report index %d, below the snapshot's %d", applied, snap)
	}
}
