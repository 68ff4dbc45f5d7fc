package limits

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzLimits sends arbitrary query text and variables, plain or as
// persisted queries, through a server with tight limits: it must never
// panic or answer 5xx, and every error must carry a code.
func FuzzLimits(f *testing.F) {
	for _, seed := range []struct {
		query, vars string
		mode        uint8
	}{
		{`{ me { id } }`, ``, 0},
		{`{ me { id } }`, ``, 1},
		{`{ me { id } }`, ``, 2},
		{`{ me { id } }`, ``, 3},
		{nested(12), ``, 0},
		{aliases(8), ``, 0},
		{fragmentChain(8), ``, 0},
		{`query($n: Int) { users(first: $n) { edges { node { id divisions { name } } } } }`, `{"n": 21}`, 0},
		{`query($n: Int) { users(last: $n) { totalCount } }`, `{"n": "x"}`, 0},
		{`query($n: Int = 50) { users(first: $n) { totalCount } }`, `{}`, 1},
		{`query($ids: [ID!]!) { nodes(ids: $ids) { id ... on User { role { name } } } }`, `{"ids": ["1", 2, null]}`, 0},
		{`query($s: Boolean!) { me { manager @skip(if: $s) { id } } }`, `{"s": true}`, 0},
		{`{ me { ...A } } fragment A on User { manager { ...A } }`, ``, 0},
		{`{ me { ...A ...A } } fragment A on User { a: id b: id }`, ``, 0},
		{`{ __schema { types { name } } __type(name: "User") { name } }`, ``, 0},
		{`{ users(where: {availability: AVAILABL}) { totalCount } }`, ``, 0},
		{introspectionQuery, ``, 1},
		{`mutation { setAvailability(availability: BUSY) { id } }`, ``, 0},
		{`{ users(first: 99999999999999999999) { totalCount } }`, ``, 0},
		{`{ me { id "unterminated } }`, ``, 0},
		{strings.Repeat("{", 500), ``, 0},
		{"# é\n{ me { id } }", `{"a": {"b": [1, 2.5, true]}}`, 0},
	} {
		f.Add(seed.query, seed.vars, seed.mode)
	}

	cfg := Defaults(true)
	cfg.MaxQueryLength = 2000
	cfg.MaxTokens = 300
	cfg.MaxDepth = 6
	cfg.MaxAliases = 5
	cfg.MaxComplexity = 200
	cfg.MaxPageSize = 20
	cfg.APQCacheSize = 50
	srv := newTestServer(f, cfg)

	f.Fuzz(func(t *testing.T, query, vars string, mode uint8) {
		req := map[string]any{}
		switch mode % 4 {
		case 0: // plain
			req["query"] = query
		case 1: // persisted, with its query
			req["query"] = query
			req["extensions"] = apq(sha(query), 1)
		case 2: // persisted, hash only
			req["extensions"] = apq(sha(query), 1)
		case 3: // persisted, hash of something else
			req["query"] = query
			req["extensions"] = apq(sha(query+" "), 1)
		}
		if v := strings.TrimSpace(vars); strings.HasPrefix(v, "{") && json.Valid([]byte(v)) {
			req["variables"] = json.RawMessage(v)
		}
		body, err := json.Marshal(req)
		if err != nil {
			t.Skip()
		}
		hr := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		hr.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, hr)

		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var resp struct {
			Data   json.RawMessage `json:"data"`
			Errors []gqlError      `json:"errors"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("status %d, body is not JSON: %v: %s", rec.Code, err, rec.Body)
		}
		if len(resp.Errors) == 0 && string(resp.Data) != okData {
			t.Fatalf("status %d, neither executed nor refused: %s", rec.Code, rec.Body)
		}
		for _, e := range resp.Errors {
			if e.code() == "" {
				t.Fatalf("error without a code: %s", rec.Body)
			}
		}
	})
}
