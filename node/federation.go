package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/cluster"
	"github.com/fedlic/fedlic/fsm"
	"github.com/fedlic/fedlic/license"
	"google.golang.org/grpc"
)

// PushAnchor takes in a peer domain's anchor: checked against the trust
// policy (pinned root, no rollback, not expired) and, when new, committed
// so every replica — and this domain after the peer is gone — has it.
// Only the leader writes what peers publish into raft.
func (n *Node) PushAnchor(ctx context.Context, req *pb.PushAnchorRequest) (*pb.PushAnchorResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.PushAnchorRequest) (*pb.PushAnchorResponse, error) {
		return pb.NewFederationClient(c).PushAnchor(ctx, r)
	}); ok {
		return resp, err
	}
	raw := req.GetAnchor()
	if len(raw) == 0 && req.GetAnchorJson() != "" {
		sa, err := license.ParseAnchorJSON([]byte(req.GetAnchorJson()))
		if err != nil {
			return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "anchor JSON: " + err.Error()}
		}
		if raw, err = license.EncodeAnchor(sa); err != nil {
			return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "anchor: " + err.Error()}
		}
	}
	now := n.stamp()
	sa, unchanged, err := n.fsm.CheckPeerAnchor(raw, now)
	if err != nil {
		return nil, err
	}
	resp := &pb.PushAnchorResponse{Domain: sa.Anchor.Domain, Serial: sa.Anchor.Serial, Unchanged: unchanged}
	r, err := n.apply(ctx, fsm.PeerAnchorType, &pb.PeerAnchorCommand{Anchor: raw, TimeUnixNano: now})
	if err != nil {
		return nil, err
	}
	resp.Index = r.Index
	if !unchanged {
		n.logger.Info("accepted peer anchor", "peer", sa.Anchor.Domain, "serial", sa.Anchor.Serial)
	}
	return resp, nil
}

// Peers lists trusted domains and the anchors stored for them.
func (n *Node) Peers() *pb.PeersResponse {
	resp := &pb.PeersResponse{}
	stored := map[string]*pb.PeerAnchorRecord{}
	for _, p := range n.fsm.Peers() {
		stored[p.GetDomain()] = p
	}
	infos := map[string]*pb.PeerInfo{}
	get := func(d string) *pb.PeerInfo {
		if infos[d] == nil {
			infos[d] = &pb.PeerInfo{Domain: d}
			resp.Peers = append(resp.Peers, infos[d])
		}
		return infos[d]
	}
	for _, t := range n.fsm.Trust() {
		pi := get(t.GetDomain())
		pi.Trusted, pi.RootFingerprint = true, t.GetRootFingerprint()
		pi.RevocationWatermark = n.fsm.PeerWatermark(t.GetDomain())
		if p, ok := stored[t.GetDomain()]; ok {
			pi.AnchorSerial, pi.ReceivedUnixNano = p.GetSerial(), p.GetReceivedUnixNano()
		}
	}
	if pool := n.pool.Load(); pool != nil {
		for _, m := range pool.Members() {
			if m.MetaErr != nil || m.Meta.Domain == n.fsm.Domain() {
				continue
			}
			pi := get(m.Meta.Domain)
			switch m.State {
			case "alive":
				pi.LiveMembers = append(pi.LiveMembers, m.Meta.NodeID)
			default:
				pi.DeadMembers = append(pi.DeadMembers, m.Meta.NodeID)
			}
		}
	}
	return resp
}

// verifyPeer verifies a token issued by a peer domain with the stored
// peer anchor under this domain's trust policy. The reasons are
// distinct: untrusted domain, out of scope, peer state stale, and the
// license package's codes (bad signature, expired, ...).
func (n *Node) verifyPeer(token string, claims *license.Claims, resp *pb.VerifyResponse) {
	t, trusted := n.fsm.TrustFor(claims.Domain)
	if !trusted {
		resp.Reason, resp.Detail = "untrusted domain", fmt.Sprintf("domain %q is not in this domain's trust policy", claims.Domain)
		return
	}
	sa, rec, ok := n.fsm.PeerAnchor(claims.Domain)
	if !ok {
		resp.Reason, resp.Detail = "peer state stale", fmt.Sprintf("no anchor of domain %q has been received yet", claims.Domain)
		return
	}
	now := time.Unix(0, n.CheckTime())
	if _, err := license.Verify(token, sa, t.GetRootFingerprint(), now); err != nil {
		resp.Reason, resp.Detail = license.Reason(err), err.Error()
		return
	}
	if !license.ScopeAllows(t.GetScope(), claims.Product) || !license.ScopeAllows(sa.Anchor.Scope, claims.Product) {
		resp.Reason = "out of scope"
		resp.Detail = fmt.Sprintf("product %q is outside the scope %v this domain grants %q", claims.Product, t.GetScope(), claims.Domain)
		return
	}
	if rev, revoked := n.fsm.PeerRevoked(claims.Domain, claims.LicenseID); revoked {
		resp.Revoked = true
		resp.Reason, resp.Detail = "revoked", fmt.Sprintf("revoked by domain %q: %s", claims.Domain, rev.GetReason())
		return
	}
	if max := t.GetMaxStalenessNano(); max > 0 && now.UnixNano()-rec.GetReceivedUnixNano() > max {
		age := time.Duration(now.UnixNano() - rec.GetReceivedUnixNano()).Round(time.Second)
		if !t.GetAllowOnStale() {
			resp.Reason, resp.Detail = "peer state stale", fmt.Sprintf("anchor of %q is %s old, over the %s allowed; policy: deny", claims.Domain, age, time.Duration(max))
			return
		}
		resp.Detail = fmt.Sprintf("anchor of %q is %s old; policy allows stale peers", claims.Domain, age)
	}
	resp.Valid, resp.Reason = true, "ok"
}

// maxNoticesPerCall bounds one Revocations answer.
const maxNoticesPerCall = 1000

// Revocations returns signed notices for this domain's revocations
// committed after req.after_index, so peers can record them. The notices
// are signed with the active signing key; peers verify them against this
// domain's anchor and cannot forge them.
func (n *Node) Revocations(req *pb.RevocationsRequest) (*pb.RevocationsResponse, error) {
	k := n.fsm.Keys()
	sk := activeKey(k)
	if sk == nil {
		return nil, &fsm.Error{Code: fsm.CodePrecondition, Msg: "domain keys are not initialised yet"}
	}
	resp := &pb.RevocationsResponse{Watermark: req.GetAfterIndex()}
	for _, l := range n.fsm.Revocations(req.GetAfterIndex(), maxNoticesPerCall) {
		notice, err := cluster.SignRevocation(cluster.RevocationNotice{Domain: l.Domain, LicenseID: l.ID, Reason: l.Revocation.Reason,
			RevokedAt: l.Revocation.Time, Index: l.Revocation.Index}, sk.GetId(), ed25519.PrivateKey(sk.GetPrivateKey()))
		if err != nil {
			return nil, fmt.Errorf("sign revocation notice for %s: %w", l.ID, err)
		}
		b, err := cluster.Encode(notice)
		if err != nil {
			return nil, err
		}
		resp.Notices = append(resp.Notices, b)
		resp.Watermark = l.Revocation.Index
	}
	return resp, nil
}

// PushRevocation takes in a peer's signed revocation notice. The leader
// verifies it against the peer's stored anchor (its domain must be
// trusted) before committing it; a node can forward a notice but never
// forge one.
func (n *Node) PushRevocation(ctx context.Context, req *pb.PushRevocationRequest) (*pb.PushRevocationResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.PushRevocationRequest) (*pb.PushRevocationResponse, error) {
		return pb.NewFederationClient(c).PushRevocation(ctx, r)
	}); ok {
		return resp, err
	}
	m, err := cluster.Decode(req.GetNotice())
	if err != nil {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "revocation notice: " + err.Error()}
	}
	notice, ok := m.(*cluster.RevocationNotice)
	if !ok {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "not a revocation notice"}
	}
	if _, trusted := n.fsm.TrustFor(notice.Domain); !trusted {
		return nil, &fsm.Error{Code: fsm.CodePrecondition, Msg: fmt.Sprintf("untrusted domain %q: its revocations are not recorded", notice.Domain)}
	}
	sa, _, ok := n.fsm.PeerAnchor(notice.Domain)
	if !ok {
		return nil, &fsm.Error{Code: fsm.CodePrecondition, Msg: fmt.Sprintf("no anchor of %q yet: push its anchor first", notice.Domain)}
	}
	if err := notice.Verify(sa); err != nil {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "revocation notice: " + err.Error()}
	}
	if _, done := n.fsm.PeerRevoked(notice.Domain, notice.LicenseID); done {
		return &pb.PushRevocationResponse{Unchanged: true}, nil
	}
	r, err := n.apply(ctx, fsm.PeerRevocationType, &pb.PeerRevocationCommand{Revocation: &pb.PeerRevocationRecord{
		Domain: notice.Domain, LicenseId: notice.LicenseID, Reason: notice.Reason, RevokedUnixNano: notice.RevokedAt,
		Index: notice.Index, ReceivedUnixNano: n.stamp()}})
	if err != nil {
		return nil, err
	}
	return &pb.PushRevocationResponse{Index: r.Index, Unchanged: r.Unchanged}, nil
}
