package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// listUsersQuery is the GraphQL operation measured.
const listUsersQuery = `query ListUsers { users(first: 50) { totalCount edges { cursor node { id firstName lastName displayName email status availability role { id name } divisions { id name } } } pageInfo { hasNextPage endCursor } } }`

// requestTimeout bounds one measured request.
const requestTimeout = 30 * time.Second

// target is an endpoint that lists users.
type target struct {
	name   string
	client *http.Client
	// newRequest returns the request listing the first page of users.
	newRequest func(ctx context.Context) (*http.Request, error)
	// statements counts the SQL statements of each request served.
	statements *statementCounts
}

// newClient returns a keep-alive HTTP client for workers concurrent
// requests to one host.
func newClient(workers int) *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        2 * workers,
			MaxIdleConnsPerHost: 2 * workers,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// newGraphQLTarget returns the target posting the ListUsers query to
// roster's GraphQL endpoint at url.
func newGraphQLTarget(url, token string, workers int, statements *statementCounts) *target {
	body, _ := json.Marshal(map[string]string{"operationName": "ListUsers", "query": listUsersQuery}) // cannot fail
	return &target{
		name:       "graphql",
		client:     newClient(workers),
		statements: statements,
		newRequest: func(ctx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return nil, fmt.Errorf("new request: %w", err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			return req, nil
		},
	}
}

// newHandwrittenTarget returns the target getting url from the hand-written
// handler.
func newHandwrittenTarget(url, token string, workers int, statements *statementCounts) *target {
	return &target{
		name:       "handwritten",
		client:     newClient(workers),
		statements: statements,
		newRequest: func(ctx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return nil, fmt.Errorf("new request: %w", err)
			}
			req.Header.Set("Authorization", "Bearer "+token)
			return req, nil
		},
	}
}

// fetch makes one request into buf. responded tells whether the target
// answered at all; err describes any other failure.
func (t *target) fetch(ctx context.Context, buf *bytes.Buffer) (responded bool, err error) {
	req, err := t.newRequest(ctx)
	if err != nil {
		return false, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return true, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return true, fmt.Errorf("status %d: %s", resp.StatusCode, snippet(buf.Bytes()))
	}
	return true, nil
}

// pageResponse is what checkPage reads of a response.
type pageResponse struct {
	Errors json.RawMessage `json:"errors"`
	Data   *struct {
		Users *struct {
			Edges []struct {
				Node *struct {
					ID string `json:"id"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"users"`
	} `json:"data"`
}

// checkPage reports whether body is a GraphQL response without errors
// holding wantEdges users.
func checkPage(body []byte, wantEdges int) error {
	var r pageResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("decode response: %w: %s", err, snippet(body))
	}
	if len(r.Errors) > 0 && string(r.Errors) != "null" {
		return fmt.Errorf("errors in response: %s", snippet(r.Errors))
	}
	if r.Data == nil || r.Data.Users == nil {
		return fmt.Errorf("no data.users in response: %s", snippet(body))
	}
	if n := len(r.Data.Users.Edges); n != wantEdges {
		return fmt.Errorf("%d edges, want %d", n, wantEdges)
	}
	for i, e := range r.Data.Users.Edges {
		if e.Node == nil || e.Node.ID == "" {
			return fmt.Errorf("edge %d has no node id", i)
		}
	}
	return nil
}

// snippet returns the start of b, for error messages.
func snippet(b []byte) string {
	const n = 300
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// result is what a load run measured of one target.
type result struct {
	name string
	// latencies of the successful requests started in the measured
	// window, sorted.
	latencies []time.Duration
	// elapsed is the time from the start of the measured window to the
	// end of its last request.
	elapsed time.Duration
	// failures and warmupFailures count failed requests started in the
	// measured window and in the warm-up.
	failures, warmupFailures int64
	firstFailure             string
	// responses counts every response received, warm-up included.
	responses int64
	// statements summarises the SQL statements per request of the run,
	// warm-up included.
	statements statementSummary
	// cpu is the CPU time used from the start of the measured window to
	// its last answer, nil where it cannot be read.
	cpu *cpuUse
	// sqlite: the database was SQLite, which has no processes of its own.
	sqlite bool
}

// cpuPerRequest returns d divided by the requests of the measured window.
func (r *result) cpuPerRequest(d time.Duration) time.Duration {
	n := int64(len(r.latencies)) + r.failures
	if n == 0 {
		return 0
	}
	return d / time.Duration(n)
}

// throughput returns the successful requests per second.
func (r *result) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(len(r.latencies)) / r.elapsed.Seconds()
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// the latencies: the smallest sample that at least p% of the samples do
// not exceed.
func (r *result) percentile(p float64) time.Duration {
	n := len(r.latencies)
	if n == 0 {
		return 0
	}
	rank := int(float64(n)*p/100 + 0.999999999) // ceil, robust to rounding
	rank = min(max(rank, 1), n)
	return r.latencies[rank-1]
}

// worker is what one load worker gathered.
type worker struct {
	latencies                []time.Duration
	failures, warmupFailures int64
	firstFailure             string
	last                     time.Time
}

// runLoad sends requests to t from workers concurrent clients, each
// sending its next request as soon as the previous one is answered, for
// warmup and then for duration. Only requests started after the warm-up
// are measured. Every response must hold wantEdges users.
func runLoad(ctx context.Context, t *target, wantEdges, workers int, warmup, duration time.Duration, probe func() *cpuSample) (*result, error) {
	before := t.statements.snapshot()
	var responses atomic.Int64
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	// The CPU time from the start of the measured window until its last
	// request is answered.
	cpuFrom := make(chan *cpuSample, 1)
	cpuTimer := time.AfterFunc(warmup, func() { cpuFrom <- probe() })
	defer cpuTimer.Stop()

	ws := make([]worker, workers)
	var wg sync.WaitGroup
	for i := range ws {
		w := &ws[i]
		w.latencies = make([]time.Duration, 0, 1<<14)
		wg.Go(func() {
			var buf bytes.Buffer
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				responded, err := t.fetch(ctx, &buf)
				if err == nil {
					err = checkPage(buf.Bytes(), wantEdges)
				}
				t1 := time.Now()
				if responded {
					responses.Add(1)
				}
				measured := !t0.Before(measureFrom)
				if measured {
					w.last = t1
				}
				switch {
				case err != nil && measured:
					w.failures++
				case err != nil:
					w.warmupFailures++
				case measured:
					w.latencies = append(w.latencies, t1.Sub(t0))
				}
				if err != nil {
					if w.firstFailure == "" {
						w.firstFailure = err.Error()
					}
					if !responded {
						time.Sleep(10 * time.Millisecond) // do not spin on a dead server
					}
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}

	r := &result{name: t.name, elapsed: duration, responses: responses.Load()}
	select {
	case from := <-cpuFrom:
		r.cpu = since(from, probe())
	default: // no request ran after the warm-up
	}
	var last time.Time
	for _, w := range ws {
		r.latencies = append(r.latencies, w.latencies...)
		r.failures += w.failures
		r.warmupFailures += w.warmupFailures
		if r.firstFailure == "" {
			r.firstFailure = w.firstFailure
		}
		if w.last.After(last) {
			last = w.last
		}
	}
	if !last.IsZero() {
		r.elapsed = last.Sub(measureFrom)
	}
	slices.Sort(r.latencies)

	// roster logs a request after answering it: give the last lines a
	// moment to arrive.
	deadline := time.Now().Add(5 * time.Second)
	for countRequests(t.statements.snapshot())-countRequests(before) < r.responses && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r.statements = summarize(before, t.statements.snapshot())
	return r, nil
}

// compareTargets fetches the first page from a and b, checks that each
// holds wantEdges users, and returns where their data differ, ignoring
// cursors and the order of each user's divisions, or "" when it is the
// same.
func compareTargets(ctx context.Context, a, b *target, wantEdges int) (string, error) {
	var docs [2]any
	for i, t := range []*target{a, b} {
		var buf bytes.Buffer
		if _, err := t.fetch(ctx, &buf); err != nil {
			return "", fmt.Errorf("list users from %s: %w", t.name, err)
		}
		if err := checkPage(buf.Bytes(), wantEdges); err != nil {
			return "", fmt.Errorf("list users from %s: %w", t.name, err)
		}
		dec := json.NewDecoder(&buf)
		dec.UseNumber()
		if err := dec.Decode(&docs[i]); err != nil {
			return "", fmt.Errorf("decode %s response: %w", t.name, err)
		}
		normalize(docs[i])
	}
	return diffJSON(docs[0], docs[1], "$"), nil
}

// normalize removes the cursors from a users response and sorts each
// user's divisions by id.
func normalize(doc any) {
	users, _ := dig(doc, "data", "users").(map[string]any)
	if users == nil {
		return
	}
	if pi, ok := users["pageInfo"].(map[string]any); ok {
		delete(pi, "endCursor")
	}
	edges, _ := users["edges"].([]any)
	for _, e := range edges {
		edge, ok := e.(map[string]any)
		if !ok {
			continue
		}
		delete(edge, "cursor")
		divisions, _ := dig(edge, "node", "divisions").([]any)
		slices.SortFunc(divisions, func(x, y any) int {
			return strings.Compare(fmt.Sprint(dig(x, "id")), fmt.Sprint(dig(y, "id")))
		})
	}
}

// dig returns the value at the path of object keys in v, or nil.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// diffJSON returns the first place where the decoded JSON values a and b
// differ, or "" when they are equal.
func diffJSON(a, b any, path string) string {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: object vs %T", path, b)
		}
		keys := make([]string, 0, len(a)+len(b))
		for k := range a {
			keys = append(keys, k)
		}
		for k := range b {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			av, aok := a[k]
			bv, bok := b[k]
			if aok != bok {
				return fmt.Sprintf("%s.%s: present in only one", path, k)
			}
			if d := diffJSON(av, bv, path+"."+k); d != "" {
				return d
			}
		}
		return ""
	case []any:
		b, ok := b.([]any)
		if !ok {
			return fmt.Sprintf("%s: array vs %T", path, b)
		}
		if len(a) != len(b) {
			return fmt.Sprintf("%s: %d elements vs %d", path, len(a), len(b))
		}
		for i := range a {
			if d := diffJSON(a[i], b[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	default:
		if a != b {
			return fmt.Sprintf("%s: %v vs %v", path, a, b)
		}
		return ""
	}
}
