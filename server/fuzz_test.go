package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"roster/internal/apierr"
	"roster/internal/store/storetest"
)

// startFuzzServer starts a server for the inputs of a fuzz test and
// returns it with an admin client and the ID of the Agent role.
func startFuzzServer(f *testing.F) (*server, *client, string) {
	srv := startServer(f, storetest.SQLiteURL(f))
	admin := srv.login(f, "admin@acme.test", adminPassword)
	var roles struct {
		Roles struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	admin.do(f, `{ roles(where: {builtin: AGENT}) { edges { node { id } } } }`, nil).decode(f, &roles)
	return srv, admin, roles.Roles.Edges[0].Node.ID
}

// FuzzGraphQLRequest sends arbitrary requests to /graphql: whatever the
// method, content type and body, the answer is never a 5xx, and an error
// answer is JSON whose every error carries a code.
func FuzzGraphQLRequest(f *testing.F) {
	srv, admin, _ := startFuzzServer(f)
	for _, seed := range []struct{ method, contentType, body string }{
		{"POST", "application/json", `{"query":"{ me { id email role { name } } }"}`},
		{"POST", "application/json", `{"query":"query Q($f: Int) { users(first: $f) { totalCount } }","variables":{"f":"x"}}`},
		{"POST", "application/json", `{"query":"mutation { createDivision(input: {name: \"\"}) { id } }"}`},
		{"POST", "application/json", `{"query":"{ users(after: \"AAAA\") { totalCount } }"}`},
		{"POST", "application/json", `{"query":`},
		{"POST", "application/json", `[]`},
		{"POST", "text/plain", `query`},
		{"GET", "", ``},
		{"POST", "application/json", `{"query":"{ node(id: \"-1\") { id } }"}`},
		{"POST", "application/json", `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"00"}}}`},
	} {
		f.Add(seed.method, seed.contentType, seed.body)
	}
	f.Fuzz(func(t *testing.T, method, contentType, body string) {
		if method != "GET" && method != "POST" {
			method = "POST"
		}
		if strings.ContainsFunc(contentType, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return // no client can send that header
		}
		req, err := http.NewRequest(method, srv.url+"/graphql", strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", "Bearer "+admin.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %q %q: %d %s", method, contentType, body, resp.StatusCode, raw)
		}
		checkErrorsCoded(t, raw)
	})
}

// FuzzUserInput creates users from arbitrary input: a user is created or
// refused with BAD_USER_INPUT, CONFLICT or NOT_FOUND naming the field,
// never anything else.
func FuzzUserInput(f *testing.F) {
	_, admin, agentRole := startFuzzServer(f)
	f.Add("Ana", "Lee", "", "ana@example.com", "+6281234567890", "https://example.com/a.png", "ALL_DIVISIONS")
	f.Add(" ", "\x00", "\u202e", "ANA@EXAMPLE.COM", "0812", "javascript:x", "NOPE")
	f.Add(strings.Repeat("a", 300), "b", "c", "a@b", "+1 (555) 010-9999", "http://", "ASSIGNED_DIVISIONS")
	f.Fuzz(func(t *testing.T, first, last, display, email, phone, avatar, access string) {
		in := map[string]any{"firstName": first, "lastName": last, "email": email, "roleID": agentRole, "chatAccess": access}
		if display != "" {
			in["displayName"] = display
		}
		if phone != "" {
			in["phone"] = phone
		}
		if avatar != "" {
			in["avatarURL"] = avatar
		}
		body, _ := json.Marshal(map[string]any{
			"query":     `mutation($i: CreateUserInput!) { createUser(input: $i) { id email displayName } }`,
			"variables": map[string]any{"i": in},
		})
		req, _ := http.NewRequest("POST", admin.url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%d %s", resp.StatusCode, raw)
		}
		var r response
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("not JSON: %s", raw)
		}
		for _, e := range r.Errors {
			switch e.Extensions.Code {
			case "BAD_USER_INPUT", "CONFLICT", "NOT_FOUND":
				if e.Extensions.Field == "" {
					t.Errorf("%s without a field: %q", e.Extensions.Code, e.Message)
				}
			default:
				t.Errorf("input %v: error %s %q", in, e.Extensions.Code, e.Message)
			}
		}
	})
}

func checkErrorsCoded(t *testing.T, raw []byte) {
	t.Helper()
	var r struct {
		Errors []struct {
			Message    string
			Extensions map[string]any
		}
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("not JSON: %q", raw)
	}
	for _, e := range r.Errors {
		if code, _ := e.Extensions["code"].(string); !apierr.Known(apierr.Code(code)) {
			t.Errorf("error without one of apierr's codes: %q (%v)", e.Message, e.Extensions["code"])
		}
		if e.Extensions["code"] == "INTERNAL" {
			t.Errorf("internal error for %q", raw)
		}
	}
}
