package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"roster/internal/apierr"
)

// Media types of GraphQL responses over HTTP.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// negotiate picks the media type of the response from the Accept header,
// as the GraphQL over HTTP specification asks: the acceptable type with the
// highest quality, an exact type before a wildcard, and
// application/graphql-response+json for a wildcard or a missing header
// (the default since the specification's watershed, 1 January 2025). ok
// is false when the client accepts neither type.
func negotiate(accept string) (media string, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return mediaGraphQLResponse, true
	}
	bestQ, bestRank := 0.0, 0
	for _, part := range strings.Split(accept, ",") {
		params := strings.Split(part, ";")
		mt := strings.ToLower(strings.TrimSpace(params[0]))
		q := 1.0
		for _, p := range params[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		var candidate string
		rank := 0 // exact types win over wildcards at the same quality
		switch mt {
		case mediaGraphQLResponse:
			candidate, rank = mediaGraphQLResponse, 3
		case mediaJSON:
			candidate, rank = mediaJSON, 2
		case "application/*", "*/*":
			candidate, rank = mediaGraphQLResponse, 1
		}
		if candidate == "" || q <= 0 {
			continue
		}
		if q > bestQ || (q == bestQ && rank > bestRank) {
			bestQ, bestRank, media = q, rank, candidate
		}
	}
	return media, media != ""
}

// progress is how far a GraphQL request over HTTP went.
type progress struct {
	// wellFormed: the request passed the HTTP checks and reached the
	// GraphQL executor.
	wellFormed bool
	// executed: its operation passed parsing, validation and the coercion
	// of its variables, and ran.
	executed bool
}

type progressKey struct{}

// markWellFormed notes that a request reached the GraphQL executor.
func markWellFormed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := r.Context().Value(progressKey{}).(*progress); ok {
			p.wellFormed = true
		}
		next.ServeHTTP(w, r)
	})
}

// markExecuted notes that the operation runs.
func markExecuted(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if p, ok := ctx.Value(progressKey{}).(*progress); ok {
		p.executed = true
	}
	return next(ctx)
}

// graphqlOverHTTP serves GraphQL over HTTP as its specification asks:
// answers in the media type the client accepts (406 when it accepts
// neither application/json nor application/graphql-response+json), and,
// for a request that never executed (a document that does not parse or
// validate, an operation that cannot be determined, variables that do not
// coerce), answers without a data entry, with 200 in application/json and
// 400 in application/graphql-response+json. Websockets and Server-Sent
// Events pass through.
func graphqlOverHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocketUpgrade(r) || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		if eventStream(r) {
			// Server-Sent Events: streamed as they come.
			next.ServeHTTP(w, r)
			return
		}
		media, ok := negotiate(r.Header.Get("Accept"))
		if !ok {
			apierr.WriteHTTP(w, http.StatusNotAcceptable, apierr.New(apierr.BadRequest,
				"%s", "the response is sent as application/graphql-response+json or application/json: accept one of them"))
			return
		}
		var p progress
		buf := &bufferedResponse{header: http.Header{}, body: responseBuffers.Get().(*bytes.Buffer)}
		defer buf.release()
		next.ServeHTTP(buf, r.WithContext(context.WithValue(r.Context(), progressKey{}, &p)))

		status, body := buf.status, buf.body.Bytes()
		if status == 0 {
			status = http.StatusOK
		}
		ct := buf.header.Get("Content-Type")
		isGraphQL := strings.HasPrefix(ct, mediaJSON) || strings.HasPrefix(ct, mediaGraphQLResponse)
		if isGraphQL && !p.executed {
			body = withoutData(body)
			if p.wellFormed && status < 500 {
				// A well-formed request that did not execute.
				if media == mediaJSON {
					status = http.StatusOK
				} else {
					status = http.StatusBadRequest
				}
			}
		}
		for k, v := range buf.header {
			w.Header()[k] = v
		}
		if isGraphQL {
			w.Header().Set("Content-Type", media+"; charset=utf-8")
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
}

// withoutData removes the data entry of a GraphQL response.
func withoutData(body []byte) []byte {
	var rsp map[string]json.RawMessage
	if json.Unmarshal(body, &rsp) != nil {
		return body
	}
	if _, ok := rsp["data"]; !ok {
		return body
	}
	delete(rsp, "data")
	out, err := json.Marshal(rsp)
	if err != nil {
		return body
	}
	return append(out, '\n')
}

// bufferedResponse holds a response until it is complete.
type bufferedResponse struct {
	header http.Header
	status int
	body   *bytes.Buffer
}

// responseBuffers are the bodies of buffered responses, kept for the next
// ones: a page of users is tens of kilobytes, which a new buffer reaches by
// growing a dozen times.
var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxKeptBuffer is the largest buffer kept for another response.
const maxKeptBuffer = 1 << 20

// release gives the response's buffer back, once its body is written.
func (b *bufferedResponse) release() {
	if b.body.Cap() <= maxKeptBuffer {
		b.body.Reset()
		responseBuffers.Put(b.body)
	}
	b.body = nil
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
