package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"roster/internal/apierr"
)

// The statements of the hand-written handler. Like roster, it confines
// every read to the viewer's organization and leaves archived users out.
const (
	// sessionSQL finds the session of a token hash and its user.
	sessionSQL = `SELECT s.id, s.last_used_at, s.expires_at, u.organization_id, u.status
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = $1`
	// touchSQL records the use of a session.
	touchSQL = `UPDATE sessions SET last_used_at = $1 WHERE id = $2`
	// pageSQL reads the first $2 users of organization $1 with their
	// role, and the number of users of the organization.
	pageSQL = `SELECT u.id, u.first_name, u.last_name, u.display_name, u.email, u.status, u.availability,
	r.id, r.name, count(*) OVER ()
FROM users u JOIN roles r ON r.id = u.role_id AND r.organization_id = u.organization_id
WHERE u.organization_id = $1 AND u.status <> 'ARCHIVED'
ORDER BY u.id
LIMIT $2`
	// divisionsSQL reads the divisions of the users $1.
	divisionsSQL = `SELECT m.user_id, d.id, d.name
FROM division_members m JOIN divisions d ON d.id = m.division_id
WHERE m.user_id = ANY($1) AND d.organization_id = $2
ORDER BY m.user_id, d.id`
	// sqliteDivisionsSQL is divisionsSQL for SQLite, which takes the
	// users as a JSON array.
	sqliteDivisionsSQL = `SELECT m.user_id, d.id, d.name
FROM division_members m JOIN divisions d ON d.id = m.division_id
WHERE m.user_id IN (SELECT value FROM json_each($1)) AND d.organization_id = $2
ORDER BY m.user_id, d.id`
)

// touchEvery is how stale a session's last use may get before it is
// written again, as in roster's auth package.
const touchEvery = time.Minute

// maxFirst is the largest page the handler serves.
const maxFirst = 100

// errUnauthenticated is the answer to a missing, unknown or expired token.
var errUnauthenticated = errors.New("the token is invalid, revoked or expired: log in again")

// handwritten serves GET /users?first=N: the first N users of the viewer's
// organization with their role and divisions, in the JSON shape of
// roster's ListUsers query.
type handwritten struct {
	session, touch, page, divisions *sql.Stmt
	// sqlite: the database is SQLite.
	sqlite bool
	// statements counts the SQL statements of each request.
	statements statementCounts
}

// newHandwritten prepares the handler's statements on db, a SQLite
// database when sqlite is set.
func newHandwritten(ctx context.Context, db *sql.DB, sqlite bool) (*handwritten, error) {
	h := &handwritten{sqlite: sqlite}
	divisions := divisionsSQL
	if sqlite {
		divisions = sqliteDivisionsSQL
	}
	for _, s := range []struct {
		stmt **sql.Stmt
		sql  string
	}{{&h.session, sessionSQL}, {&h.touch, touchSQL}, {&h.page, pageSQL}, {&h.divisions, divisions}} {
		stmt, err := db.PrepareContext(ctx, s.sql)
		if err != nil {
			h.close()
			return nil, fmt.Errorf("prepare %q: %w", strings.Fields(s.sql)[0], err)
		}
		*s.stmt = stmt
	}
	return h, nil
}

// close closes the prepared statements.
func (h *handwritten) close() {
	for _, s := range []*sql.Stmt{h.session, h.touch, h.page, h.divisions} {
		if s != nil {
			s.Close()
		}
	}
}

// idName is a role or a division.
type idName struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// userNode is a user as the ListUsers query selects it.
type userNode struct {
	ID           string   `json:"id"`
	FirstName    string   `json:"firstName"`
	LastName     string   `json:"lastName"`
	DisplayName  string   `json:"displayName"`
	Email        string   `json:"email"`
	Status       string   `json:"status"`
	Availability string   `json:"availability"`
	Role         idName   `json:"role"`
	Divisions    []idName `json:"divisions"`
}

type userEdge struct {
	Cursor string   `json:"cursor"`
	Node   userNode `json:"node"`
}

type pageInfo struct {
	HasNextPage bool    `json:"hasNextPage"`
	EndCursor   *string `json:"endCursor"`
}

type userConnection struct {
	TotalCount int        `json:"totalCount"`
	Edges      []userEdge `json:"edges"`
	PageInfo   pageInfo   `json:"pageInfo"`
}

// usersResponse is the whole response body.
type usersResponse struct {
	Data struct {
		Users *userConnection `json:"users"`
	} `json:"data"`
}

func (h *handwritten) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var statements int64
	status, body := h.serve(r, &statements)
	h.statements.add(statements)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serve answers r, counting the statements it runs in statements.
func (h *handwritten) serve(r *http.Request, statements *int64) (status int, body []byte) {
	first := 50
	if v := r.URL.Query().Get("first"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxFirst {
			return errorBody(http.StatusBadRequest, apierr.BadUserInput, fmt.Sprintf("first must be 1 to %d", maxFirst))
		}
		first = n
	}
	conn, err := h.listUsers(r.Context(), r.Header.Get("Authorization"), first, statements)
	switch {
	case errors.Is(err, errUnauthenticated):
		return errorBody(http.StatusUnauthorized, apierr.Unauthenticated, err.Error())
	case err != nil:
		return errorBody(http.StatusInternalServerError, apierr.Internal, err.Error())
	}
	var rsp usersResponse
	rsp.Data.Users = conn
	body, err = json.Marshal(&rsp)
	if err != nil {
		return errorBody(http.StatusInternalServerError, apierr.Internal, fmt.Sprintf("encode response: %v", err))
	}
	return http.StatusOK, body
}

// errorBody returns a GraphQL-style error response.
func errorBody(status int, code apierr.Code, message string) (int, []byte) {
	body, _ := json.Marshal(map[string]any{"errors": []any{map[string]any{ // cannot fail
		"message":    message,
		"extensions": map[string]any{"code": code},
	}}})
	return status, body
}

// listUsers authenticates the Authorization header authz and reads the
// first users of the viewer's organization.
func (h *handwritten) listUsers(ctx context.Context, authz string, first int, statements *int64) (*userConnection, error) {
	org, err := h.authenticate(ctx, authz, statements)
	if err != nil {
		return nil, err
	}

	*statements++
	rows, err := h.page.QueryContext(ctx, org, first)
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	conn := &userConnection{Edges: make([]userEdge, 0, first)}
	ids := make([]int64, 0, first)
	at := make(map[int64]int, first)
	for rows.Next() {
		var (
			id, roleID int64
			n          userNode
		)
		if err := rows.Scan(&id, &n.FirstName, &n.LastName, &n.DisplayName, &n.Email, &n.Status, &n.Availability,
			&roleID, &n.Role.Name, &conn.TotalCount); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read users: %w", err)
		}
		n.ID, n.Role.ID = strconv.FormatInt(id, 10), strconv.FormatInt(roleID, 10)
		n.Divisions = []idName{}
		at[id] = len(conn.Edges)
		ids = append(ids, id)
		conn.Edges = append(conn.Edges, userEdge{Cursor: cursor(id), Node: n})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}

	if len(ids) > 0 {
		*statements++
		var list any = pq.Array(ids)
		if h.sqlite {
			b, _ := json.Marshal(ids) // cannot fail
			list = string(b)
		}
		rows, err := h.divisions.QueryContext(ctx, list, org)
		if err != nil {
			return nil, fmt.Errorf("read divisions: %w", err)
		}
		for rows.Next() {
			var userID, id int64
			var name string
			if err := rows.Scan(&userID, &id, &name); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read divisions: %w", err)
			}
			n := &conn.Edges[at[userID]].Node
			n.Divisions = append(n.Divisions, idName{ID: strconv.FormatInt(id, 10), Name: name})
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read divisions: %w", err)
		}
	}

	conn.PageInfo.HasNextPage = conn.TotalCount > len(conn.Edges)
	if len(conn.Edges) > 0 {
		conn.PageInfo.EndCursor = &conn.Edges[len(conn.Edges)-1].Cursor
	}
	return conn, nil
}

// authenticate returns the organization of the viewer whose bearer token
// the Authorization header authz carries, as roster's auth package does:
// the token's SHA-256 hash names an unexpired session of an active user.
func (h *handwritten) authenticate(ctx context.Context, authz string, statements *int64) (org int64, err error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authz), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(token, "rst_") {
		return 0, errUnauthenticated
	}
	hash := sha256.Sum256([]byte(token))
	var (
		sessionID           int64
		lastUsed, expiresAt time.Time
		status              string
	)
	*statements++
	err = h.session.QueryRowContext(ctx, hash[:]).Scan(&sessionID, &lastUsed, &expiresAt, &org, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errUnauthenticated
	}
	if err != nil {
		return 0, fmt.Errorf("find session: %w", err)
	}
	now := time.Now()
	if !now.Before(expiresAt) || status != "ACTIVE" {
		return 0, errUnauthenticated
	}
	if now.Sub(lastUsed) > touchEvery {
		*statements++
		if _, err := h.touch.ExecContext(ctx, now, sessionID); err != nil {
			return 0, fmt.Errorf("record session use: %w", err)
		}
	}
	return org, nil
}

// cursor returns an opaque cursor for the user id.
func cursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString(strconv.AppendInt([]byte("user:"), id, 10))
}

// handwrittenServer runs the hand-written handler on a local port.
type handwrittenServer struct {
	url     string
	handler *handwritten
	db      *sql.DB
	srv     *http.Server
	served  chan error
}

// startHandwritten serves the hand-written handler on a free local port,
// reading the benchmark's database through a pool sized like roster's.
func startHandwritten(ctx context.Context, bdb *benchDB) (*handwrittenServer, error) {
	db, err := sql.Open(bdb.driver, bdb.dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redact(bdb.dsn), err)
	}
	db.SetMaxOpenConns(bdb.maxConns)
	db.SetMaxIdleConns(bdb.maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", redact(bdb.dsn), err)
	}
	h, err := newHandwritten(ctx, db, bdb.sqlite)
	if err != nil {
		db.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.close()
		db.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /users", h)
	s := &handwrittenServer{
		url:     "http://" + ln.Addr().String(),
		handler: h,
		db:      db,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			IdleTimeout:       120 * time.Second,
		},
		served: make(chan error, 1),
	}
	go func() { s.served <- s.srv.Serve(ln) }()
	return s, nil
}

// close stops the server and closes its database pool.
func (s *handwrittenServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	s.handler.close()
	if cerr := s.db.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("stop the hand-written server: %w", err)
	}
	return nil
}
