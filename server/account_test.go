package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/ent"
	entmail "roster/ent/mail"
	"roster/internal/fixture"
	"roster/internal/otp"
	"roster/internal/store/storetest"
	"roster/internal/viewer"
)

// outbox reads the mails the server queued, from its database.
type outbox struct{ client *ent.Client }

func openOutbox(t *testing.T, dbURL string) *outbox {
	t.Helper()
	return &outbox{client: fixture.MustOpenDB(t, dbURL).Client}
}

// last returns the body of the newest mail to address whose body matches
// re, and the first submatch.
func (o *outbox) last(t *testing.T, to string, re *regexp.Regexp) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m, err := o.client.Mail.Query().Where(entmail.To(to)).Order(ent.Desc(entmail.FieldID)).First(viewer.NewSystemContext(context.Background()))
		if err == nil {
			if sm := re.FindStringSubmatch(m.Body); sm != nil {
				return sm[1]
			}
		}
	}
	t.Fatalf("no mail to %s matching %s", to, re)
	return ""
}

var (
	invitationLink = regexp.MustCompile(`accept-invitation\?token=(\S+)`)
	loginCode      = regexp.MustCompile(`login code is (\d{6})`)
)

func TestAccountLifecycle(t *testing.T) {
	t.Parallel()
	dbURL := storetest.SQLiteURL(t)
	srv := startServer(t, dbURL, "ROSTER_PUBLIC_URL", "https://app.example.com")
	box := openOutbox(t, dbURL)
	admin := srv.login(t, "admin@acme.test", adminPassword)
	var roles struct {
		Roles struct {
			Edges []struct{ Node struct{ ID, Builtin string } }
		}
	}
	admin.do(t, `{ roles { edges { node { id builtin } } } }`, nil).decode(t, &roles)
	role := map[string]string{}
	for _, e := range roles.Roles.Edges {
		role[e.Node.Builtin] = e.Node.ID
	}

	t.Run("invitations", func(t *testing.T) {
		id := admin.createUser(t, vars{"firstName": "Ivy", "lastName": "Invited", "email": "ivy@acme.test", "roleID": role["AGENT"]})
		first, err := url.QueryUnescape(box.last(t, "ivy@acme.test", invitationLink))
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ ResendInvitation struct{ Status string } }
		admin.do(t, `mutation { resendInvitation(id: "`+id+`") { status } }`, nil).decode(t, &got)
		second := first
		for second == first {
			second, _ = url.QueryUnescape(box.last(t, "ivy@acme.test", invitationLink))
		}
		anon := srv.client("")
		accept := `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { token user { id status } } }`
		anon.do(t, accept, vars{"t": first, "p": "ivy's long password"}).wantError(t, "BAD_USER_INPUT", "token")
		anon.do(t, accept, vars{"t": second, "p": "short"}).wantError(t, "BAD_USER_INPUT", "password")
		var accepted struct {
			AcceptInvitation struct {
				Token string
				User  struct{ ID, Status string }
			}
		}
		anon.do(t, accept, vars{"t": second, "p": "ivy's long password"}).decode(t, &accepted)
		if accepted.AcceptInvitation.User.Status != "ACTIVE" {
			t.Errorf("after accepting: %s", accepted.AcceptInvitation.User.Status)
		}
		// Accepting logs the user in.
		if got := mustMe(t, srv.client(accepted.AcceptInvitation.Token)); got != accepted.AcceptInvitation.User.ID {
			t.Errorf("the token of acceptInvitation is %s's, want %s's", got, accepted.AcceptInvitation.User.ID)
		}
		anon.do(t, accept, vars{"t": second, "p": "ivy's long password"}).wantError(t, "BAD_USER_INPUT", "token")
		srv.login(t, "ivy@acme.test", "ivy's long password")
		admin.do(t, `mutation { revokeInvitation(id: "`+id+`") { id } }`, nil).wantError(t, "CONFLICT", "")
	})

	t.Run("archive, restore and delete", func(t *testing.T) {
		id := admin.createUser(t, vars{"firstName": "Al", "lastName": "Archived", "email": "al@acme.test", "roleID": role["AGENT"], "password": "al's long password"})
		al := srv.login(t, "al@acme.test", "al's long password")
		admin.do(t, `mutation { archiveUser(id: "`+id+`") { status } }`, nil).decode(t, new(any))
		al.do(t, `{ me { id } }`, nil).wantError(t, "UNAUTHENTICATED", "")
		var restored struct{ RestoreUser struct{ Status string } }
		admin.do(t, `mutation { restoreUser(id: "`+id+`") { status } }`, nil).decode(t, &restored)
		if restored.RestoreUser.Status != "ACTIVE" {
			t.Errorf("restored as %s", restored.RestoreUser.Status)
		}
		admin.do(t, `mutation { restoreUser(id: "`+id+`") { status } }`, nil).wantError(t, "CONFLICT", "")
		srv.login(t, "al@acme.test", "al's long password")
		admin.do(t, `mutation { deleteUser(id: "`+id+`") }`, nil).decode(t, new(any))
		admin.do(t, `{ node(id: "`+id+`") { id } }`, nil).wantError(t, "NOT_FOUND", "")
	})

	t.Run("passwords and sessions", func(t *testing.T) {
		admin.createUser(t, vars{"firstName": "Pat", "lastName": "Password", "email": "pat@acme.test", "roleID": role["AGENT"], "password": "pat's long password"})
		phone := srv.login(t, "pat@acme.test", "pat's long password")
		laptop := srv.login(t, "pat@acme.test", "pat's long password")
		var mine struct {
			MySessions []struct {
				ID      string
				Current bool
			}
		}
		laptop.do(t, `{ mySessions { id current userAgent } }`, nil).decode(t, &mine)
		if len(mine.MySessions) != 2 || mine.MySessions[0].Current == mine.MySessions[1].Current {
			t.Errorf("sessions = %+v", mine.MySessions)
		}
		change := `mutation($c: String!, $n: String!) { changeMyPassword(currentPassword: $c, newPassword: $n) }`
		laptop.do(t, change, vars{"c": "wrong password!", "n": "pat's new long password"}).wantError(t, "BAD_USER_INPUT", "currentPassword")
		laptop.do(t, change, vars{"c": "pat's long password", "n": "pat@acme.test"}).wantError(t, "BAD_USER_INPUT", "newPassword")
		laptop.do(t, change, vars{"c": "pat's long password", "n": "pat's new long password"}).decode(t, new(any))
		phone.do(t, `{ me { id } }`, nil).wantError(t, "UNAUTHENTICATED", "")
		laptop.do(t, `{ me { id } }`, nil).decode(t, new(any))

		other := srv.login(t, "pat@acme.test", "pat's new long password")
		var sessions struct{ MySessions []struct{ ID string } }
		other.do(t, `{ mySessions { id } }`, nil).decode(t, &sessions)
		var adminSessions struct{ MySessions []struct{ ID string } }
		admin.do(t, `{ mySessions { id } }`, nil).decode(t, &adminSessions)
		other.do(t, `mutation { revokeSession(id: "`+adminSessions.MySessions[0].ID+`") }`, nil).wantError(t, "NOT_FOUND", "")
		other.do(t, `{ userSessions(userID: "`+mustMe(t, admin)+`") { id } }`, nil).wantError(t, "FORBIDDEN", "")
		var n struct{ RevokeUserSessions int }
		admin.do(t, `mutation { revokeUserSessions(userID: "`+mustMe(t, other)+`") }`, nil).decode(t, &n)
		if n.RevokeUserSessions != 2 {
			t.Errorf("revoked %d sessions, want 2", n.RevokeUserSessions)
		}
		laptop.do(t, `{ me { id } }`, nil).wantError(t, "UNAUTHENTICATED", "")
	})

	t.Run("rate limits", func(t *testing.T) {
		var last *response
		for range 11 {
			last = srv.client("").do(t, loginMutation, vars{"i": vars{"email": "nobody@acme.test", "password": "not the password"}})
		}
		last.wantError(t, "RATE_LIMITED", "")
	})

	t.Run("requests that are not safe", func(t *testing.T) {
		for _, tc := range []struct {
			method, path, contentType, body string
			status                          int
		}{
			{"GET", "/graphql?query=" + url.QueryEscape("mutation { logout }"), "", "", http.StatusMethodNotAllowed},
			{"POST", "/graphql", "application/x-www-form-urlencoded", "query=mutation+%7B+logout+%7D", http.StatusUnsupportedMediaType},
			{"POST", "/graphql", "text/plain", `{"query":"mutation { logout }"}`, http.StatusUnsupportedMediaType},
			{"PUT", "/graphql", "application/json", `{"query":"{ me { id } }"}`, http.StatusMethodNotAllowed},
			{"GET", "/graphql?query=" + url.QueryEscape("{ me { id } }") + "&variables=" + url.QueryEscape("[1]"), "", "", http.StatusBadRequest},
			{"POST", "/graphql", "application/json", `{"query": 5}`, http.StatusBadRequest},
		} {
			req, _ := http.NewRequest(tc.method, srv.url+tc.path, strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body response
			decodeJSON(resp, &body)
			if resp.StatusCode != tc.status || len(body.Errors) != 1 || body.Errors[0].Extensions.Code != "BAD_REQUEST" {
				t.Errorf("%s %s (%s): %d %+v", tc.method, tc.path, tc.contentType, resp.StatusCode, body.Errors)
			}
		}
		admin.do(t, `{ users(first: 101) { totalCount } }`, nil).wantError(t, "BAD_USER_INPUT", "first")
		admin.do(t, `{ me { role { users { edges { node { role { users { edges { node { role { users { edges { node { id } } } } } } } } } } } } } }`, nil).wantError(t, "QUERY_TOO_COMPLEX", "")
	})
}

// TestMFA turns on the second factor by moving to the PAID plan, and logs
// in with emailed codes and with an authenticator app.
func TestMFA(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	srv := startServer(t, dbURL)
	box := openOutbox(t, dbURL)
	admin := srv.login(t, "admin@acme.test", adminPassword)
	var org struct{ SetOrganizationPlan struct{ Plan string } }
	admin.do(t, `mutation { setOrganizationPlan(plan: PAID) { plan } }`, nil).decode(t, &org)
	var me struct{ Me struct{ MfaRequired bool } }
	admin.do(t, `{ me { mfaRequired } }`, nil).decode(t, &me)
	if !me.Me.MfaRequired {
		t.Fatal("an admin on the PAID plan needs no second factor")
	}

	challenge := func() string {
		var got struct {
			Login struct {
				Token     *string
				Challenge *struct {
					ID      string
					Methods []string
					SentTo  string
				}
			}
		}
		srv.client("").do(t, loginMutation2, vars{"i": vars{"email": "admin@acme.test", "password": adminPassword}}).decode(t, &got)
		if got.Login.Token != nil || got.Login.Challenge == nil || got.Login.Challenge.SentTo != "a****@acme.test" {
			t.Fatalf("login = %+v", got.Login)
		}
		return got.Login.Challenge.ID
	}
	verify := `mutation($c: String!, $code: String!) { verifyMfa(challengeID: $c, code: $code) { token user { email } } }`

	t.Run("an emailed code", func(t *testing.T) {
		id := challenge()
		code := box.last(t, "admin@acme.test", loginCode)
		wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000)
		srv.client("").do(t, verify, vars{"c": id, "code": wrong}).wantError(t, "UNAUTHENTICATED", "code")
		var ok struct{ VerifyMfa struct{ Token string } }
		srv.client("").do(t, verify, vars{"c": id, "code": code}).decode(t, &ok)
		srv.client(ok.VerifyMfa.Token).do(t, `{ me { id } }`, nil).decode(t, new(any))
		srv.client("").do(t, verify, vars{"c": id, "code": code}).wantError(t, "UNAUTHENTICATED", "")
	})

	t.Run("codes are resent sparingly", func(t *testing.T) {
		id := challenge()
		box.last(t, "admin@acme.test", loginCode)
		srv.client("").do(t, `mutation($c: String!) { resendMfaCode(challengeID: $c) { id } }`, vars{"c": id}).wantError(t, "RATE_LIMITED", "")
		srv.client("").do(t, `mutation { resendMfaCode(challengeID: "mfa_unknown") { id } }`, nil).wantError(t, "UNAUTHENTICATED", "")
	})

	t.Run("50 parallel wrong codes count as 50", func(t *testing.T) {
		id := challenge()
		code := box.last(t, "admin@acme.test", loginCode)
		wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000)
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv.client("").do(t, verify, vars{"c": id, "code": wrong})
			}()
		}
		wg.Wait()
		ch, err := box.client.MfaChallenge.Get(viewer.NewSystemContext(context.Background()), id)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Attempts != 50 {
			t.Errorf("%d attempts counted, want 50", ch.Attempts)
		}
		srv.client("").do(t, verify, vars{"c": id, "code": code}).wantError(t, "UNAUTHENTICATED", "")
	})

	t.Run("an authenticator app", func(t *testing.T) {
		var enrol struct{ BeginTotpEnrollment struct{ Secret, URI string } }
		admin.do(t, `mutation { beginTotpEnrollment { secret uri } }`, nil).decode(t, &enrol)
		secret, err := otp.DecodeSecret(enrol.BeginTotpEnrollment.Secret)
		if err != nil || !strings.HasPrefix(enrol.BeginTotpEnrollment.URI, "otpauth://totp/") {
			t.Fatalf("enrolment = %+v (%v)", enrol, err)
		}
		admin.do(t, `mutation { confirmTotpEnrollment(code: "000000") { totpEnabled } }`, nil).wantError(t, "BAD_USER_INPUT", "code")
		// Confirm with the previous step's code, so that the login below
		// can use the current one.
		var confirmed struct{ ConfirmTotpEnrollment struct{ TotpEnabled bool } }
		admin.do(t, `mutation($c: String!) { confirmTotpEnrollment(code: $c) { totpEnabled } }`, vars{"c": otp.TOTP(secret, time.Now().Add(-otp.Period))}).decode(t, &confirmed)
		if !confirmed.ConfirmTotpEnrollment.TotpEnabled {
			t.Fatal("not enabled")
		}
		id := challenge()
		code := otp.TOTP(secret, time.Now())
		var ok struct{ VerifyMfa struct{ Token string } }
		srv.client("").do(t, verify, vars{"c": id, "code": code}).decode(t, &ok)
		// The same code does not open a second session.
		srv.client("").do(t, verify, vars{"c": challenge(), "code": code}).wantError(t, "UNAUTHENTICATED", "code")
	})
}

const loginMutation2 = `mutation($i: LoginInput!) { login(input: $i) { token challenge { id methods sentTo expiresAt } } }`

func atoi(s string) int {
	n := 0
	fmt.Sscanf(s, "%d", &n)
	return n
}

func mustMe(t *testing.T, c *client) string {
	t.Helper()
	var me struct{ Me struct{ ID string } }
	c.do(t, `{ me { id } }`, nil).decode(t, &me)
	return me.Me.ID
}

func decodeJSON(resp *http.Response, v any) {
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(v)
}
