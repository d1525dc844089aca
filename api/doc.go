// Package api owns fedlic's wire contract: the .proto files under proto/,
// the generated Go code in fedlicpb (regenerate with `make proto`), and
// the gRPC services that map requests onto a *node.Node, translating
// errors into gRPC status codes with messages that say what to fix.
//
// The handlers are thin: validation, forwarding and consistency live in
// node/, rules in fsm/. api must never import cmd/.
package api
