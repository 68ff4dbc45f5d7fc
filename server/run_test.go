package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "-help", "--help"} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{arg}, func(string) string { return "" }, &stdout, &stderr); err != nil {
			t.Fatalf("roster %s: %v", arg, err)
		}
		out := stdout.String()
		for _, s := range settings {
			want := fmt.Sprintf("  -%s %s\n", s.flag, s.kind())
			if !strings.Contains(out, want) || !strings.Contains(out, "env "+s.env) {
				t.Errorf("roster %s does not list -%s with its type and %s:\n%s", arg, s.flag, s.env, out)
			}
		}
		for _, want := range []string{`default ":8080"`, `default "720h"`, "-max-depth int", "-session-ttl duration", "-introspection bool", "default none"} {
			if !strings.Contains(out, want) {
				t.Errorf("roster %s lacks %q", arg, want)
			}
		}
	}
}

func TestSQLiteFileLogged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, form := range []string{"sqlite:", "file:"} {
		file := filepath.Join(dir, strings.TrimSuffix(form, ":")+".db")
		srv := startServer(t, form+file)
		var ready []map[string]any
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && len(ready) == 0; time.Sleep(10 * time.Millisecond) {
			ready = srv.logs.lines("database ready")
		}
		if len(ready) != 1 || ready[0]["file"] != file {
			t.Errorf("%s: database ready lines %v, want file %s", form, ready, file)
		}
		if _, err := os.Stat(file); err != nil {
			t.Errorf("%s: %v", form, err)
		}
	}
}
