// Package license owns fedlic's pure crypto: the license token format,
// signing and offline verification, trust anchors (a domain's signing
// keys endorsed by its root key), and product scopes. Services import it
// to verify licenses without a server.
//
// A token is "fl1.<payload>.<signature>", both parts unpadded base64url.
// The payload is a versioned, deterministic binary encoding of Claims; the
// signature is Ed25519 by a domain signing key over a domain-separation
// context and the payload. An anchor is signed by the domain's root key the
// same way, and operators pin that root key by its Fingerprint.
//
// Every failure is an *Error whose Code says what kind it is (compare with
// errors.Is against ErrExpired and the other sentinels, or show Reason).
//
// It uses only the Go standard library and must never import raft, grpc
// or any other fedlic package.
package license
