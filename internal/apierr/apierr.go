// Package apierr is the error vocabulary of the API. Code anywhere returns an
// *Error with a stable Code; the GraphQL edge maps every error, known or not,
// to one of these codes exactly once.
package apierr

import (
	"fmt"
	"time"
)

// Code is a stable, machine-readable error class, sent to clients as
// extensions.code.
type Code string

// The error codes clients can rely on.
const (
	Unauthenticated Code = "UNAUTHENTICATED"
	Forbidden       Code = "FORBIDDEN"
	NotFound        Code = "NOT_FOUND"
	BadUserInput    Code = "BAD_USER_INPUT"
	Conflict        Code = "CONFLICT"
	RateLimited     Code = "RATE_LIMITED"
	Internal        Code = "INTERNAL"
)

// Error is an error meant to be shown to the client.
type Error struct {
	Code Code
	// Message is a human-readable sentence, safe to show to the client.
	Message string
	// Field names the offending input field (as the client spelled it, e.g.
	// "firstName" or "settings.address"), when the error is about one.
	Field string
	// RetryAfter says, for RATE_LIMITED, when trying again may succeed.
	RetryAfter time.Duration
}

// Error returns the message, prefixed with the field when there is one.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &Error{Code: NotFound}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Field == "" || t.Field == e.Field)
}

// New returns an error with code and message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Input returns a BAD_USER_INPUT error about field.
func Input(field, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Invalid is an error from a value check that does not know the field's
// name; the caller adds it. ent validators return it.
type Invalid struct{ Reason string }

func (e *Invalid) Error() string { return e.Reason }

// Invalidf returns an *Invalid with a formatted reason.
func Invalidf(format string, args ...any) error {
	return &Invalid{Reason: fmt.Sprintf(format, args...)}
}
