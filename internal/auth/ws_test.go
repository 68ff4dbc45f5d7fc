package auth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"roster/ent/user"
	"roster/internal/auth"
	"roster/internal/fixture"
	"roster/internal/ratelimit"
	"roster/internal/store"
	"roster/internal/store/storetest"
	"roster/internal/viewer"
	"roster/internal/wstransport"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestSocketOperation checks that a socket's operations run with the
// viewer as the session stands at their start, read in one statement, and
// that a socket whose session ended is closed with 4403.
func TestSocketOperation(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := fixture.New(t, dbURL)
		org := w.Orgs[0]
		s := auth.New(w.Client, auth.Options{SessionTTL: time.Hour, Limits: ratelimit.New(w.DB.Driver, nil)}, quiet)
		u := org.Supervisor

		// The upgrade request carried another user's viewer: the socket
		// acts only for the session of connection_init.
		ctx := viewer.NewContext(context.Background(), org.Admin.Viewer)
		ctx, v, err := s.SocketInit(ctx, map[string]any{"AUTHORIZATION": "Bearer " + u.Token})
		if err != nil || v.UserID != u.ID {
			t.Fatalf("init: %v %+v", err, v)
		}
		if got := viewer.FromContext(ctx); got != nil {
			t.Fatalf("the socket's context holds viewer %+v", got)
		}

		var count store.Counter
		op, err := s.SocketOperation(store.WithCounter(ctx, &count))
		if err != nil || viewer.FromContext(op).DivisionScoped || viewer.FromContext(op).UserID != u.ID {
			t.Fatalf("operation: %v %+v", err, viewer.FromContext(op))
		}
		if n := count.Count(); n != 1 {
			t.Errorf("an operation's authentication ran %d statements, want 1", n)
		}

		sys := fixture.System()
		w.Client.User.UpdateOneID(u.ID).SetChatAccess(user.ChatAccessAssignedDivisions).ExecX(sys)
		if op, err := s.SocketOperation(ctx); err != nil || !viewer.FromContext(op).DivisionScoped {
			t.Errorf("after the change: %v %+v", err, viewer.FromContext(op))
		}

		w.Client.Session.DeleteOneID(u.SessionID).ExecX(sys)
		var ce *wstransport.CloseError
		if _, err := s.SocketOperation(ctx); !errors.As(err, &ce) || ce.Code != 4403 {
			t.Errorf("after the session ended: %v", err)
		}

		for _, payload := range []map[string]any{nil, {"authorization": "Bearer rst_forged"}, {"authorization": 42}} {
			if _, _, err := s.SocketInit(context.Background(), payload); !errors.As(err, &ce) || ce.Code != 4403 {
				t.Errorf("init with %v: %v", payload, err)
			}
		}
	})
}

// BenchmarkSocketOperation measures what authenticating one operation on a
// socket costs: reading the viewer of its session as it is now.
func BenchmarkSocketOperation(b *testing.B) {
	for _, target := range storetest.Targets {
		b.Run(target.Name, func(b *testing.B) {
			w := fixture.New(b, target.URL(b))
			s := auth.New(w.Client, auth.Options{SessionTTL: time.Hour, Limits: ratelimit.New(w.DB.Driver, nil)}, quiet)
			ctx, _, err := s.SocketInit(context.Background(), map[string]any{"authorization": "Bearer " + w.Orgs[0].Agent.Token})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.SocketOperation(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSessionUseRecorded: authenticating with a session last used over a
// minute ago records its use, once, without the request waiting for that
// write or counting its statements; Wait waits for the write.
func TestSessionUseRecorded(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := fixture.New(t, dbURL)
		u := w.Orgs[0].Supervisor
		s := auth.New(w.Client, auth.Options{SessionTTL: time.Hour, Limits: ratelimit.New(w.DB.Driver, nil)}, quiet)
		sys := fixture.System()
		stale := time.Now().Add(-time.Hour).Truncate(time.Second)
		w.Client.Session.UpdateOneID(u.SessionID).SetLastUsedAt(stale).ExecX(sys)
		var count store.Counter
		if _, _, err := s.SocketInit(store.WithCounter(context.Background(), &count), map[string]any{"authorization": "Bearer " + u.Token}); err != nil {
			t.Fatal(err)
		}
		if n := count.Count(); n != 1 {
			t.Errorf("authenticating with a stale session ran %d statements in the request, want 1", n)
		}
		s.Wait() // what a server does before it closes its database
		if used := w.Client.Session.GetX(sys, u.SessionID).LastUsedAt; !used.After(stale) {
			t.Fatal("the session's use was not recorded once Wait returned")
		}
	})
}
