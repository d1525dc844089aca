package node_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type writeResult struct {
	name string
	r    *pb.WriteResponse
	err  error
}

// TestConcurrentWritesShareOneEntry: writes that queue while the batcher
// has no free slot go into the log as one entry, and each caller still
// gets its own answer: its own license and token, or its own rejection.
func TestConcurrentWritesShareOneEntry(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, 0)
	l := c.waitLeader()
	victim, err := l.client.Issue(ctx(t), issueReq("victim"))
	if err != nil {
		t.Fatal(err)
	}
	release := l.agent.Node.HoldProposals()
	const issues = 20
	out := make(chan writeResult, issues+2)
	for i := 0; i < issues; i++ {
		go func(i int) {
			r, err := l.client.Issue(ctx(t), issueReq(fmt.Sprintf("c%02d", i)))
			out <- writeResult{fmt.Sprintf("issue c%02d", i), r, err}
		}(i)
	}
	go func() {
		r, err := l.client.Revoke(ctx(t), victim.GetLicense().GetId(), "batched")
		out <- writeResult{"revoke victim", r, err}
	}()
	go func() {
		r, err := l.client.Revoke(ctx(t), "lic-missing", "batched")
		out <- writeResult{"revoke missing", r, err}
	}()
	waitFor(t, 10*time.Second, "every write queued behind the held slots", func() (bool, string) {
		q := l.agent.Node.WritesWaiting()
		return q == issues+2, fmt.Sprintf("%d queued", q)
	})
	release()

	var index uint64
	ids := map[string]bool{}
	for i := 0; i < issues+2; i++ {
		w := <-out
		switch {
		case w.name == "revoke missing":
			if status.Code(w.err) != codes.NotFound {
				t.Errorf("%s: %v, want NotFound", w.name, w.err)
			}
			continue
		case w.err != nil:
			t.Fatalf("%s: %v", w.name, w.err)
		case w.name == "revoke victim":
			if w.r.GetLicense().GetStatus() != pb.Status_STATUS_REVOKED {
				t.Errorf("victim is %v after its revoke", w.r.GetLicense().GetStatus())
			}
		default:
			id := w.r.GetLicense().GetId()
			if ids[id] || w.r.GetToken() == "" || w.r.GetLicense().GetLicensee() != w.name[len("issue "):] {
				t.Errorf("%s: id %s (seen before: %v), token %q, licensee %s", w.name, id, ids[id], w.r.GetToken(), w.r.GetLicense().GetLicensee())
			}
			ids[id] = true
		}
		if index == 0 {
			index = w.r.GetIndex()
		}
		if w.r.GetIndex() != index || index <= victim.GetIndex() {
			t.Errorf("%s committed at index %d, want every queued write at one index after %d (first seen %d)", w.name, w.r.GetIndex(), victim.GetIndex(), index)
		}
	}
	assertEqualHashes(t, c.waitConverged())
	for _, m := range c.running() {
		for id := range ids {
			if g, err := m.client.Get(ctx(t), id, stale); err != nil || g.GetLicense().GetCreateIndex() != index {
				t.Fatalf("%s: %s = %v, %v; want it created at %d", m.cfg.NodeID, id, g.GetLicense(), err, index)
			}
		}
	}
}

// TestQueuedWriteFailsWhenTheNodeStops: a write waiting in the batcher's
// queue gets an answer when its node shuts down; it does not hang.
func TestQueuedWriteFailsWhenTheNodeStops(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 1, 0)
	l := c.waitLeader()
	l.agent.Node.HoldProposals() // never released: the node stops first
	out := make(chan error, 1)
	go func() {
		_, err := l.agent.Node.Issue(ctx(t), issueReq("late"))
		out <- err
	}()
	waitFor(t, 10*time.Second, "the write queued", func() (bool, string) {
		return l.agent.Node.WritesWaiting() == 1, ""
	})
	l.stop()
	select {
	case err := <-out:
		if err == nil {
			t.Fatal("a write queued on a stopped node succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a write queued on a stopping node never returned")
	}
}

// TestQueuedWriteWhoseCallerGaveUpIsNotProposed: a write still queued
// when its caller's deadline passes is answered with the deadline and
// never reaches the log, so the caller may retry it safely.
func TestQueuedWriteWhoseCallerGaveUpIsNotProposed(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 1, 0)
	l := c.waitLeader()
	n := l.agent.Node
	before := n.FSM().Count()
	release := n.HoldProposals()
	wctx, cancel := context.WithTimeout(ctx(t), 200*time.Millisecond)
	defer cancel()
	out := make(chan error, 1)
	go func() {
		_, err := n.Issue(wctx, issueReq("impatient"))
		out <- err
	}()
	waitFor(t, 10*time.Second, "the write queued and its deadline passed", func() (bool, string) {
		return n.WritesWaiting() == 1 && wctx.Err() != nil, fmt.Sprintf("%d waiting, ctx %v", n.WritesWaiting(), wctx.Err())
	})
	release()
	if err := <-out; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write whose deadline passed in the queue: %v, want the deadline", err)
	}
	if _, err := n.Issue(ctx(t), issueReq("patient")); err != nil {
		t.Fatal(err)
	}
	if got := n.FSM().Count(); got != before+1 {
		t.Fatalf("%d licenses, want %d: the abandoned write reached the log", got, before+1)
	}
}
