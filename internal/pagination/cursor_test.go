package pagination

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
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

type testOrderField struct{ name string }

func (f testOrderField) String() string { return f.name }

type testOrder struct {
	Direction string
	Field     *testOrderField
}

// TestArgsOrderField: the order field read from a connection's coerced
// arguments is the one its arguments in the operation give, and arguments
// of another shape are left to those.
func TestArgsOrderField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		args      map[string]any
		raw       map[string]any
		want      string
		wantKnown bool
	}{
		{"no arguments made", nil, nil, "", false},
		{"no orderBy", map[string]any{"first": 5}, map[string]any{"first": 5}, "", true},
		{"orderBy null", map[string]any{"orderBy": (*testOrder)(nil)}, map[string]any{"orderBy": nil}, "", true},
		{"orderBy a field", map[string]any{"orderBy": &testOrder{Direction: "ASC", Field: &testOrderField{"EMAIL"}}},
			map[string]any{"orderBy": map[string]any{"direction": "ASC", "field": "EMAIL"}}, "EMAIL", true},
		{"orderBy a list", map[string]any{"orderBy": []*testOrder{{Field: &testOrderField{"EMAIL"}}}},
			map[string]any{"orderBy": []any{map[string]any{"field": "EMAIL"}}}, "", false},
	} {
		got, known := argsOrderField(c.args)
		if got != c.want || known != c.wantKnown {
			t.Errorf("%s: %q, %v; want %q, %v", c.name, got, known, c.want, c.wantKnown)
		}
		if known && got != orderField(c.raw) {
			t.Errorf("%s: %q from the coerced arguments, %q from the operation's", c.name, got, orderField(c.raw))
		}
	}
}

// TestCursorWriters: a cursor is written the same into the executor's
// buffer and into any writer.
func TestCursorWriters(t *testing.T) {
	t.Parallel()
	c := Cursor{ID: 7, Value: "ada@example.com"}
	var buf bytes.Buffer
	var sb strings.Builder
	for _, w := range []io.Writer{&buf, &sb} {
		if err := MarshalCursor(c).MarshalGQLContext(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	want := `"` + encode(t, wire{ID: 7, Value: "ada@example.com"}) + `"`
	if buf.String() != want || sb.String() != want {
		t.Errorf("wrote %s and %s, want %s", buf.String(), sb.String(), want)
	}
}
