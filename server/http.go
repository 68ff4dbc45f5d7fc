package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"roster/graph"
	"roster/internal/access"
	"roster/internal/account"
	"roster/internal/apierr"
	"roster/internal/audit"
	"roster/internal/auth"
	"roster/internal/avatar"
	"roster/internal/dashboard"
	"roster/internal/graphiql"
	"roster/internal/input"
	"roster/internal/limits"
	"roster/internal/metrics"
	"roster/internal/pagination"
	"roster/internal/store"
)

// maxBodyBytes bounds the body of a GraphQL request.
const maxBodyBytes = 1 << 20

// sseKeepAlive is how often an idle Server-Sent Events stream gets a
// comment, so that proxies keep it open.
const sseKeepAlive = 15 * time.Second

// services are what the API's resolvers call.
type services struct {
	auth     *auth.Service
	live     *live
	accounts *account.Service
	avatars  *avatar.Store
	limits   limits.Config
	metrics  *metrics.Metrics
	// origins are the cross-origin pages allowed to call the API, by HTTP
	// and websocket alike.
	origins []string
}

// newServer returns the HTTP handler of the whole API.
func newServer(db *store.DB, svc *services, log *slog.Logger) http.Handler {
	authn := svc.auth
	gql := handler.New(graph.NewSchema(db.Client, authn, svc.live.hub, svc.accounts, svc.live.alloc, svc.avatars, svc.limits.MaxPageSize))
	gql.AddTransport(svc.live.ws)
	gql.AddTransport(transport.Options{})
	gql.AddTransport(transport.GET{})
	// Before POST: a POST that accepts text/event-stream is served as
	// Server-Sent Events (GraphQL over SSE, distinct connections mode).
	gql.AddTransport(transport.SSE{KeepAlivePingInterval: sseKeepAlive})
	gql.AddTransport(post{})
	uploadMax := int64(maxBodyBytes)
	if svc.avatars != nil {
		uploadMax += svc.avatars.MaxBytes
		// Files of multipart requests (uploads) stay in memory up to the
		// largest avatar plus a margin; the avatar store refuses larger
		// ones with a coded error.
		gql.AddTransport(transport.MultipartForm{MaxUploadSize: uploadMax, MaxMemory: uploadMax})
	}
	gql.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	// First, so that it sees the answer every other extension made.
	gql.Use(operationMetrics{svc.metrics})
	limits.Install(gql, svc.limits)
	gql.Use(pagination.Arguments{})
	gql.Use(graph.Transactional{Client: db.Client, Log: log})
	gql.AroundOperations(recordOperation)
	gql.AroundOperations(markExecuted)
	gql.AroundResponses(recordErrors)
	gql.Use(&input.Text{})
	gql.Use(graph.ErrorLists{})
	// Last, so that it runs just before execution, with the viewer the
	// operation runs as.
	gql.Use(&access.WhereInputs{MaxDepth: svc.limits.MaxFilterDepth, MaxPredicates: svc.limits.MaxFilterPredicates})
	gql.SetErrorPresenter(graph.ErrorPresenter(log))
	gql.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(p))
		return apierr.New(apierr.Internal, "internal error")
	})

	mux := http.NewServeMux()
	mux.Handle("/graphql", cors(svc.origins, graphqlOverHTTP(http.MaxBytesHandler(onlySafeRequests(authn.Middleware(svc.live.streams(markWellFormed(gql)))), uploadMax+4096))))
	mux.Handle("GET /metrics", svc.metrics.Handler())
	if svc.avatars != nil {
		mux.Handle("GET "+avatar.Path, svc.avatars)
	}
	registerPages(mux)
	dashboard.Register(mux)
	graphiql.Register(mux, "roster", "/graphql")
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			log.WarnContext(ctx, "database not ready", "err", err)
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return logRequests(log, svc.metrics, mux)
}

// request is what is learnt of a request while it is served, for its log
// line.
type request struct {
	mu        sync.Mutex
	operation string
	codes     []string
	// transport is how it came (metrics.HTTP, SSE or Websocket: the
	// upgrade request of a websocket, whose operations run in a context
	// of their own, see socketContext), and start when the request began.
	transport string
	start     time.Time
	// recorded: an operation of this HTTP request was recorded in the
	// metrics (operationMetrics).
	recorded bool
}

type requestKey struct{}

// recordOperation notes the operation's name (or its first field when it
// has none) for the log.
func recordOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if req, ok := ctx.Value(requestKey{}).(*request); ok {
		oc := graphql.GetOperationContext(ctx)
		name := oc.OperationName
		if name == "" && oc.Operation != nil {
			name = oc.Operation.Name
		}
		if name == "" && oc.Operation != nil && len(oc.Operation.SelectionSet) > 0 {
			if f, ok := oc.Operation.SelectionSet[0].(*ast.Field); ok {
				name = "(" + f.Name + ")"
			}
		}
		if oc.Operation != nil {
			name = string(oc.Operation.Operation) + " " + name
		}
		req.mu.Lock()
		req.operation = name
		req.mu.Unlock()
	}
	return next(ctx)
}

// recordErrors notes the codes of the errors a response carries.
func recordErrors(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	rsp := next(ctx)
	if req, ok := ctx.Value(requestKey{}).(*request); ok && rsp != nil {
		req.mu.Lock()
		for _, e := range rsp.Errors {
			req.codes = append(req.codes, codeOf(e))
		}
		req.mu.Unlock()
	}
	return rsp
}

func codeOf(e *gqlerror.Error) string {
	if c, ok := e.Extensions["code"]; ok {
		return fmt.Sprint(c)
	}
	return "UNKNOWN"
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush sends what was written so far, for Server-Sent Events.
func (s *statusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection over, for websockets.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be hijacked")
	}
	if s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}

// logRequests writes one line per request: its ID, what it was, how long it
// took, how many SQL statements it ran, and how it ended. The request ID
// (the client's X-Request-ID when it is a short token, else a new one) is
// sent back in X-Request-ID and recorded, with the client's address and
// User-Agent, in the audit entries the request writes. It never logs bodies,
// variables or headers, so no password or token reaches the log.
//
// A GraphQL request over HTTP that never reached the executor (refused by
// the checks before it) is recorded in m, as an operation of type none
// that failed; operationMetrics records every other.
func logRequests(log *slog.Logger, m *metrics.Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		req := &request{start: start, transport: metrics.HTTP}
		switch {
		case websocketUpgrade(r):
			req.transport = metrics.Websocket
		case eventStream(r):
			req.transport = metrics.SSE
		}
		var sql store.Counter
		ctx := context.WithValue(r.Context(), requestKey{}, req)
		ctx = store.WithCounter(ctx, &sql)
		id := r.Header.Get("X-Request-ID")
		if !audit.ValidRequestID(id) {
			id = audit.NewRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		dev := auth.DeviceOf(r)
		ctx = audit.WithClient(ctx, audit.Client{Address: dev.IP, UserAgent: dev.UserAgent, RequestID: id})
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(ctx))
		elapsed := time.Since(start)

		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || strings.HasPrefix(r.URL.Path, "/graphiql/") {
			level = slog.LevelDebug
		}
		req.mu.Lock()
		defer req.mu.Unlock()
		outcome := "ok"
		if len(req.codes) > 0 {
			outcome = strings.Join(req.codes, ",")
		} else if rec.status >= 400 {
			outcome = http.StatusText(rec.status)
		}
		attrs := []slog.Attr{
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.Int64("sql_statements", sql.Count()),
			slog.String("outcome", outcome),
		}
		if req.operation != "" {
			attrs = append(attrs, slog.String("operation", req.operation))
		}
		if r.URL.Path == "/graphql" && !req.recorded && rec.status != http.StatusSwitchingProtocols && r.Method != http.MethodOptions {
			m.Operation(req.transport, "", metrics.Error, elapsed)
		}
		log.LogAttrs(ctx, level, "request", attrs...)
	})
}

// onlySafeRequests keeps GraphQL over HTTP safe from cross-site requests: a
// mutation comes only by POST with a JSON body (which a form cannot send
// without CORS), or as a multipart request (uploads) carrying a
// GraphQL-Preflight or Apollo-Require-Preflight header (which a form cannot
// send either, and a page of another site only after a CORS preflight the
// server does not grant); GET carries queries only, and other methods are
// refused.
func onlySafeRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			if websocketUpgrade(r) {
				break
			}
			for _, param := range []string{"variables", "extensions"} {
				if v := r.URL.Query().Get(param); v != "" && (!json.Valid([]byte(v)) || !objectOrNull(json.RawMessage(v))) {
					writeError(w, http.StatusBadRequest, param+" must be a JSON object")
					return
				}
			}
			if q := r.URL.Query().Get("query"); q != "" {
				if doc, err := parser.ParseQuery(&ast.Source{Input: q}); err == nil {
					for _, op := range doc.Operations {
						if op.Operation != ast.Query && (r.URL.Query().Get("operationName") == "" || r.URL.Query().Get("operationName") == op.Name) {
							w.Header().Set("Allow", "POST")
							writeError(w, http.StatusMethodNotAllowed, "a "+string(op.Operation)+" must be sent by POST")
							return
						}
					}
				}
			}
		case http.MethodPost:
			mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if mediaType == "multipart/form-data" {
				if r.Header.Get("GraphQL-Preflight") == "" && r.Header.Get("Apollo-Require-Preflight") == "" {
					writeError(w, http.StatusBadRequest, "a multipart request must carry the header GraphQL-Preflight: 1 (or Apollo-Require-Preflight: true)")
					return
				}
				break
			}
			if mediaType != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, "send the request as JSON, with Content-Type: application/json")
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
			if err != nil {
				writeError(w, http.StatusRequestEntityTooLarge, "the request body is too large or could not be read")
				return
			}
			// Refuse here what gqlgen would fail to decode: it would
			// answer without an error code.
			var req struct {
				Query         string          `json:"query"`
				OperationName string          `json:"operationName"`
				Variables     json.RawMessage `json:"variables"`
				Extensions    json.RawMessage `json:"extensions"`
			}
			if json.Unmarshal(body, &req) != nil || !objectOrNull(req.Variables) || !objectOrNull(req.Extensions) {
				writeError(w, http.StatusBadRequest, `the body must be a JSON object: {"query": "…", "operationName": "…", "variables": {…}}`)
				return
			}
			if !eventStream(r) && subscribes(req.Query, req.OperationName) {
				writeError(w, http.StatusBadRequest, "a subscription is a stream: subscribe over the websocket (graphql-transport-ws) or POST with Accept: text/event-stream")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if eventStream(r) {
				// The body is read: the stream may outlive the server's
				// read timeout, which would otherwise end it.
				_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
			}
		case http.MethodOptions:
		default:
			w.Header().Set("Allow", "GET, POST")
			writeError(w, http.StatusMethodNotAllowed, "use POST (or GET for queries)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// objectOrNull reports whether raw is absent, null or a JSON object.
func objectOrNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || raw[0] == '{' || string(raw) == "null"
}

// eventStream reports whether r asks for a Server-Sent Events stream (the
// request transport.SSE serves).
func eventStream(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// subscribes reports whether the operation a request selects in query is
// a subscription. A document that does not parse, or whose operation
// cannot be determined, is left to the executor to refuse.
func subscribes(query, operationName string) bool {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return false
	}
	if operationName == "" {
		return len(doc.Operations) == 1 && doc.Operations[0].Operation == ast.Subscription
	}
	op := doc.Operations.ForName(operationName)
	return op != nil && op.Operation == ast.Subscription
}

func websocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// writeError answers with one GraphQL error coded BAD_REQUEST.
func writeError(w http.ResponseWriter, status int, message string) {
	apierr.WriteHTTP(w, status, apierr.New(apierr.BadRequest, "%s", message))
}
