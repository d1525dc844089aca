package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
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

// Kinds of A's checks.
const (
	fedCheckOwnToken    = "own-token"    // check --token of an A license on A
	fedCheckPeerToken   = "peer-token"   // check --token of a B license on A
	fedCheckOwnLicensee = "own-licensee" // check by licensee and product on A
	fedCheckPeerVerify  = "peer-verify"  // verify of a B token on A
)

var fedCheckKinds = []string{fedCheckOwnToken, fedCheckPeerToken, fedCheckOwnLicensee, fedCheckPeerVerify}

// fedLoad drives the clients of the federation run. The licenses A's
// checks use (own, peer) are issued before the load and never written
// again, so every check of them must answer allowed.
type fedLoad struct {
	a, b         *fedDomain
	histA, histB *history.History
	own          []fixedLicense // A's
	peer         []fixedLicense // B's

	mu     sync.Mutex
	checks []fedCheck
	tokens map[string]string // B's licenses issued by the load: id -> token

	aWrites, aWriteFails, bWrites, bWriteFails, nChecks, checkFails atomic.Int64
}

// fixedLicense is a license with its token, for checks.
type fixedLicense struct{ id, licensee, product, token string }

// writer issues, updates and revokes licenses of its own in d until
// stop: no other client touches them, so no write fails for business
// reasons (a license is dropped once revoked, or after a failed write).
func (l *fedLoad) writer(ctx context.Context, d *fedDomain, h *history.History, cl int, seed int64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(len(d.name))<<32|uint64(cl)))
	writes, fails := &l.aWrites, &l.aWriteFails
	if d.name == fedDomainB {
		writes, fails = &l.bWrites, &l.bWriteFails
	}
	var owned []string
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		m := d.pick(rng)
		var op history.Op
		var resp *pb.WriteResponse
		var err error
		switch r := rng.IntN(100); {
		case len(owned) == 0 || (r < 25 && len(owned) < 4):
			licensee := fmt.Sprintf("fed-%s-c%d-%d", d.name, cl, n)
			op = history.Op{Client: cl, Kind: history.KindIssue, Node: m.name}
			err = call(ctx, &op, func(c context.Context) (err error) {
				resp, err = m.client.Issue(c, &pb.IssueRequest{Licensee: licensee, Product: d.name + "/db",
					Entitlements: []*pb.Entitlement{client.Count("seats", 1+rng.Int64N(50))}})
				return err
			})
			if err == nil {
				op.LicenseID = resp.GetLicense().GetId()
				owned = append(owned, op.LicenseID)
				if d.name == fedDomainB {
					l.mu.Lock()
					l.tokens[op.LicenseID] = resp.GetToken()
					l.mu.Unlock()
				}
			}
		case r < 85:
			i := rng.IntN(len(owned))
			id := owned[i]
			req := &pb.UpdateRequest{Id: id, SetEntitlements: []*pb.Entitlement{client.Count("seats", rng.Int64N(50))}}
			op = history.Op{Client: cl, Kind: history.KindUpdate, LicenseID: id, Node: m.name}
			err = call(ctx, &op, func(c context.Context) (err error) {
				resp, err = m.client.Licenses.Update(c, req)
				return err
			})
			if err != nil {
				// Drop it: at most one unknown write per license keeps
				// the linearizability search small (B fails many).
				owned = append(owned[:i], owned[i+1:]...)
			}
		default:
			i := rng.IntN(len(owned))
			id := owned[i]
			owned = append(owned[:i], owned[i+1:]...)
			op = history.Op{Client: cl, Kind: history.KindRevoke, LicenseID: id, Node: m.name}
			err = call(ctx, &op, func(c context.Context) (err error) {
				resp, err = m.client.Revoke(c, id, "federation chaos")
				return err
			})
		}
		if err == nil {
			fillWrite(&op, resp.GetLicense(), resp.GetIndex())
		}
		if ctx.Err() != nil && err != nil {
			return // the run was interrupted: not a write failure
		}
		h.Add(op)
		writes.Add(1)
		if err != nil {
			fails.Add(1)
		}
	}
}

// checker asks A's nodes in turn (skipping one a fault has taken down)
// to check and verify the fixed licenses, at stale consistency.
func (l *fedLoad) checker(ctx context.Context, cl int, seed int64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xc0c0+uint64(cl)))
	for i := cl; ; i++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		m := l.a.ms[i%len(l.a.ms)]
		if l.a.isDown(m.name) {
			continue
		}
		c := l.checkOnce(ctx, m, fedCheckKinds[rng.IntN(len(fedCheckKinds))], rng)
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		l.checks = append(l.checks, c)
		l.mu.Unlock()
		l.nChecks.Add(1)
		if !c.Answered || !c.Allowed {
			l.checkFails.Add(1)
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (l *fedLoad) checkOnce(ctx context.Context, m *member, kind string, rng *rand.Rand) fedCheck {
	own, peer := l.own[rng.IntN(len(l.own))], l.peer[rng.IntN(len(l.peer))]
	c := fedCheck{Kind: kind, Node: m.name}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	stale := pb.Consistency_CONSISTENCY_STALE
	var err error
	var reason string
	c.Call = time.Now().UnixNano()
	switch kind {
	case fedCheckOwnToken, fedCheckPeerToken:
		tok := own.token
		if kind == fedCheckPeerToken {
			tok = peer.token
		}
		var r *pb.CheckResponse
		r, err = m.client.Licenses.Check(cctx, &pb.CheckRequest{Token: tok, Feature: "seats", Amount: 1, Consistency: stale})
		c.Allowed, reason = r.GetAllowed(), r.GetReason()
	case fedCheckOwnLicensee:
		var r *pb.CheckResponse
		r, err = m.client.Check(cctx, own.licensee, own.product, "seats", 1, stale)
		c.Allowed, reason = r.GetAllowed(), r.GetReason()
		if err == nil && r.GetLicenseId() != own.id {
			c.Allowed, reason = false, fmt.Sprintf("judged license %q, want %s", r.GetLicenseId(), own.id)
		}
	case fedCheckPeerVerify:
		var r *pb.VerifyResponse
		r, err = m.client.Licenses.Verify(cctx, &pb.VerifyRequest{Token: peer.token})
		c.Allowed, reason = r.GetValid(), r.GetReason()+": "+r.GetDetail()
	}
	c.Return = time.Now().UnixNano()
	c.Answered = err == nil
	switch {
	case err != nil:
		c.Detail = err.Error()
	case !c.Allowed:
		c.Detail = reason
	}
	return c
}

func (l *fedLoad) allChecks() []fedCheck {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]fedCheck(nil), l.checks...)
}

// fedProbe is one B revocation followed until every A node denies it.
type fedProbe struct {
	After     string `json:"after"` // the B restart it followed
	LicenseID string `json:"license_id,omitempty"`
	RevokedAt int64  `json:"revoked_at,omitempty"`
	DeniedMs  int64  `json:"denied_ms"` // from the revoke's ack until every A node denied; -1: not within the bound
	// NodeMs is, per A node, when it first denied (ms after the ack).
	NodeMs map[string]int64 `json:"node_ms,omitempty"`
	Error  string           `json:"error,omitempty"`
}

// fedProbeBound bounds how long a B revocation may take to be denied on
// every A node: gossip carries it at once; anti-entropy pulls every 10 s
// if the broadcast was missed (A's leader changed, say).
const fedProbeBound = 30 * time.Second

const fedProbeClient = 1000 // client id of probe writes in B's history

// revocationProbe issues a B license, revokes it in B and polls every A
// node until its token check denies it as revoked.
func (l *fedLoad) revocationProbe(ctx context.Context, after string, n int) fedProbe {
	p := fedProbe{After: after, DeniedMs: -1}
	resp, err := issueRetry(ctx, l.b, l.histB, fedProbeClient, fmt.Sprintf("fed-probe-%d", n), fedDomainB+"/db", 10, 30*time.Second)
	if err != nil {
		p.Error = "issue in B: " + err.Error()
		return p
	}
	p.LicenseID = resp.GetLicense().GetId()
	tok := resp.GetToken()
	rng := rand.New(rand.NewPCG(uint64(n), 0x9b0be))
	err = waitFor(ctx, 30*time.Second, "B to acknowledge the revocation of "+p.LicenseID, func() (bool, string) {
		m := l.b.pick(rng)
		op := history.Op{Client: fedProbeClient, Kind: history.KindRevoke, LicenseID: p.LicenseID, Node: m.name}
		var r *pb.WriteResponse
		err := call(ctx, &op, func(c context.Context) (err error) {
			r, err = m.client.Revoke(c, p.LicenseID, "federation chaos probe")
			return err
		})
		if err == nil {
			fillWrite(&op, r.GetLicense(), r.GetIndex())
		}
		l.histB.Add(op)
		// FailedPrecondition: an earlier attempt that timed out applied.
		return err == nil || status.Code(err) == codes.FailedPrecondition, fmt.Sprint(err)
	})
	if err != nil {
		p.Error = err.Error()
		return p
	}
	p.RevokedAt = time.Now().UnixNano()
	p.NodeMs = map[string]int64{}
	err = waitFor(ctx, fedProbeBound, "every A node to deny B's revoked "+p.LicenseID, func() (bool, string) {
		var obs []string
		for _, m := range l.a.ms {
			if _, ok := p.NodeMs[m.name]; ok {
				continue
			}
			c, cancel := context.WithTimeout(ctx, time.Second)
			r, err := m.client.Licenses.Check(c, &pb.CheckRequest{Token: tok, Feature: "seats", Amount: 1, Consistency: pb.Consistency_CONSISTENCY_STALE})
			cancel()
			if err == nil && !r.GetAllowed() && strings.Contains(r.GetReason(), "revoked") {
				p.NodeMs[m.name] = time.Since(time.Unix(0, p.RevokedAt)).Milliseconds()
				continue
			}
			obs = append(obs, fmt.Sprintf("%s: allowed=%v %q %v", m.name, r.GetAllowed(), r.GetReason(), err))
		}
		return len(obs) == 0, strings.Join(obs, "; ")
	})
	if err != nil {
		p.Error = fmt.Sprintf("%v (denied so far: %v)", err, p.NodeMs)
		return p
	}
	p.DeniedMs = time.Since(time.Unix(0, p.RevokedAt)).Milliseconds()
	return p
}

// missingRevocations polls A's nodes until each denies, as revoked, the
// token of every license revoked in B's final state that the load
// issued (its token is known), or bound passes. It returns the ones
// some A node still did not deny, and how many were followed.
func (l *fedLoad) missingRevocations(ctx context.Context, b history.ReplicaState, bound time.Duration) (missing []string, followed int) {
	pending := map[string]string{} // "id@node" -> token
	l.mu.Lock()
	for id, st := range b.Licenses {
		if tok, ok := l.tokens[id]; ok && st.Status == history.StatusRevoked {
			followed++
			for _, m := range l.a.ms {
				pending[id+"@"+m.name] = tok
			}
		}
	}
	l.mu.Unlock()
	// sweep asks about every pending pair once, one goroutine per A node.
	sweep := func() {
		// Each node's pairs are listed before any goroutine starts:
		// the goroutines delete from pending.
		mine := make([][][2]string, len(l.a.ms)) // per node: key, token
		for i, m := range l.a.ms {
			for key, tok := range pending {
				if strings.HasSuffix(key, "@"+m.name) {
					mine[i] = append(mine[i], [2]string{key, tok})
				}
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, m := range l.a.ms {
			mine := mine[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, kt := range mine {
					c, cancel := context.WithTimeout(ctx, time.Second)
					r, err := m.client.Licenses.Check(c, &pb.CheckRequest{Token: kt[1], Feature: "seats", Amount: 1, Consistency: pb.Consistency_CONSISTENCY_STALE})
					cancel()
					if err == nil && !r.GetAllowed() && strings.Contains(r.GetReason(), "revoked") {
						mu.Lock()
						delete(pending, kt[0])
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
	}
	waitFor(ctx, bound, "A to deny every license revoked in B", func() (bool, string) {
		sweep()
		return len(pending) == 0, fmt.Sprintf("%d (license, A node) pairs not denied", len(pending))
	})
	sweep() // the verdict: a full pass after the deadline
	for key := range pending {
		missing = append(missing, key)
	}
	sort.Strings(missing)
	return missing, followed
}
