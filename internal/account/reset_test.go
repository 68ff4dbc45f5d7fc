package account_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"testing"
	"time"

	"roster/ent"
	entmail "roster/ent/mail"
	"roster/internal/account"
	"roster/internal/apierr"
	"roster/internal/auth"
	"roster/internal/fixture"
	"roster/internal/mail"
	"roster/internal/ratelimit"
	"roster/internal/store"
)

var resetToken = regexp.MustCompile(`reset-password\?token=(\S+)`)

// resetService is an account service whose clock the test moves.
func resetService(t *testing.T, w *fixture.World, clk *clock) *account.Service {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	authn := auth.New(w.Client, auth.Options{SessionTTL: time.Hour, SendMail: mail.Enqueue, Limits: ratelimit.New(w.DB.Driver, nil)}, log)
	return account.New(w.Client, authn, account.Options{PasswordResetTTL: time.Hour, PublicURL: "https://app.example.com", SendMail: mail.Enqueue, Now: clk.now}, log)
}

// request asks for a reset of email from client address ip, in one
// transaction as the API does, and returns how long it took.
func request(t *testing.T, w *fixture.World, svc *account.Service, email, ip string) time.Duration {
	t.Helper()
	ctx := auth.WithDevice(context.Background(), auth.Device{IP: ip})
	start := time.Now()
	if err := store.Transact(ctx, w.Client, func(ctx context.Context) error { return svc.RequestPasswordReset(ctx, email, 0) }); err != nil {
		t.Fatalf("request reset of %s: %v", email, err)
	}
	return time.Since(start)
}

func lastToken(t *testing.T, w *fixture.World, to string) string {
	t.Helper()
	m, err := w.Client.Mail.Query().Where(entmail.To(to)).Order(ent.Desc(entmail.FieldID)).First(fixture.System())
	if err != nil {
		t.Fatal(err)
	}
	sm := resetToken.FindStringSubmatch(m.Body)
	if sm == nil {
		t.Fatalf("no reset link in %q", m.Body)
	}
	tok, _ := url.QueryUnescape(sm[1])
	return tok
}

func reset(w *fixture.World, svc *account.Service, token, pw string) error {
	return store.Transact(context.Background(), w.Client, func(ctx context.Context) error { return svc.ResetPassword(ctx, token, pw) })
}

func TestPasswordResetExpires(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := fixture.New(t, dbURL, "Acme", "Globex")
		clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
		svc := resetService(t, w, clk)
		for _, tc := range []struct {
			name  string
			after time.Duration
			ok    bool
		}{
			{"just before the hour", time.Hour - time.Second, true},
			{"at the hour", time.Hour, false},
			{"a day later", 24 * time.Hour, false},
		} {
			u := w.Orgs[1].NewUser(t, fixture.Spec{})
			request(t, w, svc, u.Email, "10.0.0.1")
			token := lastToken(t, w, u.Email)
			clk.t = clk.t.Add(tc.after)
			err := reset(w, svc, token, "a brand new passphrase")
			var ae *apierr.Error
			switch {
			case tc.ok && err != nil:
				t.Errorf("%s: %v", tc.name, err)
			case !tc.ok && (!errors.As(err, &ae) || ae.Field != "token"):
				t.Errorf("%s: %v, want BAD_USER_INPUT on token", tc.name, err)
			}
			clk.t = clk.t.Add(-tc.after)
		}
		// A second request replaces the first link.
		u := w.Orgs[0].NewUser(t, fixture.Spec{})
		request(t, w, svc, u.Email, "10.0.0.2")
		first := lastToken(t, w, u.Email)
		request(t, w, svc, u.Email, "10.0.0.2")
		if err := reset(w, svc, first, "a brand new passphrase"); err == nil {
			t.Error("the replaced link still works")
		}
		if err := reset(w, svc, lastToken(t, w, u.Email), "a brand new passphrase"); err != nil {
			t.Error(err)
		}
	})
}

// TestPasswordResetTiming compares the time of requests for emails with
// and without an account: they do the same work, so their times stay
// within a tolerance.
func TestPasswordResetTiming(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		w := fixture.New(t, dbURL, "Acme")
		svc := resetService(t, w, &clock{t: time.Now()})
		const n = 25
		var known, unknown []time.Duration
		for i := range n {
			u := w.Orgs[0].NewUser(t, fixture.Spec{})
			// Alternate, each from an address of its own, so that neither
			// side runs with a warmer cache or meets a rate limit.
			// Which goes first alternates too.
			k := func() { known = append(known, request(t, w, svc, u.Email, fmt.Sprint("10.1.0.", i))) }
			un := func() {
				unknown = append(unknown, request(t, w, svc, fmt.Sprintf("nobody%d@acme.test", i), fmt.Sprint("10.2.0.", i)))
			}
			if i%2 == 0 {
				k()
				un()
			} else {
				un()
				k()
			}
		}
		slices.Sort(known)
		slices.Sort(unknown)
		// The lower quartile: the machine is shared, and load only ever
		// adds time.
		mk, mu := known[n/4], unknown[n/4]
		t.Logf("lower quartile of requests: known email %v, unknown email %v (medians %v, %v)", mk, mu, known[n/2], unknown[n/2])
		// Tolerance: a third of the slower median, at least 3ms (the
		// noise of a shared machine); skipping the writes for an unknown
		// email (about half the work) exceeds it.
		tol := max(max(mk, mu)/3, 3*time.Millisecond)
		if d := mk - mu; d > tol || -d > tol {
			t.Errorf("times differ by %v (known %v, unknown %v), more than %v", d, mk, mu, tol)
		}
	})
}
