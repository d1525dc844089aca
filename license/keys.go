package license

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"io"
)

// GenerateKey makes an Ed25519 key pair from rand (crypto/rand.Reader when
// nil).
func GenerateKey(rand io.Reader) (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand)
}

// Fingerprint is the lowercase hex SHA-256 of the 32-byte public key. Operators
// pin a peer domain's root key by this value.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])
}

// KeyIDFor is a short stable id for a key: "k-" and the first 16 hex digits
// of its fingerprint.
func KeyIDFor(pub ed25519.PublicKey) string {
	return "k-" + Fingerprint(pub)[:16]
}
