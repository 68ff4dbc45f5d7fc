// Package metrics owns the Prometheus instruments of the server and the
// registry they are exported from at /metrics. Each Metrics has a registry of
// its own (never the global default one), so servers and tests in one
// process keep separate counts. The packages it measures know nothing of
// Prometheus: they call small interfaces or callbacks, which Metrics
// implements.
package metrics

import (
	"database/sql"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcomes of a GraphQL operation.
const (
	OK    = "ok"    // answered without errors (a subscription: set up)
	Error = "error" // answered with GraphQL errors, or refused
)

// Transports a GraphQL operation comes by.
const (
	HTTP      = "http"      // GET or POST, one answer
	Websocket = "websocket" // graphql-transport-ws (or legacy graphql-ws)
	SSE       = "sse"       // GraphQL over Server-Sent Events
)

// Metrics holds the instruments. Its methods are safe for concurrent use;
// a nil *Metrics records nothing.
type Metrics struct {
	registry *prometheus.Registry

	requests      *prometheus.HistogramVec
	websockets    prometheus.Gauge
	subscriptions prometheus.Gauge
	published     *prometheus.CounterVec
	delivered     prometheus.Counter
	dropped       prometheus.Counter
	summaries     prometheus.Counter
	refused       *prometheus.CounterVec
}

// New returns instruments registered in a registry of their own, with the
// Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "roster_graphql_request_duration_seconds",
			Help: "GraphQL operations, each recorded once whatever its transport (http, websocket or sse), by operation type (query, mutation, subscription, or none when it never got that far) and outcome (ok or error). " +
				"A query's or mutation's duration runs until its answer is ready; a subscription's until it is set up (its stream's lifetime is not counted), and its outcome is whether it was.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"transport", "operation_type", "outcome"}),
		websockets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "roster_websockets_open",
			Help: "Websocket connections open on this instance.",
		}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "roster_subscriptions_active",
			Help: "GraphQL subscriptions running on this instance's websockets.",
		}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_events_published_total",
			Help: "Events published by this instance after their transaction committed, by topic.",
		}, []string{"topic"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_events_delivered_total",
			Help: "Events handed to a subscription of this instance.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_events_dropped_total",
			Help: "Events a subscription of this instance was too far behind to queue; it re-reads the state instead.",
		}),
		summaries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_presence_summaries_computed_total",
			Help: "Presence summaries this instance computed for presenceSummaryChanged subscriptions (one per burst of changes for all the subscribers who see the same users).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_rate_limit_refusals_total",
			Help: "Attempts refused by a rate limit, by rule.",
		}, []string{"rule"}),
	}
	reg.MustRegister(m.requests, m.websockets, m.subscriptions, m.published, m.delivered, m.dropped, m.summaries, m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the instruments are registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// WatchDB exports the statistics of db's connection pool
// (go_sql_…{db_name="roster"}).
func (m *Metrics) WatchDB(db *sql.DB) {
	if m == nil || db == nil {
		return
	}
	m.registry.MustRegister(collectors.NewDBStatsCollector(db, "roster"))
}

// WatchPresence exports online as the number of users online through this
// instance, read at each scrape.
func (m *Metrics) WatchPresence(online func() int) {
	if m == nil {
		return
	}
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "roster_presence_online_users",
		Help: "Users online through this instance: with a websocket open on it, or within the grace period after their last one closed.",
	}, func() float64 { return float64(online()) }))
}

// Operation records one GraphQL operation that came by transport (HTTP,
// Websocket or SSE): a query or mutation once answered, a subscription
// once set up (or refused), with how long that took. An empty
// operationType is recorded as "none": the request never got as far as
// naming its operation.
func (m *Metrics) Operation(transport, operationType, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	if operationType == "" {
		operationType = "none"
	}
	m.requests.WithLabelValues(transport, operationType, outcome).Observe(d.Seconds())
}

// SocketOpened and SocketClosed count open websockets.
func (m *Metrics) SocketOpened() {
	if m != nil {
		m.websockets.Inc()
	}
}

func (m *Metrics) SocketClosed() {
	if m != nil {
		m.websockets.Dec()
	}
}

// SubscriptionsChanged adds delta to the running subscriptions.
func (m *Metrics) SubscriptionsChanged(delta int) {
	if m != nil {
		m.subscriptions.Add(float64(delta))
	}
}

// EventPublished counts an event published on topic.
func (m *Metrics) EventPublished(topic string) {
	if m != nil {
		m.published.WithLabelValues(topic).Inc()
	}
}

// EventDelivered counts an event queued for a subscription.
func (m *Metrics) EventDelivered() {
	if m != nil {
		m.delivered.Inc()
	}
}

// EventDropped counts an event a subscription could not queue.
func (m *Metrics) EventDropped() {
	if m != nil {
		m.dropped.Inc()
	}
}

// SummaryComputed counts a presence summary computed for subscribers.
func (m *Metrics) SummaryComputed() {
	if m != nil {
		m.summaries.Inc()
	}
}

// RateLimitRefused counts an attempt refused by rule.
func (m *Metrics) RateLimitRefused(rule string) {
	if m != nil {
		m.refused.WithLabelValues(rule).Inc()
	}
}
