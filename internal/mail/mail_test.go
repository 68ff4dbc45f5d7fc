package mail_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	_ "roster/ent/runtime" // registers hooks and policies
	"roster/internal/fixture"
	"roster/internal/mail"
	"roster/internal/viewer"
)

// flaky fails its first sends.
type flaky struct {
	mu       sync.Mutex
	failures int
	sent     []string
}

func (f *flaky) Send(_ context.Context, to, subject, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures > 0 {
		f.failures--
		return errors.New("421 try again later")
	}
	f.sent = append(f.sent, to+": "+subject)
	return nil
}

func TestRetriesUntilSent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := fixture.MustOpenDB(t, fixture.SQLiteURL(t))
	now := time.Now().Add(time.Second) // after the mails are queued
	sender := &flaky{failures: 2}
	w := &mail.Worker{Client: db.Client, Sender: sender, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}

	// A mail queued in a transaction that rolls back is never sent.
	tx, err := db.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := mail.Enqueue(ctx, tx.Client(), "lost@example.com", "Rolled back", "body"); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if err := mail.Enqueue(ctx, db.Client, "ana@example.com", "Welcome", "body"); err != nil {
		t.Fatal(err)
	}
	if err := mail.Enqueue(ctx, db.Client, "not an address", "x", "y"); err == nil {
		t.Error("an invalid address was queued")
	}

	for i, want := range []int{0, 0, 1} { // two failures, then sent
		n, err := w.SendDue(ctx)
		if err != nil || n != want {
			t.Fatalf("round %d: sent %d (%v), want %d", i, n, err, want)
		}
		if n, _ := w.SendDue(ctx); n != 0 {
			t.Fatalf("round %d: a failed mail was retried before its backoff", i)
		}
		now = now.Add(time.Hour) // past any backoff
	}
	if len(sender.sent) != 1 || sender.sent[0] != "ana@example.com: Welcome" {
		t.Errorf("sent %v", sender.sent)
	}
	m := db.Client.Mail.Query().OnlyX(viewer.NewSystemContext(ctx))
	if m.Attempts != 3 || m.SentAt == nil || m.LastError != "" {
		t.Errorf("mail = %+v", m)
	}
	if n, _ := w.SendDue(ctx); n != 0 {
		t.Error("a sent mail was sent again")
	}
}

func TestDevOutboxLogsNoSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		secrets    []string
		wantLinks  []string
	}{
		{name: "invitation", body: "You are invited.\nOpen https://app.example.com/accept-invitation?token=inv_SECRET123 to join.\n",
			secrets: []string{"inv_SECRET123", "token="}, wantLinks: []string{"https://app.example.com/accept-invitation"}},
		{name: "login code", body: "Your login code is 834512. It works for 10 minutes.",
			secrets: []string{"834512"}},
		{name: "link with a fragment", body: "Reset: <http://localhost:8080/reset#k=FRAGSECRET>",
			secrets: []string{"FRAGSECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			o := &mail.DevOutbox{Log: slog.New(slog.NewTextHandler(&buf, nil))}
			if err := o.Send(context.Background(), "ana@acme.test", "Subject "+tt.name, tt.body); err != nil {
				t.Fatal(err)
			}
			logs := buf.String()
			for _, s := range tt.secrets {
				if strings.Contains(logs, s) {
					t.Errorf("the log holds %q: %s", s, logs)
				}
			}
			for _, want := range append([]string{"to=ana@acme.test", "Subject " + tt.name}, tt.wantLinks...) {
				if !strings.Contains(logs, want) {
					t.Errorf("the log lacks %q: %s", want, logs)
				}
			}
			if got := o.Mails(); len(got) != 1 || got[0].Body != tt.body {
				t.Errorf("the outbox kept %+v", got)
			}
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
