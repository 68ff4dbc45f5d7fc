// Package graphiql serves a GraphiQL IDE page for a GraphQL endpoint.
//
// Every script and style sheet the page uses (GraphiQL 3, React 18 and a small
// hand-written start-up script) is embedded in the binary with go:embed, so
// the page works without internet access and under a strict
// Content-Security-Policy that allows scripts only from the page's own origin.
// The versions and licenses of the third-party files are listed in
// assets/VERSIONS.
//
// The page lives at "/" and its assets below "/graphiql/assets/"; [Register]
// routes both on an [http.ServeMux].
package graphiql

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
)

// assetsFS holds the files served below assetPrefix. The files' license and
// version notes (assets/VERSIONS) are deliberately not embedded.
//
//go:embed assets/*.js assets/*.css
var assetsFS embed.FS

// assetPrefix is the URL path below which the assets are served. Asset URLs
// have the form assetPrefix + "<content hash>/<file name>".
const assetPrefix = "/graphiql/assets/"

// pagePolicy is the Content-Security-Policy of the HTML page. Scripts come
// only from the page's origin. GraphiQL's CSS embeds its fonts and a few
// images as data: URLs, and its dialogs (react-remove-scroll) insert a
// <style> element when opened, hence 'unsafe-inline' for styles only. The
// favicon is an empty data: URL, which saves a request that would 404.
const pagePolicy = "default-src 'none'; " +
	"script-src 'self'; " +
	"style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; " +
	"font-src 'self' data:; " +
	"connect-src 'self'; " +
	"base-uri 'none'; " +
	"form-action 'none'; " +
	"frame-ancestors 'none'"

// asset is one embedded file, ready to be served.
type asset struct {
	hash        string // hex prefix of the SHA-256 of raw, used in the URL
	contentType string
	raw         []byte
	gz          []byte // raw, gzip-compressed
}

// loadAssets reads and compresses the embedded files once, keyed by file name.
var loadAssets = sync.OnceValues(func() (map[string]*asset, error) {
	entries, err := fs.ReadDir(assetsFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("graphiql: read embedded assets: %w", err)
	}
	set := make(map[string]*asset, len(entries))
	for _, e := range entries {
		name := e.Name()
		raw, err := assetsFS.ReadFile("assets/" + name)
		if err != nil {
			return nil, fmt.Errorf("graphiql: read embedded asset %s: %w", name, err)
		}
		gz, err := compress(raw)
		if err != nil {
			return nil, fmt.Errorf("graphiql: compress asset %s: %w", name, err)
		}
		sum := sha256.Sum256(raw)
		set[name] = &asset{
			hash:        hex.EncodeToString(sum[:8]),
			contentType: contentType(name),
			raw:         raw,
			gz:          gz,
		}
	}
	return set, nil
})

// compress returns b gzip-compressed.
func compress(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("new gzip writer: %w", err)
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("gzip write: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip close: %w", err)
	}
	return buf.Bytes(), nil
}

// contentType returns the media type for an asset file name.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	default:
		return "application/octet-stream"
	}
}

// Style sheets and scripts of the page, in load order.
var (
	pageStyles  = []string{"graphiql.min.css", "page.css"}
	pageScripts = []string{
		"react.production.min.js",
		"react-dom.production.min.js",
		"graphiql.min.js",
		"graphql-ws.min.js",
		"init.js",
	}
)

// pageTemplate is the HTML page. Asset URLs are relative ("graphiql/assets/…")
// so the page also works when the handler is mounted below a prefix with
// [http.StripPrefix], as long as the page URL ends in a slash.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>{{.Title}}</title>
{{range .Styles}}<link rel="stylesheet" href="{{.}}">
{{end}}{{range .Scripts}}<script defer src="{{.}}"></script>
{{end}}</head>
<body>
<div id="graphiql" data-endpoint="{{.Endpoint}}">Loading GraphiQL…</div>
<noscript>GraphiQL needs JavaScript.</noscript>
</body>
</html>
`))

// Handler returns an http.Handler serving the GraphiQL page at its root and its assets below it.
// endpoint is the URL path of the GraphQL endpoint, e.g. "/graphql".
//
// The handler answers GET and HEAD for exactly these paths, and 404 or 405
// for anything else:
//
//   - "/": the HTML page, titled title ("GraphiQL" if empty), with a strict
//     Content-Security-Policy;
//   - "/graphiql/assets/<content hash>/<file>": the embedded scripts and
//     style sheets, cacheable for a year and gzip-compressed when the client
//     accepts it.
//
// Route both to it, e.g. with [Register] or by hand:
//
//	mux.Handle("GET /{$}", h)
//	mux.Handle("GET /graphiql/assets/", h)
//
// endpoint must be a path on the same origin (starting with a single "/",
// with no scheme or host), since the page's policy only allows requests to
// its own origin; Handler panics otherwise.
func Handler(title, endpoint string) http.Handler {
	if err := checkEndpoint(endpoint); err != nil {
		panic(err)
	}
	set, err := loadAssets()
	if err != nil {
		panic(err)
	}
	page, err := renderPage(title, endpoint, set)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET "+assetPrefix+"{hash}/{name}", assetHandler(set))
	return mux
}

// Register registers on mux the GraphiQL page at "GET /" (the root only)
// and its assets at "GET /graphiql/assets/", both served by
// [Handler](title, endpoint). Like [http.ServeMux.Handle], it panics if these
// patterns conflict with ones already registered on mux.
func Register(mux *http.ServeMux, title, endpoint string) {
	h := Handler(title, endpoint)
	mux.Handle("GET /{$}", h)
	mux.Handle("GET "+assetPrefix, h)
}

// checkEndpoint reports whether endpoint is a same-origin URL path.
func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("graphiql: parse endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil ||
		!strings.HasPrefix(endpoint, "/") || strings.HasPrefix(endpoint, "//") ||
		strings.HasPrefix(endpoint, "/\\") {
		return fmt.Errorf("graphiql: endpoint %q is not a URL path starting with \"/\"", endpoint)
	}
	return nil
}

// pageHandler serves the pre-rendered HTML page.
type pageHandler []byte

// renderPage renders the HTML page for the given title and endpoint.
func renderPage(title, endpoint string, set map[string]*asset) (pageHandler, error) {
	if title == "" {
		title = "GraphiQL"
	}
	urls := func(names []string) ([]string, error) {
		out := make([]string, 0, len(names))
		for _, name := range names {
			a, ok := set[name]
			if !ok {
				return nil, fmt.Errorf("graphiql: embedded asset %s is missing", name)
			}
			out = append(out, strings.TrimPrefix(assetPrefix, "/")+a.hash+"/"+name)
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
	err = pageTemplate.Execute(&buf, struct {
		Title, Endpoint string
		Styles, Scripts []string
	}{title, endpoint, styles, scripts})
	if err != nil {
		return nil, fmt.Errorf("graphiql: render page: %w", err)
	}
	return pageHandler(buf.Bytes()), nil
}

// ServeHTTP writes the page with its security headers.
func (p pageHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pagePolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	// Revalidate every time so a new build's asset URLs are picked up.
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(p)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(p)
	}
}

// assetHandler serves the embedded assets by content hash and file name.
type assetHandler map[string]*asset

// ServeHTTP serves one asset, gzip-compressed if the client accepts it.
// Requests whose hash is not the file's current one get 404, so an outdated
// URL never gets a different file cached as immutable.
func (s assetHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := s[r.PathValue("name")]
	if !ok || r.PathValue("hash") != a.hash {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	body, etag := a.raw, `"`+a.hash+`"`
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body, etag = a.gz, `"`+a.hash+`-gz"`
	}
	h.Set("ETag", etag)
	if etagMatches(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// acceptsGzip reports whether Accept-Encoding header values allow gzip:
// "gzip" (or "x-gzip"), or else "*", listed with a non-zero quality.
func acceptsGzip(values []string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			q := 1.0
			for param := range strings.SplitSeq(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
					if err != nil {
						f = 0
					}
					q = f
				}
			}
			switch c := strings.ToLower(strings.TrimSpace(coding)); c {
			case "gzip", "x-gzip":
				gzipQ = max(gzipQ, q)
			case "*":
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// etagMatches reports whether If-None-Match header values match etag, using
// the weak comparison that RFC 9110 prescribes for If-None-Match.
func etagMatches(values []string, etag string) bool {
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}
