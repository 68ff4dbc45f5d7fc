package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// corsMaxAge is how long (seconds) a browser may cache a preflight answer.
const corsMaxAge = "600"

// cors lets the pages of the allowed origins (the setting websockets obey,
// ROSTER_ALLOWED_ORIGINS) call the API by HTTP: it answers preflight
// requests and marks the responses to their requests as readable. Other
// origins get no CORS header, so browsers keep their pages from reading
// the answers; the request checks of onlySafeRequests still run for every
// request that is not a preflight.
func cors(allowed []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
		}
		if !originAllowed(allowed, origin) {
			if preflight {
				// Answered, but without permission: the browser refuses
				// the request it was asking about.
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if !preflight {
			next.ServeHTTP(w, r)
			return
		}
		method := r.Header.Get("Access-Control-Request-Method")
		if method != http.MethodGet && method != http.MethodPost {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, GraphQL-Preflight, Apollo-Require-Preflight")
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
	})
}

// originAllowed reports whether the page of origin may call the API: it is
// one of allowed, or allowed holds "*".
func originAllowed(allowed []string, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return slices.ContainsFunc(allowed, func(a string) bool {
		return a == "*" || strings.EqualFold(strings.TrimRight(a, "/"), origin)
	})
}
