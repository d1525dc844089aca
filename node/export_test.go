package node

import "context"

// PullPeer runs one anti-entropy pull from a peer domain's node (tests).
func (n *Node) PullPeer(ctx context.Context, domain, addr string) error {
	return n.pullPeer(ctx, domain, addr)
}
