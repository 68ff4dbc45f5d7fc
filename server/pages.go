package main

import (
	"embed"
	"net/http"
)

//go:embed pages
var pages embed.FS

// registerPages serves the page the links of mails open: accepting an
// invitation and resetting a password (the same page, which reads its
// path), with its script and style, all embedded.
func registerPages(mux *http.ServeMux) {
	serve := func(name, contentType string) http.HandlerFunc {
		data, err := pages.ReadFile("pages/" + name)
		if err != nil {
			panic(err)
		}
		return func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h.Set("Content-Type", contentType)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Cache-Control", "no-store")
			// The page's address holds a token: it never leaves as a
			// referrer, and the page runs only its own script.
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
			_, _ = w.Write(data)
		}
	}
	page := serve("account.html", "text/html; charset=utf-8")
	mux.Handle("GET /accept-invitation", page)
	mux.Handle("GET /reset-password", page)
	mux.Handle("GET /account/account.js", serve("account.js", "text/javascript; charset=utf-8"))
	mux.Handle("GET /account/account.css", serve("account.css", "text/css; charset=utf-8"))
}
