package fsm

import (
	"errors"
	"fmt"
)

// Code classifies a rejected command. The api package maps each code to
// a gRPC status code.
type Code string

const (
	CodeInvalid      Code = "invalid argument"
	CodeNotFound     Code = "not found"
	CodePrecondition Code = "failed precondition"
	CodeExists       Code = "already exists"
)

// Error is a business rejection: the command was committed but changed
// nothing. It is returned from Apply as the response, never panicked.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Is lets errors.Is match on the code: errors.Is(err, ErrNotFound).
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Msg == "" && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrInvalid      = &Error{Code: CodeInvalid}
	ErrNotFound     = &Error{Code: CodeNotFound}
	ErrPrecondition = &Error{Code: CodePrecondition}
	ErrExists       = &Error{Code: CodeExists}
)

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}
