package main

import (
	"context"
	"io"
	"testing"
	"time"

	"roster/internal/fixture"
)

// TestRun starts the program as main does, on a database the fixture made,
// and logs in; and checks that, with no setting about passwords, it hashes
// them at a production cost (the cheap hashes of the other tests come from
// their fixture only).
func TestRun(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Passwords.Cost < 12 {
		t.Errorf("the server hashes passwords at bcrypt cost %d, want at least 12", cfg.Passwords.Cost)
	}

	w := fixture.New(t, fixture.SQLiteURL(t))
	env := map[string]string{"ROSTER_DATABASE_URL": w.URL, "ROSTER_LOG_FORMAT": "json"}
	logs := &logBuffer{listening: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, io.Discard, logs)
	}()
	var addr string
	select {
	case addr = <-logs.listening:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not start")
	}
	srv := &server{url: "http://" + addr, logs: logs}
	var me struct{ Me struct{ Email string } }
	srv.login(t, w.Orgs[0].Admin.Email, fixture.Password).do(t, `{ me { email } }`, nil).decode(t, &me)
	if me.Me.Email != w.Orgs[0].Admin.Email {
		t.Errorf("me = %+v", me.Me)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
