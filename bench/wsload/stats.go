package main

import (
	"fmt"
	"slices"
	"time"
)

// event is one availability change the benchmark made.
type event struct {
	// sent is when the mutation was sent, since fleet.base.
	sent time.Duration
	// version is the user's version after the change, as the mutation
	// returned it; the event subscribers receive carries it.
	version int
	// err is set when the mutation failed; the event is then left out.
	err error
}

// accounting is what the subscribers received of the events.
type accounting struct {
	// subscribers is the number of subscribers accounted for.
	subscribers int
	// sent is the number of events whose mutation succeeded.
	sent int
	// complete is the number of those that reached every subscriber.
	complete int
	// toLast holds, for each complete event, the time from sending the
	// mutation to the moment the last subscriber received it; sorted.
	toLast []time.Duration
	// perDelivery holds the latency of each first delivery of an event
	// to a subscriber; sorted.
	perDelivery []time.Duration
	// missing counts the (subscriber, event) pairs never delivered;
	// duplicates the deliveries of an event a subscriber already had;
	// unexpected the deliveries about the watched user with a version
	// no event had (nor one of the ignored versions).
	missing, duplicates, unexpected int
	// superseded counts the missing pairs where the subscriber received a
	// later event instead: roster sent a newer version of the user, so the
	// subscriber's state caught up but the change itself was never told.
	superseded int
	// received holds, per event, how many subscribers received it.
	received []int
}

// account matches the deliveries each subscriber logged against the
// events. Deliveries of a version in ignore (the readiness probe) are
// skipped; events whose mutation failed are left out.
func account(events []event, logs [][]delivery, ignore []int) accounting {
	a := accounting{subscribers: len(logs)}
	byVersion := make(map[int]int, len(events))
	for i, e := range events {
		if e.err == nil {
			byVersion[e.version] = i
			a.sent++
		}
	}
	a.received = make([]int, len(events))
	last := make([]time.Duration, len(events))
	seen := make([]bool, len(events))
	a.perDelivery = make([]time.Duration, 0, len(logs)*a.sent)
	for _, got := range logs {
		clear(seen)
		newest := -1 // the highest version received of the events
		for _, d := range got {
			i, ok := byVersion[int(d.version)]
			if !ok {
				if !slices.Contains(ignore, int(d.version)) {
					a.unexpected++
				}
				continue
			}
			if seen[i] {
				a.duplicates++
				continue
			}
			seen[i] = true
			newest = max(newest, int(d.version))
			a.received[i]++
			lat := d.at - events[i].sent
			a.perDelivery = append(a.perDelivery, lat)
			last[i] = max(last[i], lat)
		}
		for i, e := range events {
			if e.err == nil && !seen[i] && e.version < newest {
				a.superseded++
			}
		}
	}
	for i, e := range events {
		if e.err != nil {
			continue
		}
		a.missing += len(logs) - a.received[i]
		if a.received[i] == len(logs) {
			a.complete++
			a.toLast = append(a.toLast, last[i])
		}
	}
	slices.Sort(a.toLast)
	slices.Sort(a.perDelivery)
	return a
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of the
// sorted samples: the smallest sample that at least p% of the samples do
// not exceed; 0 when there are none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(float64(n)*p/100 + 0.999999999) // ceil, robust to rounding
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// summary is the p50, p99 and maximum of some latencies.
type summary struct {
	P50, P99, Max time.Duration
}

func summarize(sorted []time.Duration) summary {
	return summary{P50: percentile(sorted, 50), P99: percentile(sorted, 99), Max: percentile(sorted, 100)}
}

// incomplete describes the events that did not reach every subscriber,
// like "#7 (version 58) reached 0", at most limit of them.
func incomplete(events []event, a accounting, limit int) []string {
	var out []string
	for i, e := range events {
		if e.err != nil || a.received[i] == a.subscribers {
			continue
		}
		if len(out) == limit {
			out = append(out, "…")
			break
		}
		out = append(out, fmt.Sprintf("#%d (version %d) reached %d", i+1, e.version, a.received[i]))
	}
	return out
}
