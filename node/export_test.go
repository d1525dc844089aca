package node

import "context"

// PullPeer runs one anti-entropy pull from a peer domain's node (tests).
func (n *Node) PullPeer(ctx context.Context, domain, addr string) error {
	return n.pullPeer(ctx, domain, addr)
}

// HoldProposals takes every in-flight slot of the write batcher, so
// license writes queue until release is called (tests).
func (n *Node) HoldProposals() (release func()) {
	for i := 0; i < cap(n.props.slots); i++ {
		n.props.slots <- struct{}{}
	}
	return func() {
		for i := 0; i < cap(n.props.slots); i++ {
			<-n.props.slots
		}
	}
}
