package node

import (
	"context"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/fsm"
)

// watchLeadership runs the leader duties while this node leads.
func (n *Node) watchLeadership() {
	defer n.wg.Done()
	var stop context.CancelFunc
	var done chan struct{}
	end := func() {
		if stop != nil {
			stop()
			<-done
			stop = nil
		}
		n.readyRead.Store(false)
	}
	defer end()
	for {
		select {
		case <-n.ctx.Done():
			return
		case leader := <-n.notifyCh:
			end()
			if leader {
				stop, done = n.startLeaderLoop()
			}
		}
	}
}

func (n *Node) startLeaderLoop() (context.CancelFunc, chan struct{}) {
	ctx, cancel := context.WithCancel(n.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.leaderLoop(ctx)
	}()
	return cancel, done
}

// leaderLoop establishes leadership, then sweeps expired licenses.
func (n *Node) leaderLoop(ctx context.Context) {
	log := n.logger.Named("leader")
	log.Info("became leader", "term", n.raft.CurrentTerm())
	for ctx.Err() == nil {
		if err := n.establish(ctx); err != nil {
			log.Warn("establishing leadership failed; retrying", "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		break
	}
	go n.gossipLoop(ctx)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("leadership lost")
			return
		case <-tick.C:
			n.sweepExpired(ctx)
			if err := n.ensureKeys(ctx); err != nil {
				log.Warn("anchor refresh failed", "error", err)
			}
		}
	}
}

// establish runs once per term: a barrier so everything from earlier
// terms is applied (then linearizable reads are safe), the domain is
// recorded, and this node's member record is made current.
func (n *Node) establish(ctx context.Context) error {
	if err := n.raft.Barrier(defaultApplyTimeout).Error(); err != nil {
		return err
	}
	n.readyRead.Store(true)
	if d := n.fsm.Domain(); d == "" {
		if _, err := n.apply(ctx, fsm.InitDomainType, &pb.InitDomainCommand{Domain: n.cfg.Domain, TimeUnixNano: n.stamp()}); err != nil {
			return err
		}
	} else if d != n.cfg.Domain {
		n.logger.Error("this node's --domain differs from the domain in its data; serving the stored domain", "flag", n.cfg.Domain, "stored", d)
	}
	if err := n.ensureKeys(ctx); err != nil {
		return err
	}
	want := &fsm.Member{ID: n.cfg.NodeID, RaftAddress: string(n.trans.LocalAddr()), GRPCAddress: n.cfg.GRPCAddr, Voter: true}
	if m, ok := n.fsm.Member(want.ID); !ok || *m != *want {
		if _, err := n.apply(ctx, fsm.SetMemberType, &pb.SetMemberCommand{Member: want.ToProto(), TimeUnixNano: n.stamp()}); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) sweepExpired(ctx context.Context) {
	next := n.fsm.NextExpiry()
	if next == 0 || next > n.Now().UnixNano() {
		return
	}
	r, err := n.apply(ctx, fsm.ExpireType, &pb.ExpireCommand{TimeUnixNano: n.stamp()})
	if err != nil {
		n.logger.Warn("expiry sweep failed", "error", err)
		return
	}
	n.logger.Debug("expired licenses", "count", r.Expired, "index", r.Index)
}
