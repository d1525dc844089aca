package license

import (
	"errors"
	"fmt"
)

// Error codes. Every error this package returns for a token or anchor is an
// *Error carrying one of these codes; the message says what is wrong.
const (
	CodeMalformed      = "malformed"
	CodeUnknownKey     = "unknown key"
	CodeBadSignature   = "bad signature"
	CodeWrongDomain    = "wrong domain"
	CodeNotYetValid    = "not yet valid"
	CodeExpired        = "expired"
	CodeAnchorInvalid  = "anchor invalid"
	CodeAnchorRollback = "anchor rollback"
	CodeKeyRetired     = "key retired"
)

// Error is a token or anchor failure: a stable Code for programs and a
// message for people.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return "license: " + e.Code
	}
	return "license: " + e.Code + ": " + e.Msg
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrExpired) holds for every expiry error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is; they carry a code and no message.
var (
	ErrMalformed      = &Error{Code: CodeMalformed}
	ErrUnknownKey     = &Error{Code: CodeUnknownKey}
	ErrBadSignature   = &Error{Code: CodeBadSignature}
	ErrWrongDomain    = &Error{Code: CodeWrongDomain}
	ErrNotYetValid    = &Error{Code: CodeNotYetValid}
	ErrExpired        = &Error{Code: CodeExpired}
	ErrAnchorInvalid  = &Error{Code: CodeAnchorInvalid}
	ErrAnchorRollback = &Error{Code: CodeAnchorRollback}
	ErrKeyRetired     = &Error{Code: CodeKeyRetired}
)

// Reason returns the code of err for display: "" for nil, the *Error's code
// when err is or wraps one, and "error" for anything else.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "error"
}

func errorf(code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}
