package pagination

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"roster/internal/apierr"
)

func encode(t *testing.T, w wire) string {
	t.Helper()
	var buf bytes.Buffer
	enc := base64.NewEncoder(base64.RawStdEncoding, &buf)
	if err := msgpack.NewEncoder(enc).Encode(w); err != nil {
		t.Fatal(err)
	}
	enc.Close()
	return buf.String()
}

func TestReadCursor(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		v          any
		orderField string
		wantID     int
		wantErr    string
	}{
		{"default order", encode(t, wire{ID: 7}), "", 7, ""},
		{"name order", encode(t, wire{ID: 7, Value: "Ana", Field: "NAME"}), "NAME", 7, ""},
		{"time order", encode(t, wire{ID: 7, Value: at, Field: "CREATED_AT"}), "CREATED_AT", 7, ""},
		{"a null value", encode(t, wire{ID: 7, Field: "NAME"}), "NAME", 7, ""},
		{"name cursor, default order", encode(t, wire{ID: 7, Value: "Ana", Field: "NAME"}), "", 0, "taken in NAME order, not in the default order"},
		{"default cursor, name order", encode(t, wire{ID: 7}), "NAME", 0, "taken in default order, not in the NAME order"},
		{"another field", encode(t, wire{ID: 7, Value: "Ana", Field: "NAME"}), "EMAIL", 0, "taken in NAME order"},
		{"a value without its field", encode(t, wire{ID: 7, Value: "Ana"}), "", 0, "is not a cursor"},
		{"a map value", encode(t, wire{ID: 7, Value: map[string]any{"a": 1}, Field: "NAME"}), "NAME", 0, "is not a cursor"},
		{"not base64", "not a cursor!", "", 0, "is not a cursor"},
		{"empty", "", "", 0, "is not a cursor"},
		{"not a string", 12, "", 0, "a cursor is a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := readCursor("after", tc.v, tc.orderField)
			if tc.wantErr == "" {
				if err != nil || c.ID != tc.wantID {
					t.Fatalf("readCursor = %+v, %v", c, err)
				}
				return
			}
			if err == nil || err.Code != apierr.BadUserInput || err.Field != "after" || !strings.Contains(err.Message, tc.wantErr) {
				t.Fatalf("readCursor error = %+v, want BAD_USER_INPUT on after containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	// Outside a connection field, a cursor is one of the default order.
	var buf bytes.Buffer
	if err := MarshalCursor(Cursor{ID: 42}).MarshalGQLContext(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	c, err := UnmarshalCursor(context.Background(), strings.Trim(buf.String(), `"`))
	if err != nil || c.ID != 42 || c.Value != nil {
		t.Fatalf("read back %+v, %v", c, err)
	}
	if _, err := UnmarshalCursor(context.Background(), "?"); !errors.Is(err, &apierr.Error{Code: apierr.BadUserInput, Field: "cursor"}) {
		t.Fatalf("a malformed cursor: %v", err)
	}
}
