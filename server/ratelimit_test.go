package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"roster/ent/organization"
	"roster/internal/account"
	"roster/internal/fixture"
	"roster/internal/store/storetest"
	"roster/internal/viewer"
)

// loginAttempt logs in (into org when not empty) and returns the code of
// the error ("" on success) and its retryAfter.
func loginAttempt(t *testing.T, srv *server, email, password, org string) (code string, retryAfter int) {
	t.Helper()
	in := vars{"email": email, "password": password}
	if org != "" {
		in["organizationID"] = org
	}
	body, _ := json.Marshal(map[string]any{"query": `mutation($i: LoginInput!) { login(input: $i) { token } }`, "variables": vars{"i": in}})
	resp, err := http.Post(srv.url+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Login *struct{ Token string }
		}
		Errors []struct {
			Message    string
			Extensions struct {
				Code       string
				RetryAfter int
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) > 0 {
		return r.Errors[0].Extensions.Code, r.Errors[0].Extensions.RetryAfter
	}
	if r.Data.Login == nil || r.Data.Login.Token == "" {
		t.Fatalf("login into %q: no token and no error", org)
	}
	return "", 0
}

// twoOrganizations adds to the server's database a second organization
// whose admin has the first one's email, and returns both organizations'
// IDs.
func twoOrganizations(t *testing.T, dbURL string) (first, second string) {
	t.Helper()
	ctx := context.Background()
	db := fixture.MustOpenDB(t, dbURL)
	org, _, err := account.CreateOrganization(ctx, db.Client, "Other Inc", account.Admin{FirstName: "Olga", LastName: "Other", Email: "admin@acme.test", Password: otherPassword})
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.Client.Organization.Query().Where(organization.IDNEQ(org.ID)).OnlyID(viewer.NewSystemContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(id), strconv.Itoa(org.ID)
}

const otherPassword = "other admin password"

// TestLoginLimitPerOrganization: the same email in two organizations is
// two accounts with a limit each; a success in one forgives nothing in the
// other, and one account over its limit does not keep the other from
// logging in.
func TestLoginLimitPerOrganization(t *testing.T) {
	t.Parallel()
	for _, target := range storetest.Targets {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			url := target.URL(t)
			srv := startServer(t, url)
			a, b := twoOrganizations(t, url)
			const email = "admin@acme.test"
			want := func(step, code, wantCode string) {
				t.Helper()
				if code != wantCode {
					t.Fatalf("%s: got %q, want %q", step, code, wantCode)
				}
			}
			for i := range 9 {
				code, _ := loginAttempt(t, srv, email, "wrong password", a)
				want("failure "+strconv.Itoa(i+1)+" in A", code, "UNAUTHENTICATED")
			}
			code, _ := loginAttempt(t, srv, email, otherPassword, b)
			want("success in B", code, "")
			code, _ = loginAttempt(t, srv, email, "wrong password", a)
			want("failure 10 in A, after B's success", code, "UNAUTHENTICATED")
			code, retry := loginAttempt(t, srv, email, adminPassword, a)
			want("right password in A, over its limit", code, "RATE_LIMITED")
			if retry < 1 || retry > 90 {
				t.Errorf("retryAfter = %d, want 1 to 90 seconds", retry)
			}
			// Without naming the organization: B is tried, A is not.
			code, _ = loginAttempt(t, srv, email, otherPassword, "")
			want("B's password, no organization named", code, "")
			code, _ = loginAttempt(t, srv, email, adminPassword, "")
			want("A's password, no organization named", code, "RATE_LIMITED")
			code, _ = loginAttempt(t, srv, email, "wrong password", b)
			want("failure in B", code, "UNAUTHENTICATED")
			// An email with no account is limited like one with.
			for range 10 {
				loginAttempt(t, srv, "nobody@acme.test", "wrong password", "")
			}
			code, _ = loginAttempt(t, srv, "nobody@acme.test", "wrong password", "")
			want("unknown email over the limit", code, "RATE_LIMITED")
		})
	}
}

// TestPasswordLimitOverWebsocket: checking the current password over the
// websocket spends the account's login limit, the one HTTP logins spend,
// and is refused with RATE_LIMITED and retryAfter there too.
func TestPasswordLimitOverWebsocket(t *testing.T) {
	t.Parallel()
	srv := startServer(t, storetest.SQLiteURL(t))
	ws := dialWS(t, srv.url, srv.login(t, "admin@acme.test", adminPassword).token)
	for i := range 9 {
		if code, _ := loginAttempt(t, srv, "admin@acme.test", "wrong password", ""); code != "UNAUTHENTICATED" {
			t.Fatalf("failure %d over HTTP: %s", i+1, code)
		}
	}
	change := func(id string) (code string, retryAfter int) {
		payload, _ := json.Marshal(map[string]any{"query": `mutation($c: String!) { changeMyPassword(currentPassword: $c, newPassword: "a brand new password 1") }`,
			"variables": vars{"c": "wrong password"}})
		ws.send(wsMessage{ID: id, Type: "subscribe", Payload: payload})
		m := ws.read()
		var p struct {
			Errors []struct {
				Extensions struct {
					Code       string
					RetryAfter int
				}
			}
		}
		if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil || len(p.Errors) == 0 {
			t.Fatalf("want an error, got %s %s", m.Type, m.Payload)
		}
		if m := ws.read(); m.Type != "complete" {
			t.Errorf("want complete, got %s %s", m.Type, m.Payload)
		}
		return p.Errors[0].Extensions.Code, p.Errors[0].Extensions.RetryAfter
	}
	if code, _ := change("1"); code != "BAD_USER_INPUT" {
		t.Fatalf("10th attempt, over the websocket: %s, want BAD_USER_INPUT (wrong password)", code)
	}
	if code, retry := change("2"); code != "RATE_LIMITED" || retry < 1 {
		t.Errorf("11th attempt, over the websocket: %s, retryAfter %d; want RATE_LIMITED", code, retry)
	}
	if code, _ := loginAttempt(t, srv, "admin@acme.test", adminPassword, ""); code != "RATE_LIMITED" {
		t.Errorf("login over HTTP after them: %q, want RATE_LIMITED", code)
	}
}

// TestLoginLimitSharedByInstances: two instances on one PostgreSQL count
// the same attempts.
func TestLoginLimitSharedByInstances(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	first := startServer(t, url)
	second := startServer(t, url)
	for i := range 10 {
		srv := []*server{first, second}[i%2]
		if code, _ := loginAttempt(t, srv, "admin@acme.test", "wrong password", ""); code != "UNAUTHENTICATED" {
			t.Fatalf("failure %d: %s", i+1, code)
		}
	}
	for i, srv := range []*server{first, second} {
		if code, retry := loginAttempt(t, srv, "admin@acme.test", adminPassword, ""); code != "RATE_LIMITED" || retry < 1 {
			t.Errorf("instance %d after 10 failures in all: %q, retryAfter %d; want RATE_LIMITED", i+1, code, retry)
		}
	}
}
