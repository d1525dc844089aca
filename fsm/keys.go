package fsm

import (
	"crypto/ed25519"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"github.com/fedlic/fedlic/license"
	"google.golang.org/protobuf/proto"
)

// Domain keys live in the state as one immutable *pb.KeysRecord that is
// replaced on every change. Every change raises the anchor serial.

func init() {
	register(InitKeysType, "init-keys", func() proto.Message { return &pb.InitKeysCommand{} }, applyInitKeys)
	register(RotateKeyType, "rotate-key", func() proto.Message { return &pb.RotateKeyCommand{} }, applyRotateKey)
	register(RetireKeyType, "retire-key", func() proto.Message { return &pb.RetireKeyCommand{} }, applyRetireKey)
	register(RefreshAnchorType, "refresh-anchor", func() proto.Message { return &pb.RefreshAnchorCommand{} }, applyRefreshAnchor)
}

func checkSigningKey(k *pb.SigningKeyRecord) error {
	if k.GetId() == "" || len(k.GetPrivateKey()) != ed25519.PrivateKeySize {
		return errorf(CodeInvalid, "signing key needs an id and a %d-byte Ed25519 private key", ed25519.PrivateKeySize)
	}
	return nil
}

func applyInitKeys(s *state, _ uint64, msg proto.Message) *Result {
	c := msg.(*pb.InitKeysCommand)
	if s.keys != nil {
		return fail(errorf(CodePrecondition, "domain keys are already initialised: rotate them with 'fedlic keys rotate'"))
	}
	if len(c.GetRootPrivateKey()) != ed25519.PrivateKeySize {
		return fail(errorf(CodeInvalid, "root key must be a %d-byte Ed25519 private key", ed25519.PrivateKeySize))
	}
	if err := checkSigningKey(c.GetSigningKey()); err != nil {
		return fail(err)
	}
	if err := license.ValidateScope(c.GetScope()); err != nil {
		return fail(errorf(CodeInvalid, "scope: %v", err))
	}
	if c.GetAnchorTtlNano() <= 0 {
		return fail(errorf(CodeInvalid, "anchor ttl must be positive"))
	}
	k := proto.Clone(c.GetSigningKey()).(*pb.SigningKeyRecord)
	k.Active, k.RetiredUnixNano, k.NotBeforeUnixNano = true, 0, c.GetTimeUnixNano()
	s.keys = &pb.KeysRecord{
		RootPrivateKey: c.GetRootPrivateKey(), Keys: []*pb.SigningKeyRecord{k}, Scope: c.GetScope(),
		AnchorSerial: 1, AnchorIssuedUnixNano: c.GetTimeUnixNano(), AnchorTtlNano: c.GetAnchorTtlNano(),
	}
	s.tick(c.GetTimeUnixNano())
	return &Result{}
}

// nextKeys copies the record for a change at time now.
func nextKeys(s *state, now int64) (*pb.KeysRecord, error) {
	if s.keys == nil {
		return nil, errorf(CodePrecondition, "domain keys are not initialised yet: wait for the leader to create them")
	}
	k := proto.Clone(s.keys).(*pb.KeysRecord)
	k.AnchorSerial++
	k.AnchorIssuedUnixNano = now
	return k, nil
}

func applyRotateKey(s *state, _ uint64, msg proto.Message) *Result {
	c := msg.(*pb.RotateKeyCommand)
	if err := checkSigningKey(c.GetSigningKey()); err != nil {
		return fail(err)
	}
	k, err := nextKeys(s, c.GetTimeUnixNano())
	if err != nil {
		return fail(err)
	}
	for _, old := range k.Keys {
		if old.GetId() == c.GetSigningKey().GetId() {
			return fail(errorf(CodeExists, "signing key %s already exists", old.GetId()))
		}
		old.Active = false
	}
	nk := proto.Clone(c.GetSigningKey()).(*pb.SigningKeyRecord)
	nk.Active, nk.RetiredUnixNano, nk.NotBeforeUnixNano = true, 0, c.GetTimeUnixNano()
	k.Keys = append(k.Keys, nk)
	s.keys = k
	s.tick(c.GetTimeUnixNano())
	return &Result{}
}

func applyRetireKey(s *state, _ uint64, msg proto.Message) *Result {
	c := msg.(*pb.RetireKeyCommand)
	k, err := nextKeys(s, c.GetTimeUnixNano())
	if err != nil {
		return fail(err)
	}
	for _, key := range k.Keys {
		if key.GetId() != c.GetKeyId() {
			continue
		}
		switch {
		case key.GetActive():
			return fail(errorf(CodePrecondition, "key %s is the active signing key: rotate first ('fedlic keys rotate'), then retire it", key.GetId()))
		case key.GetRetiredUnixNano() != 0:
			return fail(errorf(CodePrecondition, "key %s is already retired", key.GetId()))
		}
		key.RetiredUnixNano = c.GetTimeUnixNano()
		s.keys = k
		s.tick(c.GetTimeUnixNano())
		return &Result{}
	}
	return fail(errorf(CodeNotFound, "no signing key %s: list keys with 'fedlic domain status'", c.GetKeyId()))
}

func applyRefreshAnchor(s *state, _ uint64, msg proto.Message) *Result {
	c := msg.(*pb.RefreshAnchorCommand)
	k, err := nextKeys(s, c.GetTimeUnixNano())
	if err != nil {
		return fail(err)
	}
	s.keys = k
	s.tick(c.GetTimeUnixNano())
	return &Result{}
}

// Keys returns the domain's key record, or nil before initialisation.
// It holds private keys: callers inside node/ sign with it and must
// never return it through the API.
func (f *FSM) Keys() *pb.KeysRecord {
	var k *pb.KeysRecord
	f.view(func(s *state) { k = s.keys })
	return k
}

// inScope reports whether the domain may license product.
func (s *state) inScope(product string) bool {
	if s.keys == nil || len(s.keys.GetScope()) == 0 {
		return true
	}
	return license.ScopeAllows(s.keys.GetScope(), product)
}
