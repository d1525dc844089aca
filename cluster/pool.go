package cluster

import (
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// PoolConfig configures the federation's gossip pool.
type PoolConfig struct {
	NodeName  string // unique in the federation: "<domain>/<node id>"
	Bind      string // host:port for gossip (TCP and UDP)
	Advertise string // host:port others reach; default Bind
	Join      []string
	// Meta returns this node's current metadata; it is re-read when
	// UpdateMeta is called.
	Meta func() NodeMeta
	// OnMessage gets every anchor and revocation that arrives, decoded
	// but NOT verified: the receiver verifies against its trust policy.
	OnMessage func(Message)
	Logger    hclog.Logger
	// Fast uses memberlist's local-network timing (tests, one host).
	Fast bool
}

// Member is one node of the federation as gossip sees it.
type Member struct {
	Name  string
	Addr  string
	State string // alive, suspect, dead, left
	Meta  NodeMeta
	// MetaErr is set when the node's metadata did not decode: such a node
	// is listed but never trusted for anything.
	MetaErr error
}

// Pool is this node's membership in the federation's gossip pool.
type Pool struct {
	ml     *memberlist.Memberlist
	queue  *memberlist.TransmitLimitedQueue
	cfg    PoolConfig
	logger hclog.Logger

	mu       sync.Mutex
	members  map[string]Member // our own copies; memberlist's *Node values change under us
	lastMeta []byte
	seen     map[string]struct{} // message versions already relayed

	stop, done chan struct{} // background join retry
	stopOnce   sync.Once
}

// maxSeen bounds the relay dedup set; it is cleared when full (a message
// seen again after that is relayed once more, which is harmless).
const maxSeen = 100_000

// version names one version of a message: its key plus what makes it
// newer (anchor serial, revocation index) plus a signature prefix, so a
// forged copy never suppresses the genuine one.
func version(m Message) string {
	switch x := m.(type) {
	case *AnchorMessage:
		return fmt.Sprintf("%s#%d#%x", Key(m), x.Anchor.Anchor.Serial, prefix(x.Anchor.Signature))
	case *RevocationNotice:
		return fmt.Sprintf("%s#%d#%x", Key(m), x.Index, prefix(x.Signature))
	}
	return Key(m)
}

func prefix(b []byte) []byte {
	if len(b) > 8 {
		return b[:8]
	}
	return b
}

// firstSight records a message version and reports whether it is new.
func (p *Pool) firstSight(m Message) bool {
	v := version(m)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.seen[v]; ok {
		return false
	}
	if len(p.seen) >= maxSeen {
		p.seen = map[string]struct{}{}
	}
	p.seen[v] = struct{}{}
	return true
}

// events copies every membership change into the pool's own view, as
// serf does: the *Node memberlist passes is mutated later under its
// lock, so it must not be kept or read outside the callback.
type events struct{ p *Pool }

var _ memberlist.EventDelegate = (*events)(nil)

func (e *events) record(n *memberlist.Node, state string) {
	m := Member{Name: n.Name, Addr: n.Address(), State: state}
	m.Meta, m.MetaErr = DecodeMeta(n.Meta) // DecodeMeta copies what it keeps
	e.p.mu.Lock()
	e.p.members[n.Name] = m
	e.p.mu.Unlock()
}

func (e *events) NotifyJoin(n *memberlist.Node)   { e.record(n, "alive") }
func (e *events) NotifyUpdate(n *memberlist.Node) { e.record(n, "alive") }
func (e *events) NotifyLeave(n *memberlist.Node) {
	state := "dead"
	if n.State == memberlist.StateLeft {
		state = "left"
	}
	e.record(n, state)
}

var _ memberlist.Delegate = (*delegate)(nil)

// delegate is deliberately thin: encode metadata, hand messages up,
// hand queued broadcasts down.
type delegate struct{ p *Pool }

func (d *delegate) NodeMeta(limit int) []byte {
	b, err := EncodeMeta(d.p.cfg.Meta())
	if err != nil || len(b) > limit {
		d.p.logger.Error("node metadata does not fit", "error", err, "limit", limit)
		return nil
	}
	return b
}

func (d *delegate) NotifyMsg(b []byte) {
	m, err := Decode(b) // Decode copies what it keeps
	if err != nil {
		d.p.logger.Debug("dropping undecodable gossip message", "error", err, "bytes", len(b))
		return
	}
	if !d.p.firstSight(m) {
		return
	}
	// Relay the first copy, as serf does with user events: memberlist
	// only transmits from the queue of the node that queued a message,
	// so without relaying one broadcast reaches only a few nodes.
	// Relayed copies are unique (they never displace a queued message),
	// so a forged copy cannot suppress the genuine one; every receiver
	// verifies what it uses against its own pinned roots.
	d.p.queue.QueueBroadcast(&broadcast{msg: append([]byte(nil), b...)})
	if d.p.cfg.OnMessage != nil {
		d.p.cfg.OnMessage(m)
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.p.queue.GetBroadcasts(overhead, limit)
}

// LocalState and MergeRemoteState are empty: anti-entropy runs over gRPC
// (a peer's anchor and revocations are fetched from a live member).
func (d *delegate) LocalState(bool) []byte              { return nil }
func (d *delegate) MergeRemoteState(buf []byte, _ bool) {}

// broadcast is a queued message; a newer one with the same key (same
// anchor domain, same revoked license) replaces it.
type broadcast struct {
	key string
	msg []byte
}

func (b *broadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(*broadcast)
	return ok && b.key != "" && ob.key == b.key // relayed copies (no key) never invalidate
}
func (b *broadcast) Message() []byte { return b.msg }
func (b *broadcast) Finished()       {}

// NewPool starts gossip and joins the given members (if any can be
// reached; a lonely first node is fine).
func NewPool(cfg PoolConfig) (*Pool, error) {
	if cfg.Meta == nil || cfg.NodeName == "" {
		return nil, fmt.Errorf("gossip pool needs a node name and metadata")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	p := &Pool{cfg: cfg, logger: logger.Named("gossip"), members: map[string]Member{}, seen: map[string]struct{}{}}
	mc := memberlist.DefaultWANConfig()
	if cfg.Fast {
		mc = memberlist.DefaultLocalConfig()
	}
	mc.Name = cfg.NodeName
	host, port, err := splitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("--gossip-addr %q: %w", cfg.Bind, err)
	}
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = host, port
	if cfg.Advertise != "" {
		if mc.AdvertiseAddr, mc.AdvertisePort, err = splitHostPort(cfg.Advertise); err != nil {
			return nil, fmt.Errorf("gossip advertise %q: %w", cfg.Advertise, err)
		}
	}
	mc.Delegate = &delegate{p: p}
	mc.Events = &events{p: p}
	mc.LogOutput = io.Discard
	mc.Logger = nil
	mc.RetransmitMult = 4 // never rely on one broadcast; anti-entropy covers the rest
	p.queue = &memberlist.TransmitLimitedQueue{NumNodes: func() int { return p.ml.NumMembers() }, RetransmitMult: mc.RetransmitMult}
	if p.ml, err = memberlist.Create(mc); err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.Bind, err)
	}
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
	if len(cfg.Join) == 0 {
		close(p.done)
		return p, nil
	}
	if _, err := p.ml.Join(cfg.Join); err != nil {
		// Nobody knows our address yet, so nobody will find us: keep
		// trying until a member answers or the pool stops.
		p.logger.Warn("could not reach any gossip member yet; retrying in the background", "join", cfg.Join, "error", err)
		go p.retryJoin(cfg.Join)
	} else {
		close(p.done)
	}
	return p, nil
}

func splitHostPort(hp string) (string, int, error) {
	h, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	return h, port, err
}

func (p *Pool) retryJoin(addrs []string) {
	defer close(p.done)
	backoff := 200 * time.Millisecond
	for {
		select {
		case <-p.stop:
			return
		case <-time.After(backoff):
		}
		if _, err := p.ml.Join(addrs); err == nil {
			p.logger.Info("joined the gossip pool", "via", addrs)
			return
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

// Broadcast queues a message for gossip.
func (p *Pool) Broadcast(m Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	p.firstSight(m) // our own message: do not relay it back
	p.queue.QueueBroadcast(&broadcast{key: Key(m), msg: b})
	return nil
}

// UpdateMeta re-reads the metadata and gossips it when it changed.
func (p *Pool) UpdateMeta() error {
	b, err := EncodeMeta(p.cfg.Meta())
	if err != nil {
		return err
	}
	p.mu.Lock()
	same := string(b) == string(p.lastMeta)
	p.lastMeta = b
	p.mu.Unlock()
	if same {
		return nil
	}
	return p.ml.UpdateNode(time.Second)
}

// Join adds members later (e.g. from config reload).
func (p *Pool) Join(addrs []string) (int, error) { return p.ml.Join(addrs) }

// Members lists every node gossip has seen (dead and left ones too),
// sorted by name, from the pool's own copies.
func (p *Pool) Members() []Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Member, 0, len(p.members))
	for _, m := range p.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Shutdown leaves the pool and stops gossip.
func (p *Pool) Shutdown() error {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
	p.ml.Leave(500 * time.Millisecond)
	return p.ml.Shutdown()
}
