package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// otherWorkNote is the share of the machine's CPU time, in percent, taken
// by other work during the event phase from which the text report warns
// that the latencies are inflated.
const otherWorkNote = 10

// report is the outcome of a run; its JSON form is what -json prints.
type report struct {
	Subscribers   int     `json:"subscribers"`
	Users         int     `json:"users"`
	Events        int     `json:"events"`
	Rate          float64 `json:"rate_per_second"`
	Database      string  `json:"database"`
	Go            string  `json:"go"`
	CPUs          int     `json:"cpus"`
	CPUModel      string  `json:"cpu_model"`
	OpenFileLimit uint64  `json:"open_file_limit"`
	LoadBefore    string  `json:"load_average_before"`
	LoadAfter     string  `json:"load_average_after"`

	SetupSeconds       float64   `json:"setup_seconds"`
	SetupServerCPUms   float64   `json:"setup_server_cpu_ms"`
	SetupPostgresCPUms float64   `json:"setup_postgres_cpu_ms"`
	ConnectionSetup    summaryMS `json:"connection_setup_ms"`
	DialRetries        int64     `json:"dial_retries"`
	ProbeMS            float64   `json:"first_change_to_all_ms"`

	ServerRSSBeforeMiB   float64 `json:"server_rss_before_mib"`
	ServerRSSIdleMiB     float64 `json:"server_rss_idle_mib"`
	ServerRSSAfterMiB    float64 `json:"server_rss_after_events_mib"`
	IdleKiBPerConnection float64 `json:"idle_kib_per_connection"`
	LoadGeneratorRSSMiB  float64 `json:"load_generator_rss_mib"`

	EventsSent     int       `json:"events_sent"`
	FailedEvents   int       `json:"failed_changes"`
	CompleteEvents int       `json:"events_complete"`
	EventsPerSec   float64   `json:"events_per_second"`
	ToLast         summaryMS `json:"to_last_subscriber_ms"`
	PerDelivery    summaryMS `json:"per_delivery_ms"`
	Deliveries     int       `json:"deliveries"`
	// DeliveriesPerSec is the deliveries divided by the time from the
	// first change sent to the last delivery awaited.
	DeliveriesPerSec float64 `json:"deliveries_per_second"`

	Lost int `json:"lost"`
	// Superseded counts the lost deliveries whose subscriber received a
	// later change of the user instead.
	Superseded int `json:"lost_superseded"`
	// Incomplete lists the events that did not reach every subscriber.
	Incomplete        []string `json:"incomplete_events,omitempty"`
	Duplicated        int      `json:"duplicated"`
	Unexpected        int      `json:"unexpected"`
	OtherEvents       int      `json:"other_users_events"`
	FailedConnections int      `json:"failed_connections"`
	FirstFailure      string   `json:"first_failure,omitempty"`

	ServerCPUPerEventMS        float64 `json:"server_cpu_per_event_ms"`
	ServerCPUPerDeliveryUS     float64 `json:"server_cpu_per_delivery_us"`
	LoadGeneratorCPUPerEventMS float64 `json:"load_generator_cpu_per_event_ms"`
	PostgresCPUPerEventMS      float64 `json:"postgres_cpu_per_event_ms"`
	// OtherCPUPerEventMS is the machine's busy time during the event
	// phase not spent by roster, PostgreSQL or the load generator: other
	// work on the machine, and the kernel's work not charged to them.
	OtherCPUPerEventMS float64 `json:"other_cpu_per_event_ms"`
	MachineBusyPercent float64 `json:"machine_busy_percent"`
	// OtherBusyPercent is the share of the machine's CPU time that other
	// work took during the event phase.
	OtherBusyPercent       float64 `json:"other_busy_percent"`
	ServerStopSeconds      float64 `json:"server_stop_seconds"`
	RosterWarnings         int64   `json:"roster_warnings"`
	RosterErrors           int64   `json:"roster_errors"`
	RosterStopWarnings     int64   `json:"roster_stop_warnings"`
	RosterFirstStopWarning string  `json:"roster_first_stop_warning,omitempty"`
}

// summaryMS is a summary in milliseconds.
type summaryMS struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func toMS(s summary) summaryMS { return summaryMS{P50: ms(s.P50), P99: ms(s.P99), Max: ms(s.Max)} }

// summarizeUnsorted sorts d in place and summarises it.
func summarizeUnsorted(d []time.Duration) summary {
	slices.Sort(d)
	return summarize(d)
}

// fill records the accounting of the event phase, which started at start;
// the last change was sent at lastSent and the waiting ended at end.
func (r *report) fill(a accounting, events []event, start, lastSent, end time.Time) {
	r.EventsSent = a.sent
	r.FailedEvents = len(events) - a.sent
	r.CompleteEvents = a.complete
	if n := len(events); n > 1 {
		first, last := events[0].sent, events[n-1].sent
		if last > first {
			r.EventsPerSec = float64(n-1) / (last - first).Seconds()
		}
	} else if d := lastSent.Sub(start); d > 0 {
		r.EventsPerSec = 1 / d.Seconds()
	}
	r.ToLast = toMS(summarize(a.toLast))
	r.PerDelivery = toMS(summarize(a.perDelivery))
	r.Deliveries = len(a.perDelivery)
	if d := end.Sub(start); d > 0 {
		r.DeliveriesPerSec = float64(r.Deliveries) / d.Seconds()
	}
	r.Lost, r.Duplicated, r.Unexpected, r.Superseded = a.missing, a.duplicates, a.unexpected, a.superseded
	r.Incomplete = incomplete(events, a, 10)
}

// writeText prints the compact table.
func (r *report) writeText(w io.Writer) {
	fmt.Fprintf(w, "roster websocket fan-out — %d subscribers (%s), %d events at %g/s, %s\n", r.Subscribers, usersText(r.Users), r.Events, r.Rate, r.Database)
	fmt.Fprintf(w, "%s, %d CPUs (%s), open files %d; load average before %s, after %s\n",
		r.Go, r.CPUs, r.CPUModel, r.OpenFileLimit, r.LoadBefore, r.LoadAfter)
	pg := strings.HasPrefix(r.Database, "PostgreSQL")
	fmt.Fprintf(w, "setup: %d connections in %.2f s (%.0f/s; each p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d dial retries; CPU per connection: server %.2f ms",
		r.Subscribers, r.SetupSeconds, float64(r.Subscribers)/r.SetupSeconds,
		r.ConnectionSetup.P50, r.ConnectionSetup.P99, r.ConnectionSetup.Max, r.DialRetries,
		r.SetupServerCPUms/float64(r.Subscribers))
	if pg {
		fmt.Fprintf(w, ", PostgreSQL %.2f ms", r.SetupPostgresCPUms/float64(r.Subscribers))
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "first change reached all subscribers in %.1f ms\n", r.ProbeMS)
	fmt.Fprintf(w, "idle server memory: %+.1f MiB for %d subscribed connections = %.1f KiB per connection (RSS %.1f → %.1f MiB; %.1f MiB after the events)\n",
		r.ServerRSSIdleMiB-r.ServerRSSBeforeMiB, r.Subscribers, r.IdleKiBPerConnection,
		r.ServerRSSBeforeMiB, r.ServerRSSIdleMiB, r.ServerRSSAfterMiB)
	fmt.Fprintf(w, "latency to last subscriber: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d of %d events reached everyone)\n",
		r.ToLast.P50, r.ToLast.P99, r.ToLast.Max, r.CompleteEvents, r.EventsSent)
	fmt.Fprintf(w, "per delivery: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d deliveries, %.0f/s)\n",
		r.PerDelivery.P50, r.PerDelivery.P99, r.PerDelivery.Max, r.Deliveries, r.DeliveriesPerSec)
	fmt.Fprintf(w, "lost %d, duplicated %d; server CPU per event %.1f ms (%.1f µs per delivery)\n",
		r.Lost, r.Duplicated, r.ServerCPUPerEventMS, r.ServerCPUPerDeliveryUS)
	if r.Lost > 0 {
		fmt.Fprintf(w, "LOST: %d deliveries, %d of them superseded (the subscriber got a later change of the user instead); events not delivered to all %d: %s\n",
			r.Lost, r.Superseded, r.Subscribers, strings.Join(r.Incomplete, ", "))
	}
	fmt.Fprintf(w, "events/s %.2f; CPU per event: load generator %.1f ms", r.EventsPerSec, r.LoadGeneratorCPUPerEventMS)
	if pg {
		fmt.Fprintf(w, ", PostgreSQL %.1f ms", r.PostgresCPUPerEventMS)
	}
	fmt.Fprintf(w, ", other %.1f ms; machine busy %.0f%% during the events\n", r.OtherCPUPerEventMS, r.MachineBusyPercent)
	if r.OtherBusyPercent >= otherWorkNote {
		fmt.Fprintf(w, "NOTE: other work took %.0f%% of the machine's CPU time during the events: the latencies include waiting for it\n", r.OtherBusyPercent)
	}
	if r.Unexpected > 0 || r.FailedEvents > 0 || r.FailedConnections > 0 {
		fmt.Fprintf(w, "PROBLEMS: %d unexpected versions, %d failed changes, %d broken connections\n", r.Unexpected, r.FailedEvents, r.FailedConnections)
	}
	if r.FirstFailure != "" {
		fmt.Fprintf(w, "first broken connection: %s\n", r.FirstFailure)
	}
	fmt.Fprintf(w, "roster: %d warnings, %d errors logged; stopped %.1f s after SIGTERM, logging %d warnings meanwhile; %d events about other users received; load generator RSS %.0f MiB\n",
		r.RosterWarnings, r.RosterErrors, r.ServerStopSeconds, r.RosterStopWarnings, r.OtherEvents, r.LoadGeneratorRSSMiB)
	if r.RosterFirstStopWarning != "" {
		fmt.Fprintf(w, "roster's first warning while stopping: %s\n", r.RosterFirstStopWarning)
	}
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// mib returns b bytes in MiB.
func mib(b int64) float64 { return float64(b) / (1 << 20) }

func usersText(n int) string {
	if n <= 1 {
		return "one user"
	}
	return fmt.Sprintf("%d users", n)
}
