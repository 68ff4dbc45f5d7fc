package pubsub

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"roster/internal/store/storetest"
)

// secret is a password put in test URLs: the server trusts local clients
// and never asks for it, so it must never show up in logs or errors.
const secret = "s3cret-never-logged"

// pgURL returns the URL of a fresh database, with a password.
func pgURL(tb testing.TB) string {
	tb.Helper()
	u, err := url.Parse(storetest.PostgresURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), secret)
	return u.String()
}

// newPostgres starts a broker closed at the end of the test; its log is
// checked for the password then.
func newPostgres(tb testing.TB, dsn string) (*Postgres, *logBuffer) {
	tb.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	p, err := NewPostgres(ctx, dsn, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
		if strings.Contains(logs.String(), secret) {
			tb.Errorf("the log shows the password:\n%s", logs)
		}
	})
	return p, logs
}

func openDB(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Two brokers on one database stand for two instances: what either
// publishes reaches the subscribers of both, in publish order.
func TestPostgresTwoInstances(t *testing.T) {
	t.Parallel()
	dsn := pgURL(t)
	a, _ := newPostgres(t, dsn)
	b, _ := newPostgres(t, dsn)
	subs := map[string]<-chan Message{}
	for name, br := range map[string]Broker{"a": a, "b": b} {
		for i := range 2 {
			subs[fmt.Sprint(name, i)], _ = br.Subscribe("task")
		}
	}
	const n = 200
	var want []string
	for _, from := range []struct {
		name string
		b    Broker
	}{{"a", a}, {"b", b}} {
		for i := range n {
			payload := from.name + strconv.Itoa(i)
			if err := from.b.Publish(t.Context(), "task", []byte(payload)); err != nil {
				t.Fatal(err)
			}
			want = append(want, payload)
		}
	}
	for name, ch := range subs {
		for i, w := range want {
			m := recv(t, ch)
			if m.Topic != "task" || string(m.Payload) != w || m.Resync {
				t.Fatalf("subscriber %s, message %d: got %s, want task:%q", name, i, show(m), w)
			}
		}
		expectNone(t, ch, 10*time.Millisecond)
	}
}

func TestPostgresTopics(t *testing.T) {
	t.Parallel()
	dsn := pgURL(t)
	pub, _ := newPostgres(t, dsn)
	sub, _ := newPostgres(t, dsn)
	tests := []struct {
		topics []string
		want   []string
	}{
		{[]string{"a"}, []string{"a:1", "a:3"}},
		{[]string{"b"}, []string{"b:2"}},
		{[]string{"a", "b"}, []string{"a:1", "b:2", "a:3"}},
		{[]string{"c", "end"}, nil},
	}
	chans := make([]<-chan Message, len(tests))
	for i, tc := range tests {
		chans[i], _ = sub.Subscribe(append(tc.topics, "end")...)
	}
	for _, p := range []string{"a:1", "b:2", "c/other:x", "a:3", "end:"} {
		topic, payload, _ := strings.Cut(p, ":")
		if err := pub.Publish(t.Context(), topic, []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	for i, tc := range tests {
		var got []string
		for {
			m := recv(t, chans[i])
			if m.Topic == "end" {
				break
			}
			got = append(got, m.Topic+":"+string(m.Payload))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("subscriber of %q: got %q, want %q", tc.topics, got, tc.want)
		}
	}
}

func TestPostgresPayloads(t *testing.T) {
	t.Parallel()
	dsn := pgURL(t)
	pub, _ := newPostgres(t, dsn)
	sub, _ := newPostgres(t, dsn)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"json", []byte(`{"id":42,"op":"update"}`)},
		{"utf-8", []byte("héllo ☃ 日本 🎉")},
		{"quotes and backslashes", []byte(`it's \x00 \\ '' "q" E'\n'`)},
		{"newlines", []byte("line 1\nline 2\n")},
		{"NUL", []byte("a\x00b")},
		{"invalid utf-8", []byte{0xc3, 0x28, 0xff}},
		{"all bytes", all},
		{"all bytes repeated", bytes.Repeat(all, 20)},
	}
	msgs, _ := sub.Subscribe("p")
	for _, tc := range tests {
		if err := pub.Publish(t.Context(), "p", tc.payload); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	for _, tc := range tests {
		m := recv(t, msgs)
		if !bytes.Equal(m.Payload, tc.payload) || m.Topic != "p" {
			t.Errorf("%s: got %.80s, want %.80q", tc.name, show(m), tc.payload)
		}
	}
}

func TestPostgresLimits(t *testing.T) {
	t.Parallel()
	p, _ := newPostgres(t, pgURL(t))
	testLimits(t, p)
}

// Killing the listener's connection loses notifications: once the listener
// is back, every subscriber gets a Resync, then messages flow again.
func TestPostgresReconnect(t *testing.T) {
	t.Parallel()
	dsn := pgURL(t)
	a, logsA := newPostgres(t, dsn)
	b, _ := newPostgres(t, dsn)
	chans := map[string]<-chan Message{}
	chans["a/x"], _ = a.Subscribe("x")
	chans["a/none"], _ = a.Subscribe()
	chans["b/x"], _ = b.Subscribe("x", "y")

	db := openDB(t, dsn)
	var killed int
	err := db.QueryRowContext(t.Context(), `
		SELECT count(*) FROM (
			SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1
		) k WHERE ok`, ListenerApplicationName).Scan(&killed)
	if err != nil {
		t.Fatal(err)
	}
	if killed != 2 {
		t.Fatalf("terminated %d listeners, want 2", killed)
	}
	for name, ch := range chans {
		if m := recv(t, ch); !m.Resync {
			t.Fatalf("%s: got %s, want Resync", name, show(m))
		}
	}
	// Resync comes once LISTEN is back: what is published now arrives.
	if err := a.Publish(t.Context(), "x", []byte("after")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a/x", "b/x"} {
		if m := recv(t, chans[name]); m.Resync || string(m.Payload) != "after" {
			t.Fatalf("%s: got %s, want x:after", name, show(m))
		}
	}
	expectNone(t, chans["a/none"], 10*time.Millisecond)

	logs := logsA.String()
	for _, want := range []string{
		"level=WARN msg=\"pubsub: listener disconnected",
		"level=INFO msg=\"pubsub: listener reconnected",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// A notification on the channel that no broker wrote is logged and
// dropped; the stream goes on.
func TestPostgresMalformedNotification(t *testing.T) {
	t.Parallel()
	dsn := pgURL(t)
	p, logs := newPostgres(t, dsn)
	msgs, _ := p.Subscribe("x")
	db := openDB(t, dsn)
	if _, err := db.ExecContext(t.Context(), "NOTIFY "+Channel+", 'garbage'"); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(t.Context(), "x", []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, msgs); string(m.Payload) != "ok" || m.Resync {
		t.Fatalf("got %s, want x:ok", show(m))
	}
	if !strings.Contains(logs.String(), "malformed notification") {
		t.Errorf("malformed notification not logged:\n%s", logs)
	}
}

func TestNewPostgresUnreachable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dsn  string
	}{
		{"refused", "postgres://roster:" + secret + "@127.0.0.1:1/roster?sslmode=disable"},
		{"key=value", "host=127.0.0.1 port=1 user=roster password=" + secret + " sslmode=disable"},
		{"bad URL", "postgres://roster:" + secret + "@127.0.0.1:port/roster"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), wait)
			defer cancel()
			p, err := NewPostgres(ctx, tc.dsn, nil)
			if err == nil {
				p.Close()
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func TestPostgresPublishAfterClose(t *testing.T) {
	t.Parallel()
	p, err := NewPostgres(t.Context(), pgURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, cancel := p.Subscribe("x")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, msgs)
	cancel()
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := p.Publish(t.Context(), "x", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: got %v, want ErrClosed", err)
	}
	late, _ := p.Subscribe("x")
	expectClosed(t, late)
}

func TestOpenPostgres(t *testing.T) {
	t.Parallel()
	if b, err := Open(t.Context(), "postgres://roster:"+secret+"@127.0.0.1:1/roster?sslmode=disable", nil); err == nil || b != nil {
		t.Fatalf("Open of an unreachable database = %v, %v; want nil, an error", b, err)
	}
	b, err := Open(t.Context(), pgURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := b.(*Postgres); !ok {
		t.Fatalf("Open = %T, want *Postgres", b)
	}
}

// Close leaves no goroutine behind, even after a reconnection. Not
// parallel: it counts the goroutines of the whole process.
func TestPostgresCloseNoGoroutines(t *testing.T) {
	dsn := pgURL(t)
	db := openDB(t, dsn)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	settle := func() int {
		// Let goroutines of earlier tests finish.
		n := runtime.NumGoroutine()
		for range 50 {
			time.Sleep(10 * time.Millisecond)
			m := runtime.NumGoroutine()
			if m == n {
				break
			}
			n = m
		}
		return n
	}
	before := settle()

	p, err := NewPostgres(t.Context(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := p.Subscribe("x")
	if _, err := db.ExecContext(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, ListenerApplicationName); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, msgs); !m.Resync {
		t.Fatalf("got %s, want Resync", show(m))
	}
	if err := p.Publish(t.Context(), "x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	recv(t, msgs)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, msgs)

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
