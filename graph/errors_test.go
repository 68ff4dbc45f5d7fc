package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestErrorPresenterCanceled: an internal error of a request whose client
// left, or a cancellation itself, is logged as a cancellation, not as a
// server failure; another of a request still running is logged as an
// error. None shows its detail.
func TestErrorPresenterCanceled(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		canceled bool
		err      error
		level    string
		message  string
	}{
		{"running", false, errors.New("pq: canceling statement due to user request"), "level=ERROR", "internal error"},
		{"client gone", true, errors.New("pq: canceling statement due to user request"), "level=INFO", "request canceled"},
		{"the cancellation itself", false, fmt.Errorf("canceling statement: %w", context.Canceled), "level=INFO", "request canceled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			present := ErrorPresenter(slog.New(slog.NewTextHandler(&logs, nil)))
			ctx, cancel := context.WithCancel(context.Background())
			if c.canceled {
				cancel()
			} else {
				defer cancel()
			}
			ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Field: graphql.CollectedField{Field: &ast.Field{Alias: "setUserAvailability"}}})
			got := present(ctx, c.err)
			if got.Message != c.message || got.Extensions["code"] != "INTERNAL" {
				t.Errorf("presented %q %v, want %q INTERNAL", got.Message, got.Extensions, c.message)
			}
			if line := logs.String(); !strings.Contains(line, c.level) || !strings.Contains(line, "canceling statement") {
				t.Errorf("logged %q, want a line at %s with the error", line, c.level)
			}
		})
	}
}
