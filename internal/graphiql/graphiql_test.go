package graphiql

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
)

// newMux returns a mux with the GraphiQL routes registered.
func newMux(t *testing.T, title, endpoint string) *http.ServeMux {
	t.Helper()
	mux := http.NewServeMux()
	Register(mux, title, endpoint)
	return mux
}

// do serves one request on h and returns the recorded response.
func do(t *testing.T, h http.Handler, method, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// readBody reads and closes the body of resp.
func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

var attrURL = regexp.MustCompile(`\b(?:src|href)\s*=\s*"([^"]*)"`)

// pageURLs returns the src and href attribute values of page, and fails the
// test if any of them is not local: no scheme other than data:, no
// scheme-relative or absolute URL.
func pageURLs(t *testing.T, page []byte) (assets []string) {
	t.Helper()
	matches := attrURL.FindAllSubmatch(page, -1)
	if len(matches) == 0 {
		t.Fatalf("page has no src/href attributes:\n%s", page)
	}
	for _, m := range matches {
		u := string(m[1])
		lower := strings.ToLower(u)
		switch {
		case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"),
			strings.HasPrefix(u, "//"), strings.HasPrefix(u, `\\`):
			t.Errorf("page references non-local URL %q", u)
		case strings.HasPrefix(lower, "data:"):
			// Inline, e.g. the empty favicon.
		case strings.Contains(u, ":"):
			t.Errorf("page references URL with a scheme: %q", u)
		default:
			assets = append(assets, u)
		}
	}
	return assets
}

// fetchPage gets the page at pageURL from h and returns the asset URLs it
// references, resolved against pageURL.
func fetchPage(t *testing.T, h http.Handler, pageURL string) []string {
	t.Helper()
	resp := do(t, h, http.MethodGet, pageURL, nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200", pageURL, resp.StatusCode)
	}
	base, err := url.Parse(pageURL)
	if err != nil {
		t.Fatalf("parse %q: %v", pageURL, err)
	}
	var out []string
	for _, ref := range pageURLs(t, body) {
		u, err := base.Parse(ref)
		if err != nil {
			t.Fatalf("parse asset URL %q: %v", ref, err)
		}
		out = append(out, u.Path)
	}
	return out
}

func TestPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, title, endpoint string
		wantTitle, wantAttr   string
	}{
		{"plain", "Roster API", "/graphql", "<title>Roster API</title>", `data-endpoint="/graphql"`},
		{"default title", "", "/query", "<title>GraphiQL</title>", `data-endpoint="/query"`},
		{
			"escaped", `<script>alert("x")</script>`, `/graphql?a="b"&c=<d>`,
			"<title>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</title>",
			`data-endpoint="/graphql?a=&#34;b&#34;&amp;c=&lt;d&gt;"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mux := newMux(t, tt.title, tt.endpoint)
			resp := do(t, mux, http.MethodGet, "/", nil)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			for k, want := range map[string]string{
				"Content-Type":           "text/html; charset=utf-8",
				"X-Content-Type-Options": "nosniff",
				"Content-Security-Policy": "default-src 'none'; script-src 'self'; " +
					"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
					"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			for _, want := range []string{tt.wantTitle, tt.wantAttr, `id="graphiql"`} {
				if !bytes.Contains(body, []byte(want)) {
					t.Errorf("page lacks %q:\n%s", want, body)
				}
			}
			if bytes.Contains(body, []byte("<script>alert")) {
				t.Errorf("page contains the unescaped title:\n%s", body)
			}
			if bytes.Contains(body, []byte("<script>\n")) || regexp.MustCompile(`<script[^>]*>[^<]`).Match(body) {
				t.Errorf("page contains an inline script:\n%s", body)
			}
			assets := pageURLs(t, body)
			if len(assets) != len(pageStyles)+len(pageScripts) {
				t.Errorf("page references %d assets, want %d: %q", len(assets), len(pageStyles)+len(pageScripts), assets)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	mux := newMux(t, "T", "/graphql")
	asset := fetchPage(t, mux, "/")[0]
	dir, file := asset[:strings.LastIndex(asset, "/")+1], asset[strings.LastIndex(asset, "/")+1:]
	tests := []struct {
		name, method, target string
		want                 int
	}{
		{"page", http.MethodGet, "/", http.StatusOK},
		{"page head", http.MethodHead, "/", http.StatusOK},
		{"page post", http.MethodPost, "/", http.StatusMethodNotAllowed},
		{"page put", http.MethodPut, "/", http.StatusMethodNotAllowed},
		{"asset", http.MethodGet, asset, http.StatusOK},
		{"asset head", http.MethodHead, asset, http.StatusOK},
		{"asset post", http.MethodPost, asset, http.StatusMethodNotAllowed},
		{"unknown asset", http.MethodGet, dir + "nope.js", http.StatusNotFound},
		{"wrong hash", http.MethodGet, assetPrefix + "0123456789abcdef/" + file, http.StatusNotFound},
		{"no hash", http.MethodGet, assetPrefix + file, http.StatusNotFound},
		{"embedded VERSIONS not served", http.MethodGet, dir + "VERSIONS", http.StatusNotFound},
		{"assets dir", http.MethodGet, assetPrefix, http.StatusNotFound},
		{"other path", http.MethodGet, "/other", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := do(t, mux, tt.method, tt.target, nil)
			body := readBody(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s: status %d, want %d", tt.method, tt.target, resp.StatusCode, tt.want)
			}
			if tt.method == http.MethodHead && len(body) != 0 {
				t.Errorf("HEAD returned a %d-byte body", len(body))
			}
			if tt.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q, want %q", resp.Header.Get("Allow"), "GET, HEAD")
			}
		})
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	mux := newMux(t, "T", "/graphql")
	for _, asset := range fetchPage(t, mux, "/") {
		t.Run(asset, func(t *testing.T) {
			t.Parallel()
			wantType := "text/css; charset=utf-8"
			if strings.HasSuffix(asset, ".js") {
				wantType = "text/javascript; charset=utf-8"
			}
			check := func(resp *http.Response, wantEncoding string) []byte {
				t.Helper()
				body := readBody(t, resp)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, want 200", resp.StatusCode)
				}
				for k, want := range map[string]string{
					"Content-Type":           wantType,
					"Content-Encoding":       wantEncoding,
					"Cache-Control":          "public, max-age=31536000, immutable",
					"X-Content-Type-Options": "nosniff",
					"Vary":                   "Accept-Encoding",
				} {
					if got := resp.Header.Get(k); got != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
				if len(body) == 0 {
					t.Fatal("empty body")
				}
				if resp.Header.Get("ETag") == "" {
					t.Error("no ETag")
				}
				return body
			}

			plain := check(do(t, mux, http.MethodGet, asset, nil), "")
			if bytes.Contains(plain, []byte("//cdn.")) || bytes.Contains(plain, []byte("unpkg.com/")) {
				t.Errorf("asset mentions a CDN")
			}

			gzResp := do(t, mux, http.MethodGet, asset, http.Header{"Accept-Encoding": {"br, gzip;q=0.8"}})
			gz := check(gzResp, "gzip")
			zr, err := gzip.NewReader(bytes.NewReader(gz))
			if err != nil {
				t.Fatalf("gzip reader: %v", err)
			}
			unzipped, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("gunzip: %v", err)
			}
			if !bytes.Equal(unzipped, plain) {
				t.Error("gunzipped body differs from the plain one")
			}
			if len(gz) >= len(plain) && len(plain) > 1000 {
				t.Errorf("gzip body is %d bytes, plain %d", len(gz), len(plain))
			}

			etag := gzResp.Header.Get("ETag")
			resp := do(t, mux, http.MethodGet, asset, http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {`"x", W/` + etag}})
			if body := readBody(t, resp); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Errorf("If-None-Match: status %d with %d-byte body, want 304 and none", resp.StatusCode, len(body))
			}
			resp = do(t, mux, http.MethodGet, asset, http.Header{"If-None-Match": {etag}})
			if readBody(t, resp); resp.StatusCode != http.StatusOK {
				t.Errorf("plain request with the gzip ETag: status %d, want 200", resp.StatusCode)
			}
		})
	}
}

func TestStripPrefix(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("/tools/", http.StripPrefix("/tools", Handler("T", "/graphql")))
	assets := fetchPage(t, mux, "/tools/")
	if len(assets) == 0 {
		t.Fatal("no assets")
	}
	for _, a := range assets {
		if !strings.HasPrefix(a, "/tools/graphiql/assets/") {
			t.Errorf("asset %q not below the mount point", a)
		}
		resp := do(t, mux, http.MethodGet, a, nil)
		if readBody(t, resp); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", a, resp.StatusCode)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		values []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"gzip"}, true},
		{[]string{"GZIP"}, true},
		{[]string{"x-gzip"}, true},
		{[]string{"deflate, gzip;q=1.0, *;q=0.5"}, true},
		{[]string{"br", "gzip"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q=0.000"}, false},
		{[]string{"*"}, true},
		{[]string{"*;q=0"}, false},
		{[]string{"gzip;q=0, *"}, false},
		{[]string{"identity"}, false},
		{[]string{"br, deflate"}, false},
		{[]string{"gzip;q=bogus"}, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.values, "|"), func(t *testing.T) {
			t.Parallel()
			if got := acceptsGzip(tt.values); got != tt.want {
				t.Errorf("acceptsGzip(%q) = %v, want %v", tt.values, got, tt.want)
			}
		})
	}
}

func TestHandlerRejectsEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		endpoint string
		ok       bool
	}{
		{"/graphql", true},
		{"/api/graphql?x=1", true},
		{"", false},
		{"graphql", false},
		{"//evil.example/graphql", false},
		{`/\evil.example/graphql`, false},
		{"http://example.com/graphql", false},
		{"javascript:alert(1)", false},
		{"/graph\x7fql", false},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			t.Parallel()
			defer func() {
				r := recover()
				if tt.ok && r != nil {
					t.Errorf("Handler(%q) panicked: %v", tt.endpoint, r)
				}
				if !tt.ok && r == nil {
					t.Errorf("Handler(%q) did not panic", tt.endpoint)
				}
			}()
			Handler("T", tt.endpoint)
		})
	}
}

// TestVendoredChecksums checks that the embedded third-party files are the
// ones whose SHA-256 sums assets/VERSIONS records.
func TestVendoredChecksums(t *testing.T) {
	t.Parallel()
	f, err := os.Open("assets/VERSIONS")
	if err != nil {
		t.Fatalf("open VERSIONS: %v", err)
	}
	defer f.Close()
	sumLine := regexp.MustCompile(`^([0-9a-f]{64})\s+(\S+)$`)
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := sumLine.FindStringSubmatch(sc.Text()); m != nil {
			sums[m[2]] = m[1]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read VERSIONS: %v", err)
	}
	set, err := loadAssets()
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range set {
		if name == "init.js" || name == "page.css" {
			if _, ok := sums[name]; ok {
				t.Errorf("VERSIONS lists hand-written %s", name)
			}
			continue
		}
		want, ok := sums[name]
		if !ok {
			t.Errorf("VERSIONS has no SHA-256 for embedded %s", name)
			continue
		}
		got := sha256.Sum256(a.raw)
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("%s: SHA-256 %x, VERSIONS says %s", name, got, want)
		}
	}
	if len(sums) != len(set)-2 {
		t.Errorf("VERSIONS lists %d files, %d third-party files are embedded", len(sums), len(set)-2)
	}
}
