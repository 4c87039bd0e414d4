// Package latch holds Latch's vocabulary: the domain types (organizations, users,
// clients, audiences, roles, tokens, signing keys), the Store interface every
// backend implements, and the small error vocabulary that each edge (OAuth2,
// admin API, authorizer) maps once. It imports only the standard library and must
// never import an adapter.
package latch

import (
	"errors"
	"fmt"
)

// Error codes: the whole vocabulary. Each edge maps these once; nothing else
// about an error reaches a client unless it is in Error.Message.
const (
	EINVALID      = "invalid"      // bad input; nothing was changed
	ENOTFOUND     = "not_found"    // absent, expired, or belongs to another tenant
	ECONFLICT     = "conflict"     // exists already, or a compare-and-swap lost
	EUNAUTHORIZED = "unauthorized" // credentials missing or wrong
	EFORBIDDEN    = "forbidden"    // authenticated, but not allowed
	EUNAVAILABLE  = "unavailable"  // a dependency is down; retry may succeed
	EINTERNAL     = "internal"     // a bug; clients see only "internal error"
)

// Error is a domain error. Message is written for the client and must never
// contain secrets or internal detail; Err keeps the cause for logs.
type Error struct {
	Code    string
	Message string
	Op      string
	Err     error
}

func (e *Error) Error() string {
	s := e.Code
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with code, the operation that failed and the cause.
// The cause is for logs only.
func Wrap(code, op string, err error) *Error {
	return &Error{Code: code, Op: op, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err. Errors that are not
// *Error, or that carry no message, give a generic text for their code.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	switch ErrorCode(err) {
	case EINVALID:
		return "invalid request"
	case ENOTFOUND:
		return "not found"
	case ECONFLICT:
		return "conflict"
	case EUNAUTHORIZED:
		return "unauthorized"
	case EFORBIDDEN:
		return "forbidden"
	case EUNAVAILABLE:
		return "service unavailable"
	}
	return "internal error"
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool { return err != nil && ErrorCode(err) == code }
