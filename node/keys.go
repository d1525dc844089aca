package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/fsm"
	"github.com/fedlic/fedlic/license"
	"google.golang.org/grpc"
)

// AnchorTTL is how long a signed trust anchor is valid. The leader
// re-issues it (a new serial) when half of that has passed.
const AnchorTTL = 30 * 24 * time.Hour

// anchorCache keeps the signed anchor for the current serial: signing is
// deterministic (Ed25519), so every node derives the same document.
type anchorCache struct {
	mu     sync.Mutex
	serial uint64
	sa     *license.SignedAnchor
}

func newSigningKey(now int64) (*pb.SigningKeyRecord, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &pb.SigningKeyRecord{Id: license.KeyIDFor(pub), PrivateKey: priv, NotBeforeUnixNano: now}, nil
}

// ensureKeys runs on a new leader: the first leader of a domain creates
// its root key and first signing key and commits them, so every later
// leader can sign. It also re-issues an anchor past half its life.
func (n *Node) ensureKeys(ctx context.Context) error {
	k := n.fsm.Keys()
	now := n.stamp()
	if k == nil {
		_, root, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		sk, err := newSigningKey(now)
		if err != nil {
			return err
		}
		scope := n.cfg.Scope
		if len(scope) == 0 {
			scope = []string{"*"}
		}
		_, err = n.apply(ctx, fsm.InitKeysType, &pb.InitKeysCommand{RootPrivateKey: root, SigningKey: sk, Scope: scope,
			TimeUnixNano: now, AnchorTtlNano: int64(AnchorTTL)})
		if err == nil {
			n.logger.Info("created domain keys", "key_id", sk.GetId(), "scope", scope)
		}
		return err
	}
	if now-k.GetAnchorIssuedUnixNano() > k.GetAnchorTtlNano()/2 {
		_, err := n.apply(ctx, fsm.RefreshAnchorType, &pb.RefreshAnchorCommand{TimeUnixNano: now})
		return err
	}
	return nil
}

// SignedAnchor returns the domain's current trust anchor, signed by its
// root key. It holds public keys only.
func (n *Node) SignedAnchor() (*license.SignedAnchor, error) {
	k := n.fsm.Keys()
	if k == nil {
		return nil, errors.New("domain keys are not initialised yet: the leader creates them on its first term")
	}
	n.anchors.mu.Lock()
	defer n.anchors.mu.Unlock()
	if n.anchors.sa != nil && n.anchors.serial == k.GetAnchorSerial() {
		return n.anchors.sa, nil
	}
	a := license.Anchor{
		Version: 1, Domain: n.fsm.Domain(), RootKey: ed25519.PrivateKey(k.GetRootPrivateKey()).Public().(ed25519.PublicKey),
		Scope: k.GetScope(), Serial: k.GetAnchorSerial(), IssuedAt: k.GetAnchorIssuedUnixNano(),
		ExpiresAt: k.GetAnchorIssuedUnixNano() + k.GetAnchorTtlNano(),
	}
	for _, sk := range k.GetKeys() {
		a.SigningKeys = append(a.SigningKeys, license.SigningKey{
			ID: sk.GetId(), PublicKey: ed25519.PrivateKey(sk.GetPrivateKey()).Public().(ed25519.PublicKey),
			NotBefore: sk.GetNotBeforeUnixNano(), NotAfter: sk.GetRetiredUnixNano(), Active: sk.GetActive(),
		})
	}
	sa, err := license.SignAnchor(a, ed25519.PrivateKey(k.GetRootPrivateKey()))
	if err != nil {
		return nil, fmt.Errorf("sign anchor: %w", err)
	}
	n.anchors.serial, n.anchors.sa = k.GetAnchorSerial(), sa
	return sa, nil
}

func activeKey(k *pb.KeysRecord) *pb.SigningKeyRecord {
	for _, sk := range k.GetKeys() {
		if sk.GetActive() {
			return sk
		}
	}
	return nil
}

// ClaimsOf builds the token claims for a stored license.
func ClaimsOf(l *fsm.License, keyID string) license.Claims {
	c := license.Claims{Domain: l.Domain, KeyID: keyID, LicenseID: l.ID, Version: l.Version, Licensee: l.Licensee,
		Product: l.Product, NotBefore: l.NotBefore, NotAfter: l.NotAfter, IssuedAt: l.Updated,
		Entitlements: make(map[string]license.Limit, len(l.Entitlements))}
	for _, e := range l.Entitlements {
		c.Entitlements[e.Feature] = license.Limit{IsBool: e.Limit.IsBool, Enabled: e.Limit.Enabled, Count: e.Limit.Count}
	}
	return c
}

// Token signs a license with the domain's active signing key.
func (n *Node) Token(l *fsm.License) (string, error) {
	k := n.fsm.Keys()
	sk := activeKey(k)
	if sk == nil {
		return "", errors.New("no active signing key yet")
	}
	return license.SignToken(ClaimsOf(l, sk.GetId()), ed25519.PrivateKey(sk.GetPrivateKey()))
}

// RotateKey adds a new signing key and makes it the one that signs.
func (n *Node) RotateKey(ctx context.Context, req *pb.RotateKeyRequest) (*pb.KeyChangeResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.RotateKeyRequest) (*pb.KeyChangeResponse, error) {
		return pb.NewDomainClient(c).RotateKey(ctx, r)
	}); ok {
		return resp, err
	}
	now := n.stamp()
	sk, err := newSigningKey(now)
	if err != nil {
		return nil, err
	}
	r, err := n.apply(ctx, fsm.RotateKeyType, &pb.RotateKeyCommand{SigningKey: sk, TimeUnixNano: now})
	if err != nil {
		return nil, err
	}
	n.logger.Info("rotated signing key", "key_id", sk.GetId())
	return &pb.KeyChangeResponse{ActiveKeyId: sk.GetId(), AnchorSerial: n.fsm.Keys().GetAnchorSerial(), Index: r.Index}, nil
}

// RetireKey retires a signing key: tokens it signed stop verifying.
func (n *Node) RetireKey(ctx context.Context, req *pb.RetireKeyRequest) (*pb.KeyChangeResponse, error) {
	if resp, ok, err := forward(n, ctx, req, func(c *grpc.ClientConn, ctx context.Context, r *pb.RetireKeyRequest) (*pb.KeyChangeResponse, error) {
		return pb.NewDomainClient(c).RetireKey(ctx, r)
	}); ok {
		return resp, err
	}
	if req.GetKeyId() == "" {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Msg: "give the key id to retire (see 'fedlic domain status')"}
	}
	r, err := n.apply(ctx, fsm.RetireKeyType, &pb.RetireKeyCommand{KeyId: req.GetKeyId(), TimeUnixNano: n.stamp()})
	if err != nil {
		return nil, err
	}
	k := n.fsm.Keys()
	return &pb.KeyChangeResponse{ActiveKeyId: activeKey(k).GetId(), AnchorSerial: k.GetAnchorSerial(), Index: r.Index}, nil
}

// DomainStatus describes the domain's keys and scope (public parts only).
func (n *Node) DomainStatus() (*pb.DomainStatusResponse, error) {
	sa, err := n.SignedAnchor()
	if err != nil {
		return nil, &fsm.Error{Code: fsm.CodePrecondition, Msg: err.Error()}
	}
	k := n.fsm.Keys()
	resp := &pb.DomainStatusResponse{Domain: sa.Anchor.Domain, RootFingerprint: sa.Fingerprint(), AnchorSerial: sa.Anchor.Serial,
		ActiveKeyId: activeKey(k).GetId(), Scope: k.GetScope()}
	for _, sk := range k.GetKeys() {
		resp.Keys = append(resp.Keys, &pb.KeyInfo{Id: sk.GetId(), Active: sk.GetActive(), NotBeforeUnixNano: sk.GetNotBeforeUnixNano(), RetiredUnixNano: sk.GetRetiredUnixNano()})
	}
	return resp, nil
}

// AnchorJSON returns the signed anchor as JSON.
func (n *Node) AnchorJSON() (*pb.AnchorResponse, error) {
	sa, err := n.SignedAnchor()
	if err != nil {
		return nil, &fsm.Error{Code: fsm.CodePrecondition, Msg: err.Error()}
	}
	b, err := json.Marshal(sa)
	if err != nil {
		return nil, err
	}
	return &pb.AnchorResponse{AnchorJson: string(b), Serial: sa.Anchor.Serial}, nil
}

// Verify checks a token against this domain's anchor and reports whether
// the license is revoked on this replica.
func (n *Node) Verify(ctx context.Context, req *pb.VerifyRequest) (*pb.VerifyResponse, error) {
	resp := &pb.VerifyResponse{Meta: n.ReadMeta()}
	if t, perr := license.ParseToken(req.GetToken()); perr == nil && t.Claims.Domain != n.fsm.Domain() {
		b, _ := json.Marshal(t.Claims)
		resp.ClaimsJson = string(b)
		n.verifyPeer(req.GetToken(), &t.Claims, resp)
		return resp, nil
	}
	sa, err := n.SignedAnchor()
	if err != nil {
		return nil, &fsm.Error{Code: fsm.CodePrecondition, Msg: err.Error()}
	}
	claims, err := license.Verify(req.GetToken(), sa, sa.Fingerprint(), time.Unix(0, n.CheckTime()))
	if claims == nil {
		if t, perr := license.ParseToken(req.GetToken()); perr == nil {
			claims = &t.Claims
		}
	}
	if claims != nil {
		b, _ := json.Marshal(claims)
		resp.ClaimsJson = string(b)
		l, ok, index := n.fsm.GetAt(claims.LicenseID)
		resp.Meta.Index = index // the revocation answer is from this read
		if ok && l.Status == fsm.StatusRevoked && l.Domain == claims.Domain {
			resp.Revoked = true
		}
	}
	switch {
	case err != nil:
		resp.Reason, resp.Detail = license.Reason(err), err.Error()
	case !license.ScopeAllows(sa.Anchor.Scope, claims.Product):
		resp.Reason = "out of scope"
		resp.Detail = fmt.Sprintf("product %q is outside the scope %v of domain %q", claims.Product, sa.Anchor.Scope, sa.Anchor.Domain)
	case resp.Revoked:
		resp.Reason, resp.Detail = "revoked", "the license was revoked on this domain"
	default:
		resp.Valid, resp.Reason = true, "ok"
	}
	return resp, nil
}
