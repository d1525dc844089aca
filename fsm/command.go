package fsm

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// MessageType is the first byte of every log entry fedlic writes.
// Values are part of the log format: never renumber or reuse one.
type MessageType uint8

const (
	IssueType          MessageType = 1
	UpdateType         MessageType = 2
	RevokeType         MessageType = 3
	ReplaceType        MessageType = 4
	ExpireType         MessageType = 5
	SetMemberType      MessageType = 6
	RemoveMemberType   MessageType = 7
	InitDomainType     MessageType = 8
	InitKeysType       MessageType = 9
	RotateKeyType      MessageType = 10
	RetireKeyType      MessageType = 11
	RefreshAnchorType  MessageType = 12
	TrustSetType       MessageType = 13
	TrustRemoveType    MessageType = 14
	PeerAnchorType     MessageType = 15
	PeerRevocationType MessageType = 16
	BatchType          MessageType = 17

	// IgnoreUnknownTypeFlag marks a command that older binaries may skip
	// if they do not know its type (as in Consul's FSM). Without the flag
	// an unknown type stops the replica, because skipping it could make
	// replicas diverge.
	IgnoreUnknownTypeFlag MessageType = 128
)

func (t MessageType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

var typeNames = map[MessageType]string{
	IssueType: "issue", UpdateType: "update", RevokeType: "revoke", ReplaceType: "replace",
	ExpireType: "expire", SetMemberType: "set-member", RemoveMemberType: "remove-member",
	InitDomainType: "init-domain", InitKeysType: "init-keys", RotateKeyType: "rotate-key",
	RetireKeyType: "retire-key", RefreshAnchorType: "refresh-anchor",
	TrustSetType: "trust-set", TrustRemoveType: "trust-remove", PeerAnchorType: "peer-anchor", PeerRevocationType: "peer-revocation",
	BatchType: "batch",
}

// Encode builds a log entry: the type byte, then the protobuf payload.
func Encode(t MessageType, msg proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode %s command: %w", t, err)
	}
	out := make([]byte, 1+len(b))
	out[0] = byte(t)
	copy(out[1:], b)
	return out, nil
}
