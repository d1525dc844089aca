package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
	"github.com/fedlic/fedlic/cmd/fedlic-chaos/history"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	product  = "chaos/db"
	poolSize = 20
	// opTimeout bounds every operation. It is longer than the 2 s a
	// follower holds a request waiting for an election.
	opTimeout = 2500 * time.Millisecond
)

// slot is one entry of the pool of licenses every client works on.
type slot struct {
	id, licensee string
	dead         bool // revoked (or maybe revoked): issue a new one here
}

// pool is the small set of licenses shared by all clients, so operations
// on one license are concurrent. Retired licenses stay in the history.
type pool struct {
	mu    sync.Mutex
	slots [poolSize]slot
	known map[string]bool // every license id acknowledged to exist
	// retired holds recently revoked (or replaced over) licenses, still
	// read so a revocation that comes undone is seen by reads too.
	retired []slot
	next    atomic.Int64 // licensee counter
}

func newPool() *pool { return &pool{known: map[string]bool{}} }

func (p *pool) get(i int) slot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.slots[i]
}

func (p *pool) set(i int, s slot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.slots[i]; old.id != "" && !old.dead {
		p.retire(old)
	}
	p.slots[i] = s
	if s.id != "" {
		p.known[s.id] = true
	}
}

// kill marks slot i dead if it still holds id.
func (p *pool) kill(i int, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.slots[i].id == id && !p.slots[i].dead {
		p.slots[i].dead = true
		p.retire(p.slots[i])
	}
}

const maxRetired = 40

func (p *pool) retire(s slot) {
	p.retired = append(p.retired, s)
	if len(p.retired) > maxRetired {
		p.retired = p.retired[len(p.retired)-maxRetired:]
	}
}

// retiredSlot returns a random retired license, if any.
func (p *pool) retiredSlot(rng *rand.Rand) (slot, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.retired) == 0 {
		return slot{}, false
	}
	return p.retired[rng.IntN(len(p.retired))], true
}

func (p *pool) isKnown(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.known[id]
}

func (p *pool) addKnown(id string) {
	p.mu.Lock()
	p.known[id] = true
	p.mu.Unlock()
}

// allKnown returns every license id acknowledged during the run.
func (p *pool) allKnown() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.known))
	for id := range p.known {
		out = append(out, id)
	}
	return out
}

// loader drives the client load and records every operation.
type loader struct {
	ms   []*member
	down *downTracker
	h    *history.History
	pool *pool
	ops  atomic.Int64
}

// pick returns a random node that is not down (any node if all are).
func (l *loader) pick(rng *rand.Rand) *member {
	var live []*member
	for _, m := range l.ms {
		if !l.down.isDown(m.name) {
			live = append(live, m)
		}
	}
	if len(live) == 0 {
		live = l.ms
	}
	return live[rng.IntN(len(live))]
}

// worker runs operations until stop is closed or ctx ends.
func (l *loader) worker(ctx context.Context, id int, seed int64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(id)+1))
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		l.one(ctx, id, rng)
		l.ops.Add(1)
	}
}

func (l *loader) one(ctx context.Context, cl int, rng *rand.Rand) {
	i := rng.IntN(poolSize)
	s := l.pool.get(i)
	m := l.pick(rng)
	r := rng.IntN(100)
	switch {
	case s.id == "" || s.dead || r < 8:
		l.issue(ctx, cl, m, i, rng)
	case r < 28:
		l.update(ctx, cl, m, i, s, rng)
	case r < 33:
		l.revoke(ctx, cl, m, i, s)
	case r < 38:
		l.replace(ctx, cl, m, i, s)
	case r >= 38 && rng.IntN(4) == 0:
		// A read of a retired license: revoked ones must stay revoked.
		if rs, ok := l.pool.retiredSlot(rng); ok {
			s = rs
		}
		cons := pb.Consistency_CONSISTENCY_LINEARIZABLE
		if rng.IntN(2) == 0 {
			cons = pb.Consistency_CONSISTENCY_STALE
		}
		if r < 68 {
			l.get(ctx, cl, m, s, cons)
		} else {
			l.check(ctx, cl, m, s, cons)
		}
	case r < 68:
		cons := pb.Consistency_CONSISTENCY_LINEARIZABLE
		if rng.IntN(2) == 0 {
			cons = pb.Consistency_CONSISTENCY_STALE
		}
		l.get(ctx, cl, m, s, cons)
	default:
		cons := pb.Consistency_CONSISTENCY_STALE
		if rng.IntN(2) == 0 {
			cons = pb.Consistency_CONSISTENCY_LINEARIZABLE
		}
		l.check(ctx, cl, m, s, cons)
	}
}

// classify turns an error into an outcome: the codes for requests the
// server rejected mean "not applied"; anything else (timeouts, lost
// connections, no leader) may or may not have been applied.
func classify(err error) history.Outcome {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.AlreadyExists:
		return history.OutcomeFail
	}
	return history.OutcomeUnknown
}

func lower(s pb.Status) string {
	if s == pb.Status_STATUS_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATUS_"))
}

func consName(c pb.Consistency) string {
	switch c {
	case pb.Consistency_CONSISTENCY_STALE:
		return history.ConsistencyStale
	case pb.Consistency_CONSISTENCY_LEADER:
		return history.ConsistencyLeader
	case pb.Consistency_CONSISTENCY_LINEARIZABLE:
		return history.ConsistencyLinearizable
	}
	return c.String()
}

// call runs fn with the per-operation timeout and fills the timing,
// outcome and error of op.
func call(ctx context.Context, op *history.Op, fn func(ctx context.Context) error) error {
	c, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	op.Call = time.Now().UnixNano()
	err := fn(c)
	op.Return = time.Now().UnixNano()
	if err == nil {
		op.Outcome = history.OutcomeOK
		return nil
	}
	op.Outcome = classify(err)
	op.Error = err.Error()
	if op.Outcome == history.OutcomeUnknown {
		// Back off like a real client: a follower that cannot reach a
		// dead leader fails at once, and a client retrying at full speed
		// would flood the history with unknown writes.
		time.Sleep(20*time.Millisecond + rand.N(30*time.Millisecond))
	}
	return err
}

func fillWrite(op *history.Op, lic *pb.License, index uint64) {
	op.Status, op.Version, op.Index = lower(lic.GetStatus()), lic.GetVersion(), index
}

func (l *loader) issue(ctx context.Context, cl int, m *member, i int, rng *rand.Rand) {
	licensee := fmt.Sprintf("chaos-%d", l.pool.next.Add(1))
	op := history.Op{Client: cl, Kind: history.KindIssue, Node: m.name}
	var resp *pb.WriteResponse
	err := call(ctx, &op, func(c context.Context) (err error) {
		resp, err = m.client.Issue(c, &pb.IssueRequest{Licensee: licensee, Product: product,
			Entitlements: []*pb.Entitlement{client.Count("seats", 1+rng.Int64N(50))}})
		return err
	})
	if err == nil {
		op.LicenseID = resp.GetLicense().GetId()
		fillWrite(&op, resp.GetLicense(), resp.GetIndex())
		l.pool.set(i, slot{id: op.LicenseID, licensee: licensee})
	}
	l.h.Add(op)
}

func (l *loader) update(ctx context.Context, cl int, m *member, i int, s slot, rng *rand.Rand) {
	req := &pb.UpdateRequest{Id: s.id}
	if rng.IntN(2) == 0 {
		req.SetMetadata = map[string]string{"chaos": fmt.Sprint(rng.IntN(1000))}
	} else {
		req.SetEntitlements = []*pb.Entitlement{client.Count("seats", rng.Int64N(50))}
	}
	op := history.Op{Client: cl, Kind: history.KindUpdate, LicenseID: s.id, Node: m.name}
	var resp *pb.WriteResponse
	err := call(ctx, &op, func(c context.Context) (err error) {
		resp, err = m.client.Licenses.Update(c, req)
		return err
	})
	switch {
	case err == nil:
		fillWrite(&op, resp.GetLicense(), resp.GetIndex())
	case status.Code(err) == codes.FailedPrecondition:
		l.pool.kill(i, s.id) // revoked by someone else
	}
	l.h.Add(op)
}

func (l *loader) revoke(ctx context.Context, cl int, m *member, i int, s slot) {
	op := history.Op{Client: cl, Kind: history.KindRevoke, LicenseID: s.id, Node: m.name}
	var resp *pb.WriteResponse
	err := call(ctx, &op, func(c context.Context) (err error) {
		resp, err = m.client.Revoke(c, s.id, "chaos")
		return err
	})
	if err == nil {
		fillWrite(&op, resp.GetLicense(), resp.GetIndex())
	}
	l.pool.kill(i, s.id) // revoked, already revoked, or maybe revoked
	l.h.Add(op)
}

func (l *loader) replace(ctx context.Context, cl int, m *member, i int, s slot) {
	op := history.Op{Client: cl, Kind: history.KindReplace, LicenseID: s.id, Node: m.name}
	var resp *pb.WriteResponse
	err := call(ctx, &op, func(c context.Context) (err error) {
		resp, err = m.client.Licenses.Replace(c, &pb.ReplaceRequest{Id: s.id})
		return err
	})
	if err == nil {
		op.NewID = resp.GetLicense().GetId()
		fillWrite(&op, resp.GetReplaced(), resp.GetIndex())
		l.pool.set(i, slot{id: op.NewID, licensee: s.licensee})
	} else {
		l.pool.kill(i, s.id)
	}
	l.h.Add(op)
}

func (l *loader) get(ctx context.Context, cl int, m *member, s slot, cons pb.Consistency) {
	op := history.Op{Client: cl, Kind: history.KindGet, LicenseID: s.id, Node: m.name, Consistency: consName(cons)}
	var resp *pb.GetResponse
	err := call(ctx, &op, func(c context.Context) (err error) {
		resp, err = m.client.Get(c, s.id, cons)
		return err
	})
	if err == nil {
		op.Status, op.Version, op.Index = lower(resp.GetLicense().GetStatus()), resp.GetLicense().GetVersion(), resp.GetMeta().GetIndex()
	}
	l.h.Add(op)
}

// check asks about the licensee of a known license. The answer names the
// license it judged: a replacement the client never learned about (its
// replace timed out) is not in the history, so such a check is recorded
// without a license id and is not checked.
func (l *loader) check(ctx context.Context, cl int, m *member, s slot, cons pb.Consistency) {
	op := history.Op{Client: cl, Kind: history.KindCheck, LicenseID: s.id, Node: m.name, Consistency: consName(cons)}
	var resp *pb.CheckResponse
	err := call(ctx, &op, func(c context.Context) (err error) {
		resp, err = m.client.Check(c, s.licensee, product, "seats", 1, cons)
		return err
	})
	if err == nil {
		allowed := resp.GetAllowed()
		op.Allowed = &allowed
		op.Index = resp.GetMeta().GetIndex()
		switch id := resp.GetLicenseId(); {
		case id == "":
			// No license for the licensee on this replica: observed absent.
		case l.pool.isKnown(id):
			op.LicenseID, op.Status, op.Version = id, lower(resp.GetStatus()), resp.GetVersion()
		default:
			op.LicenseID = ""
			op.Error = "judged license " + id + ", which no acknowledged write created"
		}
	}
	l.h.Add(op)
}
