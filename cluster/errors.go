package cluster

import (
	"errors"
	"fmt"

	"github.com/fedlic/fedlic/license"
)

// Decode failure kinds. Every error Decode, DecodeMeta, Encode and
// EncodeMeta return for a bad message matches exactly one of these with
// errors.Is, and also license.ErrMalformed.
var (
	// ErrTruncated: the message ends before a field it announces.
	ErrTruncated = errors.New("truncated gossip message")
	// ErrOversized: the message, or one of its fields, is over its bound.
	ErrOversized = errors.New("oversized gossip message")
	// ErrMalformed: the bytes are all there but do not form a valid
	// message (trailing bytes, bad UTF-8, empty required field, bad enum).
	ErrMalformed = errors.New("malformed gossip message")
	// ErrUnknownVersion: a format version this build does not read,
	// typically from a newer peer.
	ErrUnknownVersion = errors.New("unknown gossip format version")
	// ErrUnknownType: a message type this build does not know.
	ErrUnknownType = errors.New("unknown gossip message type")
)

// wireError is a decoding or encoding failure: one of the kinds above and
// a message saying which field and why.
type wireError struct {
	kind error
	msg  string
}

func (e *wireError) Error() string { return "cluster: " + e.kind.Error() + ": " + e.msg }

// Unwrap makes errors.Is match both the kind and license.ErrMalformed, and
// license.Reason report "malformed".
func (e *wireError) Unwrap() []error {
	return []error{e.kind, &license.Error{Code: license.CodeMalformed, Msg: e.msg}}
}

func wireErrorf(kind error, format string, args ...any) error {
	return &wireError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// licenseErrorf is a verification failure with one of license's codes.
func licenseErrorf(code, format string, args ...any) error {
	return &license.Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}
