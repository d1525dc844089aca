// Package license owns fedlic's pure crypto: the license token format,
// signing and offline verification, trust anchors (a domain's signing
// keys endorsed by its root key), and product scopes. Services import it
// to verify licenses without a server.
//
// It uses only the Go standard library and must never import raft, grpc
// or any other fedlic package.
package license
