package main

import (
	"encoding/json"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	r := &result{}
	for i := 1; i <= 200; i++ {
		r.latencies = append(r.latencies, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 100 * time.Millisecond}, {99, 198 * time.Millisecond}, {100, 200 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := r.percentile(c.p); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := (&result{}).percentile(50); got != 0 {
		t.Errorf("percentile of no samples = %v, want 0", got)
	}
}

func TestCheckPage(t *testing.T) {
	ok := `{"data":{"users":{"edges":[{"node":{"id":"1"}},{"node":{"id":"2"}}]}}}`
	if err := checkPage([]byte(ok), 2); err != nil {
		t.Errorf("checkPage(ok) = %v", err)
	}
	for name, body := range map[string]string{
		"errors":   `{"errors":[{"message":"boom"}],"data":null}`,
		"short":    `{"data":{"users":{"edges":[{"node":{"id":"1"}}]}}}`,
		"no id":    `{"data":{"users":{"edges":[{"node":{"id":"1"}},{"node":null}]}}}`,
		"no data":  `{"data":null}`,
		"not json": `<html>`,
	} {
		if err := checkPage([]byte(body), 2); err == nil {
			t.Errorf("checkPage(%s) = nil, want an error", name)
		}
	}
}

func TestCompareIgnoresCursorsAndDivisionOrder(t *testing.T) {
	decode := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		normalize(v)
		return v
	}
	a := decode(`{"data":{"users":{"totalCount":1,"edges":[{"cursor":"a","node":{"id":"1","divisions":[{"id":"5"},{"id":"4"}]}}],"pageInfo":{"hasNextPage":false,"endCursor":"a"}}}}`)
	b := decode(`{"data":{"users":{"totalCount":1,"edges":[{"cursor":"b","node":{"id":"1","divisions":[{"id":"4"},{"id":"5"}]}}],"pageInfo":{"hasNextPage":false,"endCursor":"b"}}}}`)
	if d := diffJSON(a, b, "$"); d != "" {
		t.Errorf("diff = %q, want none", d)
	}
	c := decode(`{"data":{"users":{"totalCount":2,"edges":[{"cursor":"b","node":{"id":"1","divisions":[{"id":"4"},{"id":"5"}]}}],"pageInfo":{"hasNextPage":false,"endCursor":"b"}}}}`)
	if d := diffJSON(a, c, "$"); d != "$.data.users.totalCount: 1 vs 2" {
		t.Errorf("diff = %q, want the total count", d)
	}
}

func TestSummarize(t *testing.T) {
	s := summarize(map[int64]int64{7: 3}, map[int64]int64{7: 10, 8: 1})
	if got, want := s.perRequest(), "7.12"; got != want {
		t.Errorf("perRequest = %q, want %q", got, want)
	}
	if got, want := s.distribution(), "7 statements × 7, 8 statements × 1"; got != want {
		t.Errorf("distribution = %q, want %q", got, want)
	}
	if got := summarize(nil, map[int64]int64{3: 5}).perRequest(); got != "3" {
		t.Errorf("perRequest = %q, want 3", got)
	}
}

func TestRoundRatios(t *testing.T) {
	round := func(a, b int) []*result {
		res := func(name string, n int) *result {
			r := &result{name: name, elapsed: time.Second}
			r.latencies = make([]time.Duration, n)
			return r
		}
		return []*result{res("graphql", a), res("handwritten", b)}
	}
	got := roundRatios([][]*result{round(60, 100), round(50, 100), round(70, 100)})
	if want := "throughput ratio graphql/handwritten by round: 0.60, 0.50, 0.70; median 0.60"; got != want {
		t.Errorf("roundRatios = %q, want %q", got, want)
	}
	if m := median([]float64{0.4, 0.8, 0.5, 0.6}); m != 0.55 {
		t.Errorf("median of four = %v, want 0.55", m)
	}
}
