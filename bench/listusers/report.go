package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// statementCounts is a histogram of the SQL statements run per request:
// how many requests ran each number of statements.
type statementCounts struct {
	mu      sync.Mutex
	byCount map[int64]int64
}

// add records a request that ran n statements.
func (c *statementCounts) add(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byCount == nil {
		c.byCount = make(map[int64]int64)
	}
	c.byCount[n]++
}

// snapshot returns a copy of the histogram.
func (c *statementCounts) snapshot() map[int64]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byCount)
}

// countRequests returns the number of requests in histogram h.
func countRequests(h map[int64]int64) int64 {
	var n int64
	for _, r := range h {
		n += r
	}
	return n
}

// statementSummary describes the SQL statements of the requests of a run.
type statementSummary struct {
	// byCount maps a number of statements to the requests that ran it.
	byCount map[int64]int64
}

// summarize returns the statements of the requests recorded between the
// snapshots before and after.
func summarize(before, after map[int64]int64) statementSummary {
	s := statementSummary{byCount: make(map[int64]int64)}
	for n, r := range after {
		if d := r - before[n]; d > 0 {
			s.byCount[n] = d
		}
	}
	return s
}

// requests returns the number of requests summarised.
func (s statementSummary) requests() int64 { return countRequests(s.byCount) }

// uniform reports whether every request ran the same number of statements.
func (s statementSummary) uniform() bool { return len(s.byCount) == 1 }

// perRequest returns the statements per request: the exact number when
// all requests ran the same, else the mean with two decimals.
func (s statementSummary) perRequest() string {
	switch len(s.byCount) {
	case 0:
		return "-"
	case 1:
		for n := range s.byCount {
			return fmt.Sprint(n)
		}
	}
	var total int64
	for n, r := range s.byCount {
		total += n * r
	}
	return fmt.Sprintf("%.2f", float64(total)/float64(s.requests()))
}

// distribution lists how many requests ran each number of statements,
// like "7 statements × 1200, 8 statements × 1".
func (s statementSummary) distribution() string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(s.byCount)) {
		parts = append(parts, fmt.Sprintf("%d statements × %d", n, s.byCount[n]))
	}
	return strings.Join(parts, ", ")
}

// printTable writes the results, one line per target, then the ratio of
// the first target to the second and notes on anything irregular.
func printTable(w io.Writer, results []*result) {
	fmt.Fprintf(w, "%-12s %9s %8s %8s %8s %8s %9s %9s\n", "target", "req/s", "p50 ms", "p99 ms", "max ms", "SQL/req", "failures", "requests")
	for _, r := range results {
		fmt.Fprintf(w, "%-12s %9.1f %8.2f %8.2f %8.2f %8s %9d %9d\n",
			r.name, r.throughput(), ms(r.percentile(50)), ms(r.percentile(99)), ms(r.percentile(100)),
			r.statements.perRequest(), r.failures, len(r.latencies))
	}
	if len(results) == 2 {
		a, b := results[0], results[1]
		fmt.Fprintf(w, "ratio %s/%s: throughput %s, p99 %s\n", a.name, b.name,
			ratio(a.throughput(), b.throughput(), "%.2f"),
			ratio(ms(a.percentile(99)), ms(b.percentile(99)), "%.1f"))
	}
	for _, r := range results {
		if r.cpu != nil {
			fmt.Fprintf(w, "%s CPU per request: roster %.2f ms, database %s, benchmark process %.2f ms\n", r.name,
				ms(r.cpuPerRequest(r.cpu.roster)), r.databaseCPU(), ms(r.cpuPerRequest(r.cpu.self)))
		}
	}
	for _, r := range results {
		if !r.statements.uniform() {
			fmt.Fprintf(w, "%s SQL statements per request: %s\n", r.name, r.statements.distribution())
		}
		if n := r.statements.requests(); n != r.responses {
			fmt.Fprintf(w, "%s SQL statements counted for %d of %d responses\n", r.name, n, r.responses)
		}
		if r.warmupFailures > 0 {
			fmt.Fprintf(w, "%s failures during warm-up: %d\n", r.name, r.warmupFailures)
		}
	}
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratio formats a/b, or "-" when b is zero.
func ratio(a, b float64, format string) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf(format, a/b)
}

// databaseCPU formats PostgreSQL's CPU time per request, or says that
// SQLite's is in the process that opened it.
func (r *result) databaseCPU() string {
	if r.sqlite {
		return "(SQLite: in the process)"
	}
	return fmt.Sprintf("%.2f ms", ms(r.cpuPerRequest(r.cpu.postgres)))
}

// roundRatios describes the throughput ratio of the first target to the
// second in each round, and their median.
func roundRatios(rounds [][]*result) string {
	var ratios []float64
	var parts []string
	for _, r := range rounds {
		if len(r) != 2 || r[1].throughput() == 0 {
			continue
		}
		q := r[0].throughput() / r[1].throughput()
		ratios = append(ratios, q)
		parts = append(parts, fmt.Sprintf("%.2f", q))
	}
	if len(ratios) == 0 {
		return "throughput ratio: -"
	}
	return fmt.Sprintf("throughput ratio %s/%s by round: %s; median %.2f", rounds[0][0].name, rounds[0][1].name,
		strings.Join(parts, ", "), median(ratios))
}

// median returns the median of xs (the mean of the middle two for an even
// number), which must not be empty.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
