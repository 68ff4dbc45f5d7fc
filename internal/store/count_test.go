package store

import (
	"context"
	"testing"
)

// TestWithoutCounter: statements run in a context from WithoutCounter are
// counted by no request, not even the one whose context it came from.
func TestWithoutCounter(t *testing.T) {
	var c Counter
	ctx := WithCounter(context.Background(), &c)
	count(ctx)
	count(WithoutCounter(ctx))
	count(context.Background())
	if got := c.Count(); got != 1 {
		t.Errorf("counted %d statements, want 1", got)
	}
}
