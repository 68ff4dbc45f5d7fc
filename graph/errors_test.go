package graph

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestErrorPresenterCanceled: an internal error of a request whose client
// left is logged as a cancellation, not as a server failure; one of a
// request still running is logged as an error. Neither shows its detail.
func TestErrorPresenterCanceled(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		canceled bool
		level    string
		message  string
	}{
		{"running", false, "level=ERROR", "internal error"},
		{"client gone", true, "level=INFO", "request canceled"},
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
			got := present(ctx, errors.New("pq: canceling statement due to user request"))
			if got.Message != c.message || got.Extensions["code"] != "INTERNAL" {
				t.Errorf("presented %q %v, want %q INTERNAL", got.Message, got.Extensions, c.message)
			}
			if line := logs.String(); !strings.Contains(line, c.level) || !strings.Contains(line, "canceling statement") {
				t.Errorf("logged %q, want a line at %s with the error", line, c.level)
			}
		})
	}
}
