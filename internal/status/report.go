package status

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"roster/ent"
	"roster/ent/division"
	"roster/ent/organization"
	"roster/ent/statusinterval"
	"roster/ent/user"
	"roster/internal/apierr"
	"roster/internal/viewer"
)

// MaxRange is the longest range a history or report covers.
const MaxRange = 366 * 24 * time.Hour

// Availabilities lists every availability, in the order reports list them.
var Availabilities = []user.Availability{user.AvailabilityOnline, user.AvailabilityBusy, user.AvailabilityAway, user.AvailabilityOffline}

// Interval is a span of one user's status history, clipped to the range
// asked for.
type Interval struct {
	Availability user.Availability
	Online       bool
	Start        time.Time
	// End is nil while the interval lasts (and it ends after the range).
	End    *time.Time
	Source Source
}

// CheckRange refuses a range that is empty, reversed or longer than
// MaxRange, naming the argument at fault.
func CheckRange(from, to time.Time) error {
	switch {
	case from.IsZero():
		return apierr.Input("from", "is required")
	case !from.Before(to):
		return apierr.Input("to", "must be after from")
	case to.Sub(from) > MaxRange:
		return apierr.Input("to", "must be at most 366 days after from")
	}
	return nil
}

// mayRead refuses a viewer who asks for the status history of others
// without the permission to view reports. The privacy policy of intervals
// is what confines each read; this answers FORBIDDEN instead of an empty
// history.
func mayRead(ctx context.Context, userID int) error {
	v := viewer.FromContext(ctx)
	if v == nil && !viewer.IsSystem(ctx) {
		return apierr.New(apierr.Unauthenticated, "log in first")
	}
	if viewer.IsSystem(ctx) || v.Can(viewer.ViewReports) || (v != nil && userID != 0 && v.UserID == userID) {
		return nil
	}
	return apierr.New(apierr.Forbidden, "viewing status reports needs the VIEW_REPORTS permission")
}

// overlapping returns the query of the intervals that overlap [from, to).
func overlapping(client *ent.Client, from, to time.Time) *ent.StatusIntervalQuery {
	return client.StatusInterval.Query().Where(
		statusinterval.StartedAtLT(to),
		statusinterval.Or(statusinterval.EndedAtIsNil(), statusinterval.EndedAtGT(from)),
	)
}

// History returns the intervals of user u that overlap [from, to), oldest
// first, clipped to the range.
func History(ctx context.Context, client *ent.Client, u *ent.User, from, to time.Time) ([]*Interval, error) {
	if err := CheckRange(from, to); err != nil {
		return nil, err
	}
	if err := mayRead(ctx, u.ID); err != nil {
		return nil, err
	}
	rows, err := overlapping(client, from, to).Where(statusinterval.UserID(u.ID)).
		Order(ent.Asc(statusinterval.FieldStartedAt), ent.Asc(statusinterval.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read status history: %w", err)
	}
	out := make([]*Interval, 0, len(rows))
	for _, r := range rows {
		out = append(out, clip(ctx, r, from, to))
	}
	return out, nil
}

// clip returns r within [from, to); an interval open now ends at to only
// when to is past.
func clip(ctx context.Context, r *ent.StatusInterval, from, to time.Time) *Interval {
	iv := &Interval{Availability: user.Availability(r.Availability), Online: r.Online, Start: r.StartedAt, Source: r.Source}
	if iv.Start.Before(from) {
		iv.Start = from
	}
	if r.EndedAt != nil {
		end := *r.EndedAt
		if end.After(to) {
			end = to
		}
		iv.End = &end
	} else if !to.After(nowOf(ctx)) {
		end := to
		iv.End = &end
	}
	return iv
}

// GroupBy is what the rows of a report are.
type GroupBy string

// The groupings of a report.
const (
	ByUser     GroupBy = "USER"
	ByDivision GroupBy = "DIVISION"
)

// Report is the time users spent in each availability and online over a
// range.
type Report struct {
	From, To time.Time
	// TimeZone is the organization's: days are counted in it.
	TimeZone string
	Rows     []*Row
}

// Totals is time spent in each availability and online.
type Totals struct {
	// Tracked is the time covered by the users' history.
	Tracked time.Duration
	// Online is the time with at least one live connection.
	Online         time.Duration
	byAvailability map[user.Availability]time.Duration
}

// ByAvailability returns the time spent in each availability, every
// availability listed.
func (t *Totals) ByAvailability() []AvailabilityTime {
	out := make([]AvailabilityTime, 0, len(Availabilities))
	for _, a := range Availabilities {
		out = append(out, AvailabilityTime{Availability: a, Duration: t.byAvailability[a]})
	}
	return out
}

func (t *Totals) add(a user.Availability, online bool, d time.Duration) {
	if t.byAvailability == nil {
		t.byAvailability = map[user.Availability]time.Duration{}
	}
	t.Tracked += d
	t.byAvailability[a] += d
	if online {
		t.Online += d
	}
}

// AvailabilityTime is the time spent in one availability.
type AvailabilityTime struct {
	Availability user.Availability
	Duration     time.Duration
}

// Row is the time of one user, or of the members of one division.
type Row struct {
	User     *ent.User
	Division *ent.Division
	Totals
	// Days splits the totals by day of the organization's time zone.
	Days []*Day
}

// Day is the time of one row on one day.
type Day struct {
	// Date is the day, as YYYY-MM-DD in the organization's time zone.
	Date string
	Totals
}

// Compute reports, for the users the viewer in ctx can see (only the
// members of divisionID when it is not zero), the time spent in each
// availability and online within [from, to), by user or by division and by
// day of the organization's time zone. Users whose state did not change
// within the range count from the interval open before it. It needs the
// VIEW_REPORTS permission.
func Compute(ctx context.Context, client *ent.Client, from, to time.Time, divisionID int, groupBy GroupBy) (*Report, error) {
	if err := CheckRange(from, to); err != nil {
		return nil, err
	}
	if err := mayRead(ctx, 0); err != nil {
		return nil, err
	}
	v := viewer.FromContext(ctx)
	if v == nil {
		return nil, apierr.New(apierr.Unauthenticated, "log in first")
	}
	org, err := client.Organization.Query().Where(organization.ID(v.OrganizationID)).Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("read organization: %w", err)
	}
	loc, err := time.LoadLocation(org.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	users := client.User.Query()
	if divisionID != 0 {
		// A division the viewer cannot see is NOT_FOUND, as any ID that
		// names nothing.
		if _, err := client.Division.Query().Where(division.ID(divisionID)).OnlyID(ctx); err != nil {
			return nil, err
		}
		users.Where(user.HasDivisionsWith(division.ID(divisionID)))
	}
	if groupBy == ByDivision {
		users.WithDivisions()
	}
	us, err := users.Order(ent.Asc(user.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	byID := make(map[int]*ent.User, len(us))
	for _, u := range us {
		byID[u.ID] = u
	}
	// The privacy policy of intervals confines them to the users the
	// viewer can see, as it confines the users above.
	q := overlapping(client, from, to)
	if divisionID != 0 {
		q.Where(statusinterval.HasUserWith(user.HasDivisionsWith(division.ID(divisionID))))
	}
	ivs, err := q.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read status history: %w", err)
	}
	rep := &Report{From: from, To: to, TimeZone: loc.String()}
	rows := map[int]*Row{}
	days := map[*Row]map[string]*Day{}
	rowsOf := func(u *ent.User) []*Row {
		if groupBy != ByDivision {
			r := rows[u.ID]
			if r == nil {
				r = &Row{User: u}
				rows[u.ID] = r
			}
			return []*Row{r}
		}
		var out []*Row
		for _, d := range u.Edges.Divisions {
			if divisionID != 0 && d.ID != divisionID {
				continue
			}
			r := rows[d.ID]
			if r == nil {
				r = &Row{Division: d}
				rows[d.ID] = r
			}
			out = append(out, r)
		}
		return out
	}
	now := nowOf(ctx)
	for _, iv := range ivs {
		u := byID[iv.UserID]
		if u == nil {
			continue
		}
		c := clip(ctx, iv, from, to)
		end := now
		if c.End != nil {
			end = *c.End
		}
		if !end.After(c.Start) {
			continue
		}
		for _, r := range rowsOf(u) {
			r.add(c.Availability, c.Online, end.Sub(c.Start))
			if days[r] == nil {
				days[r] = map[string]*Day{}
			}
			splitDays(c.Start, end, loc, func(date string, d time.Duration) {
				day := days[r][date]
				if day == nil {
					day = &Day{Date: date}
					days[r][date] = day
				}
				day.add(c.Availability, c.Online, d)
			})
		}
	}
	for _, r := range rows {
		for _, d := range days[r] {
			r.Days = append(r.Days, d)
		}
		sort.Slice(r.Days, func(i, j int) bool { return r.Days[i].Date < r.Days[j].Date })
		rep.Rows = append(rep.Rows, r)
	}
	sort.Slice(rep.Rows, func(i, j int) bool { return rowID(rep.Rows[i]) < rowID(rep.Rows[j]) })
	return rep, nil
}

func rowID(r *Row) int {
	if r.User != nil {
		return r.User.ID
	}
	return r.Division.ID
}

// splitDays calls fn with each day of loc that [start, end) touches and the
// time of the span within it.
func splitDays(start, end time.Time, loc *time.Location, fn func(date string, d time.Duration)) {
	for start.Before(end) {
		l := start.In(loc)
		next := time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
		if next.After(end) {
			next = end
		}
		fn(l.Format(time.DateOnly), next.Sub(start))
		start = next
	}
}

// MarshalGQL writes the grouping as a GraphQL enum value.
func (g GroupBy) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(g))) }

// UnmarshalGQL reads a GraphQL enum value into the grouping.
func (g *GroupBy) UnmarshalGQL(v any) error {
	s, _ := v.(string)
	switch GroupBy(s) {
	case ByUser, ByDivision:
		*g = GroupBy(s)
		return nil
	}
	return fmt.Errorf("%q is not a valid StatusReportGroupBy", s)
}

// TrackedSeconds is Tracked in seconds.
func (t *Totals) TrackedSeconds() float64 { return t.Tracked.Seconds() }

// OnlineSeconds is Online in seconds.
func (t *Totals) OnlineSeconds() float64 { return t.Online.Seconds() }

// Seconds is Duration in seconds.
func (a AvailabilityTime) Seconds() float64 { return a.Duration.Seconds() }
