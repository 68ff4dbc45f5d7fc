// Package dashboard serves the live agents dashboard at /dashboard: a page
// that logs in (with the second factor when asked), follows every user the
// viewer may see over the websocket subscriptions userStatusChanged and
// userChanged, and lets admins set a user's availability and end their
// sessions.
//
// The page, its script and style sheet, and the graphql-ws client it uses
// are embedded in the binary with go:embed: it works without internet
// access, under a Content-Security-Policy that allows scripts only from its
// own origin. The page's own files are plain JavaScript and CSS with no
// build step; graphql-ws's browser bundle is copied from the npm package
// named in assets/VERSIONS, and a test checks it against that package.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// Path is where the page is served; its assets are below Path + "/assets/".
const Path = "/dashboard"

// assetPrefix is the URL path of the assets: assetPrefix + "<content
// hash>/<file name>".
const assetPrefix = Path + "/assets/"

//go:embed assets/*.js assets/*.css
var assetsFS embed.FS

// pagePolicy is the page's Content-Security-Policy: its own scripts and
// styles only, requests (HTTP and websocket) to its own origin only.
const pagePolicy = "default-src 'none'; " +
	"script-src 'self'; " +
	"style-src 'self'; " +
	"img-src 'self' data:; " +
	"connect-src 'self'; " +
	"base-uri 'none'; " +
	"form-action 'none'; " +
	"frame-ancestors 'none'"

// asset is one embedded file.
type asset struct {
	hash        string // hex prefix of the SHA-256 of body, in its URL
	contentType string
	body        []byte
}

// Style sheets and scripts of the page, in load order.
var (
	pageStyles  = []string{"dashboard.css"}
	pageScripts = []string{"graphql-ws.min.js", "dashboard.js"}
)

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>roster · agents</title>
{{range .Styles}}<link rel="stylesheet" href="{{.}}">
{{end}}{{range .Scripts}}<script defer src="{{.}}"></script>
{{end}}</head>
<body>
<div id="app" data-endpoint="{{.Endpoint}}"><p class="loading">Loading the dashboard…</p></div>
<noscript>The dashboard needs JavaScript.</noscript>
</body>
</html>
`))

// load reads the embedded files once and renders the page.
var load = sync.OnceValues(func() (*site, error) {
	entries, err := fs.ReadDir(assetsFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("dashboard: read embedded assets: %w", err)
	}
	s := &site{assets: map[string]*asset{}}
	for _, e := range entries {
		body, err := assetsFS.ReadFile("assets/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("dashboard: read embedded asset %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(body)
		s.assets[e.Name()] = &asset{hash: hex.EncodeToString(sum[:8]), contentType: contentType(e.Name()), body: body}
	}
	urls := func(names []string) ([]string, error) {
		out := make([]string, 0, len(names))
		for _, name := range names {
			a, ok := s.assets[name]
			if !ok {
				return nil, fmt.Errorf("dashboard: embedded asset %s is missing", name)
			}
			out = append(out, assetPrefix+a.hash+"/"+name)
		}
		return out, nil
	}
	styles, err := urls(pageStyles)
	if err != nil {
		return nil, err
	}
	scripts, err := urls(pageScripts)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, struct {
		Endpoint        string
		Styles, Scripts []string
	}{"/graphql", styles, scripts}); err != nil {
		return nil, fmt.Errorf("dashboard: render page: %w", err)
	}
	s.page = buf.Bytes()
	return s, nil
})

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	}
	return "application/octet-stream"
}

// site is the page and its assets.
type site struct {
	page   []byte
	assets map[string]*asset
}

// Register routes the page (GET Path) and its assets (GET Path/assets/…)
// on mux. It panics if the embedded files are incomplete, or if the routes
// conflict with ones already registered.
func Register(mux *http.ServeMux) {
	s, err := load()
	if err != nil {
		panic(err)
	}
	mux.HandleFunc("GET "+Path, s.servePage)
	mux.HandleFunc("GET "+assetPrefix+"{hash}/{name}", s.serveAsset)
}

// servePage writes the HTML page with its security headers. The page's
// address carries no secret, but its token is one: nothing leaves as a
// referrer and no other origin may frame it.
func (s *site) servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pagePolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	// Revalidated every time, so a new build's asset URLs are picked up.
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(s.page)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(s.page)
	}
}

// serveAsset serves one asset by content hash and name; a hash that is not
// the file's current one is 404, so an outdated URL never caches another
// file as immutable.
func (s *site) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets[r.PathValue("name")]
	if !ok || r.PathValue("hash") != a.hash {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	etag := `"` + a.hash + `"`
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.body)
	}
}
