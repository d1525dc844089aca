package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fedlic/fedlic/cluster"
	"github.com/fedlic/fedlic/license"
)

// gossipDomains is --domains: the gossip bench starts three pool members
// per domain, all in this process.
var gossipDomains = 30

// gossipWait is how long a round waits for the last node; a node that has
// not received the message by then is counted as missed.
const gossipWait = 10 * time.Second

// gossipSettleMax bounds the wait for membership to settle (DESIGN.md saw
// 55 s at 100 members with DefaultLocalConfig).
const gossipSettleMax = 3 * time.Minute

type gossipDomain struct {
	name     string
	rootPriv ed25519.PrivateKey
	sigPriv  ed25519.PrivateKey
	kid      string
	pin      string
	anchor   license.Anchor        // template; Serial grows per round
	sa       *license.SignedAnchor // the first signed anchor (revocations verify against it)
}

func newGossipDomain(name string) (*gossipDomain, error) {
	rootPub, rootPriv, err := license.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	sigPub, sigPriv, err := license.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	d := &gossipDomain{name: name, rootPriv: rootPriv, sigPriv: sigPriv, kid: license.KeyIDFor(sigPub), pin: license.Fingerprint(rootPub)}
	d.anchor = license.Anchor{
		Version: license.AnchorVersion, Domain: name, RootKey: rootPub,
		SigningKeys: []license.SigningKey{{ID: d.kid, PublicKey: sigPub, NotBefore: now.Add(-time.Hour).UnixNano(), Active: true}},
		Scope:       []string{name + "/*"}, Serial: 1,
		IssuedAt: now.Add(-time.Minute).UnixNano(), ExpiresAt: now.Add(24 * time.Hour).UnixNano(),
	}
	if d.sa, err = license.SignAnchor(d.anchor, rootPriv); err != nil {
		return nil, err
	}
	return d, nil
}

// nextAnchor signs the domain's anchor with the next serial.
func (d *gossipDomain) nextAnchor() (*license.SignedAnchor, error) {
	d.anchor.Serial++
	d.anchor.IssuedAt = time.Now().UnixNano()
	return license.SignAnchor(d.anchor, d.rootPriv)
}

// gossipRound tracks one message: when each node's OnMessage first got it.
type gossipRound struct {
	key   string
	start time.Time
	got   []atomic.Int64 // ns after start; 0 = not yet; -1 = the sender
	left  atomic.Int64
	done  chan struct{}
}

type gossipBench struct {
	doms      map[string]*gossipDomain
	names     []string
	pools     []*cluster.Pool
	nodeDom   []*gossipDomain
	addrs     []string
	cur       atomic.Pointer[gossipRound]
	badVerify atomic.Int64
	relay     atomic.Bool
	revSeq    uint64
}

func gossipKey(m cluster.Message) string {
	switch v := m.(type) {
	case *cluster.AnchorMessage:
		return fmt.Sprintf("anchor/%s/%d", v.Anchor.Anchor.Domain, v.Anchor.Anchor.Serial)
	case *cluster.RevocationNotice:
		return "revocation/" + v.Domain + "/" + v.LicenseID
	}
	return ""
}

// onMessage is node i's OnMessage: verify what arrived, as a receiving
// node would, then stamp the first arrival of the current round's message.
func (g *gossipBench) onMessage(i int, m cluster.Message) {
	r := g.cur.Load()
	if r == nil {
		return
	}
	key := gossipKey(m)
	if key != r.key || r.got[i].Load() != 0 {
		return
	}
	el := time.Since(r.start)
	var err error
	switch v := m.(type) {
	case *cluster.AnchorMessage:
		d := g.doms[v.Anchor.Anchor.Domain]
		if d == nil {
			err = errors.New("unknown domain")
		} else {
			err = v.Verify(d.pin, time.Now(), 0)
		}
	case *cluster.RevocationNotice:
		d := g.doms[v.Domain]
		if d == nil {
			err = errors.New("unknown domain")
		} else {
			err = v.Verify(d.sa)
		}
	}
	if err != nil {
		g.badVerify.Add(1)
		return
	}
	if !r.got[i].CompareAndSwap(0, max(int64(el), 1)) {
		return
	}
	if g.relay.Load() {
		g.pools[i].Broadcast(m) // first copy only: the CAS above dedups
	}
	if r.left.Add(-1) == 0 {
		close(r.done)
	}
}

func (g *gossipBench) newPool(name string, d *gossipDomain, id string, join []string, onMsg func(cluster.Message)) (*cluster.Pool, string, error) {
	var lastErr error
	for try := 0; try < 5; try++ { // freePort checks TCP only; UDP may be taken
		addr, err := freePort()
		if err != nil {
			return nil, "", err
		}
		p, err := cluster.NewPool(cluster.PoolConfig{NodeName: name, Bind: addr, Join: join, Fast: true, OnMessage: onMsg,
			Meta: func() cluster.NodeMeta {
				return cluster.NodeMeta{Domain: d.name, NodeID: id, Role: cluster.RoleVoter, AnchorSerial: 1}
			}})
		if err == nil {
			return p, addr, nil
		}
		lastErr = err
	}
	return nil, "", lastErr
}

func shutdownPools(pools []*cluster.Pool) {
	var wg sync.WaitGroup
	for _, p := range pools {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func(p *cluster.Pool) { defer wg.Done(); p.Shutdown() }(p)
	}
	wg.Wait()
}

// seenAlive counts pools whose Members() shows name alive.
func seenAlive(pools []*cluster.Pool, name string) int {
	n := 0
	for _, p := range pools {
		for _, m := range p.Members() {
			if m.Name == name && m.State == "alive" {
				n++
				break
			}
		}
	}
	return n
}

func aliveCount(p *cluster.Pool) int {
	n := 0
	for _, m := range p.Members() {
		if m.State == "alive" {
			n++
		}
	}
	return n
}

// benchGossip: in one process, domains x 3 cluster.Pool members on
// loopback (Fast timing, cluster/ untuned). Ours: time until the last
// node's OnMessage has a newly signed anchor / revocation notice sent
// with one Pool.Broadcast. Baseline: time until a membership change (one
// node joining) is seen alive by every node, memberlist's own gossip.
func benchGossip(ctx context.Context, o opts, rep *reporter) error {
	return runGossip(ctx, gossipDomains, o.rounds, rep)
}

func runGossip(ctx context.Context, domains, rounds int, rep *reporter) error {
	if domains < 1 || rounds < 1 {
		return fmt.Errorf("gossip: need --domains >= 1 and --rounds >= 1")
	}
	n := domains * 3
	g := &gossipBench{doms: map[string]*gossipDomain{}}
	for i := 0; i < domains; i++ {
		d, err := newGossipDomain(fmt.Sprintf("d%02d", i))
		if err != nil {
			return err
		}
		g.doms[d.name] = d
		for j := 0; j < 3; j++ {
			g.nodeDom = append(g.nodeDom, d)
			g.names = append(g.names, fmt.Sprintf("%s/n%d", d.name, j))
		}
	}
	g.pools = make([]*cluster.Pool, n)
	g.addrs = make([]string, n)
	var extras []*cluster.Pool
	defer func() { shutdownPools(append(g.pools, extras...)) }()

	heap0, gor0 := heapInUse(), runtime.NumGoroutine()
	progress("gossip: starting %d pool members (%d domains x 3) in this process", n, domains)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		var join []string
		if i > 0 {
			join = []string{g.addrs[0]}
		}
		i := i
		p, addr, err := g.newPool(g.names[i], g.nodeDom[i], fmt.Sprintf("n%d", i%3), join, func(m cluster.Message) { g.onMessage(i, m) })
		if err != nil {
			return fmt.Errorf("gossip: start %s: %w", g.names[i], err)
		}
		g.pools[i], g.addrs[i] = p, addr
	}
	created := time.Since(t0)
	for {
		ok := true
		for _, p := range g.pools {
			if aliveCount(p) != n {
				ok = false
				break
			}
		}
		if ok {
			break
		}
		if time.Since(t0) > gossipSettleMax {
			worst := n
			for _, p := range g.pools {
				worst = min(worst, aliveCount(p))
			}
			return fmt.Errorf("gossip: membership did not settle in %s (a node sees only %d of %d alive)", gossipSettleMax, worst, n)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	settle := time.Since(t0)
	heap, gor := heapInUse()-heap0, runtime.NumGoroutine()-gor0
	progress("gossip: membership settled in %s (pools created in %s); heap +%.1f MiB, +%d goroutines", settle.Round(time.Millisecond), created.Round(time.Millisecond), float64(heap)/(1<<20), gor)

	// One message round: the sender queues msg once; wait for every other node.
	round := func(sender int, key string, msg cluster.Message) (worst time.Duration, missed int, err error) {
		r := &gossipRound{key: key, got: make([]atomic.Int64, n), done: make(chan struct{})}
		r.got[sender].Store(-1)
		r.left.Store(int64(n - 1))
		if n == 1 {
			close(r.done)
		}
		r.start = time.Now()
		g.cur.Store(r)
		if err := g.pools[sender].Broadcast(msg); err != nil {
			return 0, 0, err
		}
		select {
		case <-r.done:
		case <-time.After(gossipWait):
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
		g.cur.Store(nil)
		for i := range r.got {
			switch v := r.got[i].Load(); {
			case v == 0:
				missed++
			case v > 0:
				worst = max(worst, time.Duration(v))
			}
		}
		if missed > 0 {
			worst = gossipWait // censored: the last node never got it in time
		}
		return worst, missed, nil
	}

	// phase runs rounds of one kind; with relay each node re-broadcasts
	// (Pool.Broadcast from its OnMessage) the first copy it receives, as
	// serf does for user events. fedlic's node does not do that today.
	type phase struct {
		lat    []time.Duration
		missed int
		short  int
	}
	runPhase := func(kind string, relay bool) (ph phase, err error) {
		g.relay.Store(relay)
		defer g.relay.Store(false)
		what := kind
		if relay {
			what += " (receivers relay)"
		}
		progress("gossip: %d %s rounds", rounds, what)
		for k := 0; k < rounds; k++ {
			sender := mrand.Intn(n)
			d := g.nodeDom[sender]
			var m cluster.Message
			if kind == "anchor" {
				sa, err := d.nextAnchor()
				if err != nil {
					return ph, err
				}
				m = &cluster.AnchorMessage{Anchor: sa}
			} else {
				g.revSeq++
				rn, err := cluster.SignRevocation(cluster.RevocationNotice{Domain: d.name, LicenseID: fmt.Sprintf("lic-bench-%04d", g.revSeq),
					Reason: "bench", RevokedAt: time.Now().UnixNano(), Index: g.revSeq}, d.kid, d.sigPriv)
				if err != nil {
					return ph, err
				}
				m = rn
			}
			w, miss, err := round(sender, gossipKey(m), m)
			if err != nil {
				return ph, err
			}
			ph.lat, ph.missed = append(ph.lat, w), ph.missed+miss
			if miss > 0 {
				ph.short++
			}
			progress("gossip: %s %s from %s: last node %s, missed %d", what, gossipKey(m), g.names[sender], w.Round(time.Millisecond), miss)
		}
		sortDurations(ph.lat)
		return ph, nil
	}
	anchor, err := runPhase("anchor", false)
	if err != nil {
		return err
	}
	revoc, err := runPhase("revocation", false)
	if err != nil {
		return err
	}

	// Baseline: one extra member joins (via the first node, like the
	// others); time until every one of the n nodes lists it alive.
	progress("gossip: baseline, %d membership changes (one node joining)", rounds)
	var base []time.Duration
	baseMissed := 0
	for k := 0; k < rounds; k++ {
		name := fmt.Sprintf("extra/x%d", k)
		d := g.nodeDom[0]
		start := time.Now()
		p, _, err := g.newPool(name, d, fmt.Sprintf("x%d", k), []string{g.addrs[0]}, nil)
		if err != nil {
			return fmt.Errorf("gossip: start %s: %w", name, err)
		}
		extras = append(extras, p)
		var el time.Duration
		for {
			if seenAlive(g.pools, name) == n {
				el = time.Since(start)
				break
			}
			if time.Since(start) > gossipWait {
				baseMissed += n - seenAlive(g.pools, name)
				el = gossipWait
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			time.Sleep(2 * time.Millisecond)
		}
		base = append(base, el)
		progress("gossip: %s seen alive by all %d nodes after %s", name, n, el.Round(time.Millisecond))
		// Leave again, and let the pool see it gone before the next one.
		p.Shutdown()
		extras = extras[:len(extras)-1]
		for w := time.Now(); time.Since(w) < gossipWait && seenAlive(g.pools, name) > 0; {
			time.Sleep(10 * time.Millisecond)
		}
	}

	sortDurations(base)
	per := rounds * (n - 1)
	baseNote := fmt.Sprintf("baseline: memberlist membership change (1 node joining) seen alive by all %d nodes", n)
	censor := func(ph phase) string {
		if ph.short == 0 {
			return ""
		}
		return fmt.Sprintf("; %d of %d rounds missed a node, counted as %s", ph.short, rounds, gossipWait)
	}
	tag := fmt.Sprintf(", %d nodes", n)
	add := func(metric string, ph phase, note string) {
		rep.add(row{Bench: "gossip", Metric: metric + " p50" + tag, Unit: "ms", Ours: ms(pctOf(ph.lat, 50)), Baseline: ms(pctOf(base, 50)), Note: note + censor(ph)})
		rep.add(row{Bench: "gossip", Metric: metric + " p99" + tag, Unit: "ms", Ours: ms(pctOf(ph.lat, 99)), Baseline: ms(pctOf(base, 99)), Target: "<= 2000"})
	}
	add("anchor to all nodes", anchor, baseNote+"; one Pool.Broadcast by the sender, relayed by every receiver (cluster.Pool)")
	add("revocation to all nodes", revoc, baseNote+"; one Pool.Broadcast by the sender, relayed by every receiver (cluster.Pool)")
	rep.add(row{Bench: "gossip", Metric: "membership settle" + tag, Unit: "s", Ours: settle.Seconds(),
		Note: fmt.Sprintf("from the first NewPool (all %d created in %s) until every node lists %d alive; at %d nodes in one process: heap +%.1f MiB, +%d goroutines",
			n, created.Round(time.Millisecond), n, n, float64(heap)/(1<<20), gor)})
	missNote := fmt.Sprintf("not received within %s, of %d deliveries per kind: anchor %d, revocation %d (membership baseline %d); no anti-entropy here (fedlic pulls over gRPC every 10 s)",
		gossipWait, per, anchor.missed, revoc.missed, baseMissed)
	if b := g.badVerify.Load(); b > 0 {
		missNote += fmt.Sprintf("; %d arrivals failed verification", b)
	}
	rep.add(row{Bench: "gossip", Metric: "nodes missed" + tag, Unit: "count", Ours: float64(anchor.missed + revoc.missed), Target: "0", Note: missNote})
	return nil
}
