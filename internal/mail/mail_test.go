package mail_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
