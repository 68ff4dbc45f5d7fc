package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"roster/internal/apierr"
	"roster/internal/store/storetest"
)

// TestErrorCodes sends requests that fail on each path a request can take
// (refused before GraphQL, by gqlgen, by the limits, by entgql, by a
// resolver) and checks each answer carries the expected code, defined in
// apierr.
func TestErrorCodes(t *testing.T) {
	t.Parallel()
	srv := startServer(t, storetest.SQLiteURL(t), "ROSTER_INTROSPECTION", "false", "ROSTER_MAX_DEPTH", "5")
	admin := srv.login(t, "admin@acme.test", adminPassword)
	post := func(body, contentType, token string) func() (*http.Response, error) {
		return func() (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodPost, srv.url+"/graphql", strings.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			return http.DefaultClient.Do(req)
		}
	}
	gql := func(query, token string) func() (*http.Response, error) {
		b, _ := json.Marshal(map[string]any{"query": query})
		return post(string(b), "application/json", token)
	}
	get := func(params url.Values) func() (*http.Response, error) {
		return func() (*http.Response, error) { return http.Get(srv.url + "/graphql?" + params.Encode()) }
	}
	hash := sha256.Sum256([]byte("{ me { id } }"))
	for _, tc := range []struct {
		name  string
		send  func() (*http.Response, error)
		code  apierr.Code
		field string
	}{
		{"not JSON", post("query=x", "application/x-www-form-urlencoded", ""), apierr.BadRequest, ""},
		{"malformed JSON", post(`{"query": `, "application/json", ""), apierr.BadRequest, ""},
		{"mutation by GET", get(url.Values{"query": {"mutation { logout }"}}), apierr.BadRequest, ""},
		{"syntax error", gql("{ me { ", admin.token), apierr.ParseFailed, ""},
		{"unknown field", gql("{ nope }", admin.token), apierr.ValidationFailed, ""},
		{"introspection off", gql("{ __schema { types { name } } }", admin.token), apierr.BadRequest, ""},
		{"too deep", gql("{ me { divisions { members { edges { node { id } } } } } }", admin.token), apierr.QueryTooComplex, ""},
		{"page too large", gql("{ users(first: 1000) { totalCount } }", admin.token), apierr.BadUserInput, "first"},
		{"negative page", gql("{ users(first: -1) { totalCount } }", admin.token), apierr.BadUserInput, "first"},
		{"first and last", gql("{ users(first: 1, last: 1) { totalCount } }", admin.token), apierr.BadUserInput, "last"},
		{"persisted query unknown", get(url.Values{"extensions": {`{"persistedQuery": {"version": 1, "sha256Hash": "` + hex.EncodeToString(hash[:]) + `"}}`}}), apierr.PersistedQueryNotFound, ""},
		{"no token", gql("{ me { id } }", ""), apierr.Unauthenticated, ""},
		{"bad token", gql("{ me { id } }", "rst_nope"), apierr.Unauthenticated, ""},
		{"unknown ID", gql(`{ node(id: "4294999999") { id } }`, admin.token), apierr.NotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := tc.send()
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var r struct {
				Errors []struct {
					Message    string
					Extensions map[string]any
				}
			}
			if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&r); err != nil || len(r.Errors) == 0 {
				t.Fatalf("status %d, want a GraphQL error, got %s", resp.StatusCode, raw)
			}
			for _, e := range r.Errors {
				if code, _ := e.Extensions["code"].(string); !apierr.Known(apierr.Code(code)) {
					t.Errorf("code %q is not one of apierr's: %s", code, raw)
				}
			}
			e := r.Errors[0]
			if e.Extensions["code"] != string(tc.code) || (tc.field != "" && e.Extensions["field"] != tc.field) {
				t.Errorf("got %s, want code %s field %q", raw, tc.code, tc.field)
			}
		})
	}
}
