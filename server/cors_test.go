package main

import (
	"net/http"
	"strings"
	"testing"

	"roster/internal/store/storetest"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	const allowed, other = "https://admin.example.com", "https://evil.example.net"
	srv := startServer(t, storetest.SQLiteURL(t), "ROSTER_ALLOWED_ORIGINS", "https://app.example.com, "+allowed)
	admin := srv.login(t, "admin@acme.test", adminPassword)

	tests := []struct {
		name, method, origin, contentType, body string
		headers                                 map[string]string
		wantStatus                              int
		wantAllowed                             bool
	}{
		{name: "preflight of a mutation from an allowed origin", method: http.MethodOptions, origin: allowed,
			headers:    map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"},
			wantStatus: http.StatusNoContent, wantAllowed: true},
		{name: "preflight from another origin", method: http.MethodOptions, origin: other,
			headers:    map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"},
			wantStatus: http.StatusNoContent},
		{name: "query from an allowed origin", method: http.MethodPost, origin: allowed, contentType: "application/json",
			body: `{"query": "{ me { id } }"}`, wantStatus: http.StatusOK, wantAllowed: true},
		{name: "mutation from an allowed origin", method: http.MethodPost, origin: allowed, contentType: "application/json",
			body: `{"query": "mutation { setMyAvailability(availability: AWAY) { availability } }"}`, wantStatus: http.StatusOK, wantAllowed: true},
		{name: "query from another origin: answered, but not readable", method: http.MethodPost, origin: other, contentType: "application/json",
			body: `{"query": "{ me { id } }"}`, wantStatus: http.StatusOK},
		{name: "form post from an allowed origin is still refused", method: http.MethodPost, origin: allowed, contentType: "text/plain",
			body: `{"query": "mutation { logout }"}`, wantStatus: http.StatusUnsupportedMediaType, wantAllowed: true},
		{name: "GET mutation from an allowed origin is still refused", method: http.MethodGet, origin: allowed,
			body: "", wantStatus: http.StatusMethodNotAllowed, wantAllowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := srv.url + "/graphql"
			if tt.method == http.MethodGet {
				url += "?query=mutation%7Blogout%7D"
			}
			req, _ := http.NewRequest(tt.method, url, strings.NewReader(tt.body))
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Authorization", "Bearer "+admin.token)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %s, want %d", resp.Status, tt.wantStatus)
			}
			if !headerHas(resp.Header, "Vary", "Origin") {
				t.Errorf("Vary = %q, want Origin in it", resp.Header.Values("Vary"))
			}
			got := resp.Header.Get("Access-Control-Allow-Origin")
			if !tt.wantAllowed {
				for k := range resp.Header {
					if strings.HasPrefix(k, "Access-Control-") {
						t.Errorf("refused origin got %s: %s", k, resp.Header.Get(k))
					}
				}
				return
			}
			if got != tt.origin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.origin)
			}
			if tt.method == http.MethodOptions {
				if m := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") || !strings.Contains(m, "GET") {
					t.Errorf("Access-Control-Allow-Methods = %q", m)
				}
				for _, h := range []string{"Authorization", "Content-Type"} {
					if !headerHas(resp.Header, "Access-Control-Allow-Headers", h) {
						t.Errorf("Access-Control-Allow-Headers = %q, want %s", resp.Header.Get("Access-Control-Allow-Headers"), h)
					}
				}
			}
		})
	}

	t.Run("websocket from an allowed origin, not from another", func(t *testing.T) {
		t.Parallel()
		for origin, want := range map[string]int{allowed: http.StatusSwitchingProtocols, other: http.StatusForbidden} {
			req, _ := http.NewRequest(http.MethodGet, srv.url+"/graphql", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			req.Header.Set("Sec-WebSocket-Protocol", "graphql-transport-ws")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("upgrade from %s: %s, want %d", origin, resp.Status, want)
			}
		}
	})
}

// headerHas reports whether a comma-separated header of h lists value.
func headerHas(h http.Header, name, value string) bool {
	for _, v := range h.Values(name) {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), value) {
				return true
			}
		}
	}
	return false
}
