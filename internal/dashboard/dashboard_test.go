package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func newMux(t *testing.T) *http.ServeMux {
	t.Helper()
	mux := http.NewServeMux()
	Register(mux)
	return mux
}

func get(t *testing.T, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestPage checks the page, its policy, and that every asset it names is
// served, from the binary, under its content hash.
func TestPage(t *testing.T) {
	t.Parallel()
	mux := newMux(t)
	w := get(t, mux, http.MethodGet, Path, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s = %d", Path, w.Code)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": pagePolicy,
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-cache",
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(pagePolicy, "script-src 'self';") || !strings.Contains(pagePolicy, "connect-src 'self';") {
		t.Errorf("the policy lets the page load scripts or connect elsewhere: %s", pagePolicy)
	}
	body := w.Body.String()
	urls := regexp.MustCompile(`(?:src|href)="(/dashboard/assets/[^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(urls) != len(pageScripts)+len(pageStyles) {
		t.Fatalf("the page names %d assets, want %d:\n%s", len(urls), len(pageScripts)+len(pageStyles), body)
	}
	for _, m := range urls {
		u := m[1]
		a := get(t, mux, http.MethodGet, u, nil)
		if a.Code != http.StatusOK {
			t.Errorf("GET %s = %d", u, a.Code)
			continue
		}
		name := filepath.Base(u)
		want, _ := assetsFS.ReadFile("assets/" + name)
		if !bytes.Equal(a.Body.Bytes(), want) {
			t.Errorf("GET %s is not the embedded %s", u, name)
		}
		if cc := a.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s: Cache-Control %q", u, cc)
		}
		if ct := a.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/") {
			t.Errorf("GET %s: Content-Type %q", u, ct)
		}
		if nm := get(t, mux, http.MethodGet, u, http.Header{"If-None-Match": {a.Header().Get("ETag")}}); nm.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag = %d, want 304", u, nm.Code)
		}
		stale := strings.Replace(u, "/assets/", "/assets/0", 1)
		if s := get(t, mux, http.MethodGet, stale, nil); s.Code != http.StatusNotFound {
			t.Errorf("GET %s (another hash) = %d, want 404", stale, s.Code)
		}
	}
	if w := get(t, mux, http.MethodGet, Path+"/assets/x/nothing.js", nil); w.Code != http.StatusNotFound {
		t.Errorf("an unknown asset = %d, want 404", w.Code)
	}
	if w := get(t, mux, http.MethodPost, Path, nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST %s = %d, want 405", Path, w.Code)
	}
}

// TestOffline checks that the page's own files load nothing from another
// origin: everything it needs is embedded.
func TestOffline(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"dashboard.js", "dashboard.css"} {
		b, err := assetsFS.ReadFile("assets/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`).Find(b); m != nil {
			t.Errorf("%s refers to another origin: %s", name, m)
		}
	}
	page := get(t, newMux(t), http.MethodGet, Path, nil).Body.String()
	if strings.Contains(page, "http:") || strings.Contains(page, "https:") {
		t.Errorf("the page refers to another origin:\n%s", page)
	}
}

// TestVendoredClient checks that the embedded graphql-ws bundle is the
// file of the npm package and version VERSIONS names, as pinned in the
// lockfile of testdata/browser, byte for byte.
func TestVendoredClient(t *testing.T) {
	t.Parallel()
	embedded, err := assetsFS.ReadFile("assets/graphql-ws.min.js")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := os.ReadFile("assets/VERSIONS")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(embedded)
	if !bytes.Contains(versions, []byte(hex.EncodeToString(sum[:])+"  graphql-ws.min.js")) {
		t.Errorf("assets/VERSIONS does not list the SHA-256 of graphql-ws.min.js (%x)", sum)
	}
	m := regexp.MustCompile(`graphql-ws\.min\.js\s+graphql-ws\s+(\S+)`).FindSubmatch(versions)
	if m == nil {
		t.Fatal("assets/VERSIONS names no graphql-ws version")
	}
	version := string(m[1])

	var lock struct {
		Packages map[string]struct{ Version, Integrity string } `json:"packages"`
	}
	lockFile, err := os.ReadFile("testdata/browser/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lockFile, &lock); err != nil {
		t.Fatal(err)
	}
	if got := lock.Packages["node_modules/graphql-ws"].Version; got != version {
		t.Errorf("testdata/browser/package-lock.json pins graphql-ws %s, assets/VERSIONS names %s", got, version)
	}

	installed, err := os.ReadFile("testdata/browser/node_modules/graphql-ws/umd/graphql-ws.min.js")
	if err != nil {
		const msg = "\n\n*** THE EMBEDDED graphql-ws IS NOT COMPARED WITH ITS PACKAGE: %v ***\n*** run: npm ci --prefix internal/dashboard/testdata/browser ***\n\n"
		if os.Getenv("CI") == "true" {
			t.Fatalf(msg, err)
		}
		t.Skipf(msg, err)
	}
	if !bytes.Equal(installed, embedded) {
		t.Errorf("assets/graphql-ws.min.js differs from the npm package's umd/graphql-ws.min.js (graphql-ws %s)", version)
	}
}
