package main

import (
	"context"
	"io"
	"testing"
	"time"

	"roster/internal/fixture"
)

// TestRun starts the program as main does, on a database the fixture made,
// and logs in; and checks that the program hashes passwords at a
// production cost (the other tests hash at the lowest, through runWith and
// the fixture).
func TestRun(t *testing.T) {
	t.Parallel()
	if c := productionPasswords().Cost; c < 12 {
		t.Errorf("the program hashes passwords at bcrypt cost %d, want at least 12", c)
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
