package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"roster/internal/store/storetest"
)

func TestNegotiate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accept, want string
		ok           bool
	}{
		{"", mediaGraphQLResponse, true}, // after the watershed
		{"application/json", mediaJSON, true},
		{"application/graphql-response+json", mediaGraphQLResponse, true},
		{"*/*", mediaGraphQLResponse, true},
		{"application/*", mediaGraphQLResponse, true},
		{"application/graphql-response+json, application/json;q=0.9", mediaGraphQLResponse, true},
		{"application/graphql-response+json;q=0.5, application/json", mediaJSON, true},
		{"application/json, */*;q=0.1", mediaJSON, true},
		{"application/json, multipart/mixed", mediaJSON, true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", mediaGraphQLResponse, true},
		{"Application/JSON", mediaJSON, true},
		{"text/html", "", false},
		{"application/json;q=0", "", false},
		{"application/xml, text/plain", "", false},
	}
	for _, tt := range tests {
		got, ok := negotiate(tt.accept)
		if got != tt.want || ok != tt.ok {
			t.Errorf("negotiate(%q) = %q, %v; want %q, %v", tt.accept, got, ok, tt.want, tt.ok)
		}
	}
}

func TestGraphQLOverHTTP(t *testing.T) {
	t.Parallel()
	srv := startServer(t, storetest.SQLiteURL(t))
	admin := srv.login(t, "admin@acme.test", adminPassword)

	const (
		jsonMedia = "application/json"
		gqlMedia  = "application/graphql-response+json"
	)
	tests := []struct {
		name, method, accept, body, query string
		token                             bool
		wantStatus                        int
		wantMedia                         string
		wantData                          bool // a data entry, even null
		wantErrors                        bool
	}{
		{name: "query, no Accept: graphql-response+json", method: "POST", body: `{"query": "{ me { id } }"}`, token: true,
			wantStatus: 200, wantMedia: gqlMedia, wantData: true},
		{name: "query, */*", method: "POST", accept: "*/*", body: `{"query": "{ me { id } }"}`, token: true,
			wantStatus: 200, wantMedia: gqlMedia, wantData: true},
		{name: "query, application/json", method: "POST", accept: jsonMedia, body: `{"query": "{ me { id } }"}`, token: true,
			wantStatus: 200, wantMedia: jsonMedia, wantData: true},
		{name: "query by GET, graphql-response+json", method: "GET", accept: gqlMedia, query: "{ me { id } }", token: true,
			wantStatus: 200, wantMedia: gqlMedia, wantData: true},
		{name: "parse error, application/json: 200 without data", method: "POST", accept: jsonMedia, body: `{"query": "{"}`,
			wantStatus: 200, wantMedia: jsonMedia, wantErrors: true},
		{name: "parse error, graphql-response+json: 400 without data", method: "POST", accept: gqlMedia, body: `{"query": "{"}`,
			wantStatus: 400, wantMedia: gqlMedia, wantErrors: true},
		{name: "validation error, application/json: 200 without data", method: "POST", accept: jsonMedia, body: `{"query": "{ noSuchField }"}`,
			wantStatus: 200, wantMedia: jsonMedia, wantErrors: true},
		{name: "validation error, graphql-response+json: 400 without data", method: "POST", accept: gqlMedia, body: `{"query": "{ noSuchField }"}`,
			wantStatus: 400, wantMedia: gqlMedia, wantErrors: true},
		{name: "validation error by GET, graphql-response+json", method: "GET", accept: gqlMedia, query: "{ noSuchField }",
			wantStatus: 400, wantMedia: gqlMedia, wantErrors: true},
		{name: "operation cannot be determined, application/json", method: "POST", accept: jsonMedia, body: `{"query": "query A { me { id } } query B { me { id } }"}`,
			wantStatus: 200, wantMedia: jsonMedia, wantErrors: true},
		{name: "operation cannot be determined, graphql-response+json", method: "POST", accept: gqlMedia, body: `{"query": "query A { me { id } } query B { me { id } }"}`,
			wantStatus: 400, wantMedia: gqlMedia, wantErrors: true},
		{name: "variables do not coerce, application/json", method: "POST", accept: jsonMedia, body: `{"query": "query($n: Int!) { users(first: $n) { totalCount } }", "variables": {"n": "many"}}`, token: true,
			wantStatus: 200, wantMedia: jsonMedia, wantErrors: true},
		{name: "variables do not coerce, graphql-response+json", method: "POST", accept: gqlMedia, body: `{"query": "query($n: Int!) { users(first: $n) { totalCount } }", "variables": {"n": "many"}}`, token: true,
			wantStatus: 400, wantMedia: gqlMedia, wantErrors: true},
		{name: "executed with an error, graphql-response+json: 200 with data", method: "POST", accept: gqlMedia, body: `{"query": "{ me { id } }"}`,
			wantStatus: 200, wantMedia: gqlMedia, wantData: true, wantErrors: true},
		{name: "executed with an error, application/json: 200 with data", method: "POST", accept: jsonMedia, body: `{"query": "{ me { id } }"}`,
			wantStatus: 200, wantMedia: jsonMedia, wantData: true, wantErrors: true},
		{name: "body not JSON, graphql-response+json: 400", method: "POST", accept: gqlMedia, body: `NONSENSE`,
			wantStatus: 400, wantMedia: gqlMedia, wantErrors: true},
		{name: "body not JSON, application/json: 400", method: "POST", accept: jsonMedia, body: `{"query":`,
			wantStatus: 400, wantMedia: jsonMedia, wantErrors: true},
		{name: "variables not an object: 400", method: "POST", accept: gqlMedia, body: `{"query": "{ me { id } }", "variables": [7]}`,
			wantStatus: 400, wantMedia: gqlMedia, wantErrors: true},
		{name: "nothing acceptable: 406", method: "POST", accept: "text/html", body: `{"query": "{ me { id } }"}`, token: true,
			wantStatus: 406, wantErrors: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := srv.url + "/graphql"
			if tt.query != "" {
				u += "?query=" + url.QueryEscape(tt.query)
			}
			req, _ := http.NewRequest(tt.method, u, strings.NewReader(tt.body))
			if tt.method == "POST" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			if tt.token {
				req.Header.Set("Authorization", "Bearer "+admin.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, raw)
			}
			if ct := resp.Header.Get("Content-Type"); tt.wantMedia != "" && ct != tt.wantMedia+"; charset=utf-8" {
				t.Errorf("Content-Type %q, want %s; charset=utf-8", ct, tt.wantMedia)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("body %s: %v", raw, err)
			}
			if _, ok := body["data"]; ok != tt.wantData {
				t.Errorf("data entry present: %v, want %v: %s", ok, tt.wantData, raw)
			}
			if _, ok := body["errors"]; ok != tt.wantErrors {
				t.Errorf("errors entry present: %v, want %v: %s", ok, tt.wantErrors, raw)
			}
		})
	}
}
