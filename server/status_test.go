package main

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"roster/internal/fixture"
)

const statusReportQuery = `query($from: Time!, $to: Time!, $div: ID, $by: StatusReportGroupBy) {
  statusReport(from: $from, to: $to, divisionID: $div, groupBy: $by) {
    timeZone
    rows {
      user { id }
      division { id }
      trackedSeconds
      onlineSeconds
      byAvailability { availability seconds }
      days { date trackedSeconds }
    }
  }
}`

const statusHistoryQuery = `query($id: ID!, $from: Time!, $to: Time!) {
  node(id: $id) { ... on User { statusHistory(from: $from, to: $to) { availability online start end source } } }
}`

type statusRow struct {
	User           *struct{ ID string }
	Division       *struct{ ID string }
	TrackedSeconds float64
	OnlineSeconds  float64
	ByAvailability []struct {
		Availability string
		Seconds      float64
	}
	Days []struct {
		Date           string
		TrackedSeconds float64
	}
}

type statusInterval struct {
	Availability string
	Online       bool
	Start, End   *time.Time
	Source       string
}

// TestStatusReport reads the status history and report over HTTP and the
// websocket, as admins and supervisors of two organizations.
func TestStatusReport(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, url string) {
		srv, w := startWorld(t, url, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		srv.as(acme.Agent).do(t, `mutation { setMyAvailability(availability: BUSY) { id } }`, nil).decode(t, new(any))
		(&wsDoer{c: dialWS(t, srv.url, acme.Admin.Token)}).do(t, `mutation($id: ID!) { setUserAvailability(id: $id, availability: AWAY) { id } }`,
			vars{"id": acme.Agent.ID}).decode(t, new(any))
		to := time.Now().UTC().Add(time.Millisecond)
		time.Sleep(5 * time.Millisecond)
		from := to.Add(-time.Hour)
		rng := vars{"from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano)}
		with := func(extra vars) vars {
			v := vars{}
			for k, x := range rng {
				v[k] = x
			}
			for k, x := range extra {
				v[k] = x
			}
			return v
		}
		ids := func(us ...*fixture.User) []string {
			var out []string
			for _, u := range us {
				out = append(out, strconv.Itoa(u.ID))
			}
			slices.Sort(out)
			return out
		}

		for _, tc := range []struct {
			name   string
			viewer *fixture.User
			want   []string
		}{
			{"Acme's admin sees Acme's users", acme.Admin, ids(acme.Users()...)},
			{"Acme's supervisor sees Acme's users", acme.Supervisor, ids(acme.Users()...)},
			{"a scoped supervisor sees their divisions' users", acme.Scoped, ids(acme.Supervisor, acme.Scoped, acme.Agent)},
			{"Globex's admin sees Globex's users", globex.Admin, ids(globex.Users()...)},
		} {
			c := srv.as(tc.viewer)
			for name, d := range transports(t, srv, c) {
				t.Run(tc.name+" over "+name, func(t *testing.T) {
					var got struct {
						StatusReport struct {
							TimeZone string
							Rows     []statusRow
						}
					}
					d.do(t, statusReportQuery, rng).decode(t, &got)
					var rows []string
					for _, r := range got.StatusReport.Rows {
						rows = append(rows, r.User.ID)
						var sum float64
						for _, a := range r.ByAvailability {
							sum += a.Seconds
						}
						if diff := sum - r.TrackedSeconds; diff > 1e-6 || diff < -1e-6 || r.TrackedSeconds <= 0 {
							t.Errorf("user %s: %v s tracked, %v s by availability", r.User.ID, r.TrackedSeconds, sum)
						}
						// The row equals the sum of the user's intervals.
						var hist struct {
							Node struct{ StatusHistory []statusInterval }
						}
						d.do(t, statusHistoryQuery, with(vars{"id": r.User.ID})).decode(t, &hist)
						byAvail := map[string]float64{}
						for i, iv := range hist.Node.StatusHistory {
							if iv.End == nil || (i > 0 && !iv.Start.Equal(*hist.Node.StatusHistory[i-1].End)) {
								t.Fatalf("user %s: history has a gap or an open end: %+v", r.User.ID, hist.Node.StatusHistory)
							}
							byAvail[iv.Availability] += iv.End.Sub(*iv.Start).Seconds()
						}
						for _, a := range r.ByAvailability {
							if diff := a.Seconds - byAvail[a.Availability]; diff > 1e-3 || diff < -1e-3 {
								t.Errorf("user %s: report %v s %s, intervals %v s", r.User.ID, a.Seconds, a.Availability, byAvail[a.Availability])
							}
						}
						if r.User.ID == strconv.Itoa(acme.Agent.ID) {
							var sources []string
							for _, iv := range hist.Node.StatusHistory {
								sources = append(sources, iv.Source+":"+iv.Availability)
							}
							if fmt.Sprint(sources) != "[CREATED:OFFLINE SET_BY_USER:BUSY SET_BY_ADMIN:AWAY]" {
								t.Errorf("agent's history: %v", sources)
							}
						}
					}
					slices.Sort(rows)
					if !slices.Equal(rows, tc.want) || got.StatusReport.TimeZone != "UTC" {
						t.Fatalf("rows %v in %s, want %v in UTC", rows, got.StatusReport.TimeZone, tc.want)
					}
				})
			}
		}

		for name, d := range transports(t, srv, srv.as(acme.Scoped)) {
			t.Run("a scoped supervisor and Globex read no history of users they cannot see over "+name, func(t *testing.T) {
				// The user is not found, as any ID that names nothing.
				d.do(t, statusHistoryQuery, with(vars{"id": acme.Admin.ID})).wantError(t, "NOT_FOUND", "")
				var div struct{ StatusReport struct{ Rows []statusRow } }
				d.do(t, statusReportQuery, with(vars{"div": acme.Support, "by": "DIVISION"})).decode(t, &div)
				if len(div.StatusReport.Rows) != 1 || div.StatusReport.Rows[0].Division.ID != strconv.Itoa(acme.Support) {
					t.Fatalf("rows by division: %+v", div.StatusReport.Rows)
				}
			})
		}
		for name, d := range transports(t, srv, srv.as(globex.Admin)) {
			t.Run("Globex reads nothing of Acme over "+name, func(t *testing.T) {
				d.do(t, statusHistoryQuery, with(vars{"id": acme.Agent.ID})).wantError(t, "NOT_FOUND", "")
				d.do(t, statusReportQuery, with(vars{"div": acme.Support})).wantError(t, "NOT_FOUND", "")
			})
		}
		for name, d := range transports(t, srv, srv.as(acme.Agent)) {
			t.Run("an agent reads only their own history over "+name, func(t *testing.T) {
				d.do(t, statusReportQuery, rng).wantError(t, "FORBIDDEN", "")
				d.do(t, statusHistoryQuery, with(vars{"id": acme.Admin.ID})).wantError(t, "FORBIDDEN", "")
				var own struct {
					Node struct{ StatusHistory []statusInterval }
				}
				d.do(t, statusHistoryQuery, with(vars{"id": acme.Agent.ID})).decode(t, &own)
				if len(own.Node.StatusHistory) != 3 {
					t.Fatalf("own history: %+v", own.Node.StatusHistory)
				}
			})
		}
		admin := srv.as(acme.Admin)
		for _, tc := range []struct {
			name  string
			vars  vars
			field string
		}{
			{"reversed", vars{"from": rng["to"], "to": rng["from"]}, "to"},
			{"over 366 days", vars{"from": from.Add(-400 * 24 * time.Hour).Format(time.RFC3339), "to": rng["to"]}, "to"},
		} {
			t.Run("range "+tc.name, func(t *testing.T) {
				admin.do(t, statusReportQuery, tc.vars).wantError(t, "BAD_USER_INPUT", tc.field)
				admin.do(t, statusHistoryQuery, with(vars{"id": acme.Agent.ID, "from": tc.vars["from"], "to": tc.vars["to"]})).wantError(t, "BAD_USER_INPUT", tc.field)
			})
		}
	})
}
