package node

import (
	"context"
	"sync"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/client"
	"github.com/fedlic/fedlic/cluster"
	"github.com/fedlic/fedlic/license"
)

// Gossip timing. Broadcasts are fast but lossy; anti-entropy over gRPC
// bounds how long a dropped anchor or revocation can stay missing.
const (
	broadcastEvery    = time.Second
	antiEntropyEvery  = 10 * time.Second
	anchorRebroadcast = 30 * time.Second
)

func (n *Node) startGossip() error {
	if n.cfg.GossipAddr == "" {
		return nil
	}
	p, err := cluster.NewPool(cluster.PoolConfig{
		NodeName: n.cfg.Domain + "/" + n.cfg.NodeID, Bind: n.cfg.GossipAddr, Join: n.cfg.GossipJoin,
		Meta: n.gossipMeta, OnMessage: n.onGossip, Logger: n.logger, Fast: n.cfg.GossipFast,
	})
	if err != nil {
		return err
	}
	n.pool.Store(p)
	return nil
}

func (n *Node) gossipMeta() cluster.NodeMeta {
	role := cluster.RoleVoter
	if !n.cfg.IsVoter() {
		role = cluster.RoleNonvoter
	}
	domain := n.fsm.Domain()
	if domain == "" {
		domain = n.cfg.Domain
	}
	return cluster.NodeMeta{Domain: domain, NodeID: n.cfg.NodeID, GRPCAddr: n.cfg.GRPCAddr, Role: role,
		AnchorSerial: n.fsm.Keys().GetAnchorSerial(), RevocationWatermark: n.fsm.RevocationWatermark()}
}

// onGossip: only the leader writes what peers publish into raft; other
// nodes drop it (the leader got the same broadcast, and anti-entropy
// covers a miss). Everything is verified by PushAnchor/PushRevocation.
func (n *Node) onGossip(m cluster.Message) {
	if !n.IsLeader() {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		defer cancel()
		var err error
		switch msg := m.(type) {
		case *cluster.AnchorMessage:
			if msg.Anchor.Anchor.Domain == n.fsm.Domain() {
				return
			}
			if _, trusted := n.fsm.TrustFor(msg.Anchor.Anchor.Domain); !trusted {
				return
			}
			var raw []byte
			if raw, err = license.EncodeAnchor(msg.Anchor); err == nil {
				_, err = n.PushAnchor(ctx, &pb.PushAnchorRequest{Anchor: raw})
			}
		case *cluster.RevocationNotice:
			if _, trusted := n.fsm.TrustFor(msg.Domain); !trusted || msg.Domain == n.fsm.Domain() {
				return
			}
			var raw []byte
			if raw, err = cluster.Encode(msg); err == nil {
				_, err = n.PushRevocation(ctx, &pb.PushRevocationRequest{Notice: raw})
			}
		}
		if err != nil {
			n.logger.Debug("gossiped message refused", "error", err)
		}
	}()
}

// gossipLoop runs on the leader: broadcast our anchor and new
// revocations, and pull from peers (anti-entropy). It runs every
// broadcastEvery, and at once when a write here revoked a license.
func (n *Node) gossipLoop(ctx context.Context) {
	if n.cfg.GossipAddr == "" {
		return
	}
	var sentSerial uint64
	var sentAt time.Time
	var revMark uint64
	tick := time.NewTicker(broadcastEvery)
	defer tick.Stop()
	lastPull := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-n.revokeWake:
		}
		pool := n.pool.Load()
		if pool == nil {
			continue // gossip starts once the node has joined
		}
		pool.UpdateMeta()
		if sa, err := n.SignedAnchor(); err == nil && (sa.Anchor.Serial != sentSerial || time.Since(sentAt) > anchorRebroadcast) {
			if pool.Broadcast(&cluster.AnchorMessage{Anchor: sa}) == nil {
				sentSerial, sentAt = sa.Anchor.Serial, time.Now()
			}
		}
		if r, err := n.Revocations(&pb.RevocationsRequest{AfterIndex: revMark}); err == nil {
			for _, raw := range r.GetNotices() {
				if m, err := cluster.Decode(raw); err == nil {
					pool.Broadcast(m)
				}
			}
			revMark = r.GetWatermark()
		}
		if time.Since(lastPull) >= antiEntropyEvery {
			n.antiEntropy(ctx, pool)
			lastPull = time.Now()
		}
	}
}

// antiEntropy fetches each trusted peer's anchor and the revocations we
// have not recorded from one live member of that peer.
func (n *Node) antiEntropy(ctx context.Context, pool *cluster.Pool) {
	byDomain := map[string][]string{}
	for _, m := range pool.Members() {
		if m.State == "alive" && m.MetaErr == nil && m.Meta.GRPCAddr != "" {
			byDomain[m.Meta.Domain] = append(byDomain[m.Meta.Domain], m.Meta.GRPCAddr)
		}
	}
	for _, t := range n.fsm.Trust() {
		for _, addr := range byDomain[t.GetDomain()] {
			if n.pullPeer(ctx, t.GetDomain(), addr) == nil {
				break
			}
		}
	}
}

// pullPeer refreshes domain's anchor and records every revocation the
// peer committed after what this node has pulled from it before. The
// mark is not PeerWatermark, the newest revocation recorded from the
// peer: gossip delivers out of order, so revocations it lost can sit
// below that (found by fedlic-chaos --federation). The mark advances
// only over notices that are recorded here, page by page, and lives in
// memory: a node that starts pulls the peer's whole list once, and
// skips, without a raft write, what it already holds.
func (n *Node) pullPeer(ctx context.Context, domain, addr string) error {
	cl, err := client.Dial(addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	an, err := cl.Domain.Anchor(cctx, &pb.AnchorRequest{})
	if err != nil {
		return err
	}
	if _, err := n.PushAnchor(cctx, &pb.PushAnchorRequest{AnchorJson: an.GetAnchorJson()}); err != nil {
		n.logger.Warn("peer anchor refused", "peer", domain, "via", addr, "error", err)
		return err
	}
	for {
		after := n.pulled.get(domain)
		revs, err := cl.Federation.Revocations(cctx, &pb.RevocationsRequest{AfterIndex: after})
		if err != nil {
			return err
		}
		for _, raw := range revs.GetNotices() {
			if _, err := n.PushRevocation(cctx, &pb.PushRevocationRequest{Notice: raw}); err != nil {
				n.logger.Warn("peer revocation refused", "peer", domain, "error", err)
				return err // the mark stays below it: retried at the next pull
			}
		}
		if len(revs.GetNotices()) == 0 || revs.GetWatermark() <= after {
			return nil
		}
		n.pulled.advance(domain, revs.GetWatermark())
	}
}

// peerMarks is a map of per-domain indexes that only grow.
type peerMarks struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (p *peerMarks) get(domain string) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[domain]
}

func (p *peerMarks) advance(domain string, to uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]uint64{}
	}
	if to > p.m[domain] {
		p.m[domain] = to
	}
}
