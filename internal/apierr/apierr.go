// Package apierr is the error vocabulary of the API. Code anywhere returns an
// *Error with a stable Code; the GraphQL edge maps every error, known or not,
// to one of these codes exactly once, and WriteHTTP writes the errors
// answered before GraphQL runs.
package apierr

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Code is a stable, machine-readable error class, sent to clients as
// extensions.code.
type Code string

// The error codes clients can rely on. Every code the API sends is one of
// these (see Codes); the README's error table describes each.
const (
	// Unauthenticated: no token, or one unknown, revoked or expired;
	// wrong credentials at login.
	Unauthenticated Code = "UNAUTHENTICATED"
	// Forbidden: the viewer's role lacks the permission.
	Forbidden Code = "FORBIDDEN"
	// NotFound: no such object in the viewer's organization.
	NotFound Code = "NOT_FOUND"
	// BadUserInput: an input value is missing or invalid; Field names it.
	BadUserInput Code = "BAD_USER_INPUT"
	// Conflict: the change contradicts existing data (a duplicate name,
	// say).
	Conflict Code = "CONFLICT"
	// RateLimited: too many attempts; RetryAfter says when to try again.
	RateLimited Code = "RATE_LIMITED"
	// TooManySubscriptions: a websocket already runs as many subscriptions
	// as allowed (ROSTER_WS_MAX_SUBSCRIPTIONS).
	TooManySubscriptions Code = "TOO_MANY_SUBSCRIPTIONS"
	// QueryTooComplex: the operation is too deep, has too many aliases or
	// tokens, or costs too much.
	QueryTooComplex Code = "QUERY_TOO_COMPLEX"
	// BadRequest: the request is not GraphQL over HTTP as accepted (not
	// JSON, a mutation by GET, introspection off, a query text too long,
	// a malformed persisted query).
	BadRequest Code = "BAD_REQUEST"
	// PersistedQueryNotFound: the client sent only the hash of a query the
	// server does not hold, and must send the query with it (gqlgen's
	// code, which Apollo's and other clients recognise).
	PersistedQueryNotFound Code = "PERSISTED_QUERY_NOT_FOUND"
	// ParseFailed: the document is not valid GraphQL syntax (gqlgen's code).
	ParseFailed Code = "GRAPHQL_PARSE_FAILED"
	// ValidationFailed: the document does not fit the schema (gqlgen's
	// code).
	ValidationFailed Code = "GRAPHQL_VALIDATION_FAILED"
	// Internal: anything unexpected; the detail is in the server's log.
	Internal Code = "INTERNAL"
)

// Codes returns every code the API sends.
func Codes() []Code {
	return []Code{
		Unauthenticated, Forbidden, NotFound, BadUserInput, Conflict, RateLimited,
		TooManySubscriptions, QueryTooComplex, BadRequest, PersistedQueryNotFound, ParseFailed, ValidationFailed,
		Internal,
	}
}

// Known reports whether c is one of Codes.
func Known(c Code) bool {
	for _, k := range Codes() {
		if k == c {
			return true
		}
	}
	return false
}

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

// Extensions returns what a GraphQL error carrying e holds in its
// extensions: the code, and the field and retryAfter (whole seconds,
// rounded up) when set. Every error the API answers with gets its
// extensions from here.
func (e *Error) Extensions() map[string]any {
	ext := map[string]any{"code": string(e.Code)} // a plain string, as gqlgen looks codes up
	if e.Field != "" {
		ext["field"] = e.Field
	}
	if e.RetryAfter > 0 {
		ext["retryAfter"] = RetryAfterSeconds(e.RetryAfter)
	}
	return ext
}

// GraphQL returns e as a GraphQL error, for the code that answers before
// or beside the error presenter (limits, argument checks, transports):
// its message, and its Extensions. The caller adds locations or a path.
func (e *Error) GraphQL() *gqlerror.Error {
	return &gqlerror.Error{Message: e.Error(), Extensions: e.Extensions()}
}

// RetryAfterSeconds rounds d up to whole seconds, at least 1: a client
// that waits that long is not refused again for the same reason.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// New returns an error with code and message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Input returns a BAD_USER_INPUT error about field.
func Input(field, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// WriteHTTP answers a request refused before GraphQL runs (not JSON, a
// mutation by GET, the database unreachable while authenticating) with
// status and a GraphQL response carrying e: {"errors": [{"message": …,
// "extensions": {"code": …}}]}. A RATE_LIMITED error also sets the
// Retry-After header.
func WriteHTTP(w http.ResponseWriter, status int, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(RetryAfterSeconds(e.RetryAfter)))
	}
	w.WriteHeader(status)
	msg := e.Message
	if e.Field != "" {
		msg = e.Error()
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
		"message":    msg,
		"extensions": e.Extensions(),
	}}})
}

// Invalid is an error from a value check that does not know the field's
// name; the caller adds it. ent validators return it.
type Invalid struct{ Reason string }

func (e *Invalid) Error() string { return e.Reason }

// Invalidf returns an *Invalid with a formatted reason.
func Invalidf(format string, args ...any) error {
	return &Invalid{Reason: fmt.Sprintf(format, args...)}
}

// List is several errors reported at once, each as an error of its own:
// every invalid field of an input, so that a form can mark them all.
// errors.As finds its first error.
type List []*Error

func (l List) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the errors of l.
func (l List) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// FieldName turns an ent field name into the name of its GraphQL input
// field: first_name → firstName, avatar_url → avatarURL.
func FieldName(field string) string {
	parts := strings.Split(field, "_")
	for i := 1; i < len(parts); i++ {
		switch parts[i] {
		case "id", "url", "ip":
			parts[i] = strings.ToUpper(parts[i])
		default:
			if parts[i] != "" {
				parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
			}
		}
	}
	return strings.Join(parts, "")
}
