package allocation

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"roster/ent"
	"roster/ent/role"
	"roster/ent/user"
	"roster/internal/fixture"
	"roster/internal/store"
)

// benchWorld is an organization of 1,000 agents in 50 divisions (20
// each), 30% of them online and available, on PostgreSQL.
type benchWorld struct {
	url  string
	org  int
	divs []int
}

func newBenchWorld(b *testing.B) *benchWorld {
	b.Helper()
	url := fixture.PostgresURL(b)
	w := fixture.New(b, url)
	o := w.Orgs[0]
	ctx := fixture.System()
	var ids []int
	for batch := range 10 {
		bulk := make([]*ent.UserCreate, 100)
		for i := range bulk {
			n := batch*100 + i
			bulk[i] = w.Client.User.Create().SetOrganizationID(o.ID).SetRoleID(o.Roles[role.BuiltinAgent]).
				SetFirstName("Agent").SetLastName(fmt.Sprint(n)).SetEmail(fmt.Sprintf("agent%d@bench.test", n)).
				SetStatus(user.StatusActive).SetOnline(n%10 < 3).SetAvailability(user.AvailabilityOnline).SetCapacity(1000)
		}
		us, err := w.Client.User.CreateBulk(bulk...).Save(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, u := range us {
			ids = append(ids, u.ID)
		}
	}
	bw := &benchWorld{url: url, org: o.ID}
	for d := range 50 {
		bw.divs = append(bw.divs, o.NewDivision(b, fmt.Sprint("Division ", d), ids[d*20:(d+1)*20]...))
	}
	return bw
}

// latencies reports the p99 of ds as a metric.
func reportP99(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	if len(ds) > 0 {
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-µs")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkDecision measures one allocation decision as the API makes it:
// enqueue a conversation into a division and assign it (ROUND_ROBIN), in
// one transaction, with the row locks that keep concurrent decisions
// apart.
//
//	go test -run '^$' -bench . -benchtime 2000x ./internal/allocation
func BenchmarkDecision(b *testing.B) {
	bw := newBenchWorld(b)
	s := New(fixture.MustOpenDB(b, bw.url).Client, nil)
	ctx := platform(bw.org)
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		div := bw.divs[i%len(bw.divs)]
		start := time.Now()
		err := store.Transact(ctx, s.client, func(ctx context.Context) error {
			c, err := s.Enqueue(ctx, EnqueueInput{ExternalID: fmt.Sprint("bench-", i), DivisionID: &div})
			if err == nil && c.AssigneeID == nil {
				err = fmt.Errorf("conversation %d was not assigned", i)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	reportP99(b, ds)
}

// floorDecision is the same decision as one hand-written statement: record
// the conversation, given to the eligible member of its division under
// capacity who has waited longest since their last assignment, and record
// that assignment.
const floorDecision = `
WITH pick AS (
	SELECT u.id FROM users u
	JOIN division_members dm ON dm.user_id = u.id AND dm.division_id = $3
	WHERE u.organization_id = $1 AND u.online AND u.status = 'ACTIVE' AND u.availability = 'ONLINE'
	  AND (SELECT count(*) FROM conversations x WHERE x.assignee_id = u.id AND x.state = 'ASSIGNED') < COALESCE(u.capacity, 5)
	ORDER BY (SELECT l.last_assigned_at FROM agent_loads l WHERE l.user_id = u.id) ASC NULLS FIRST, u.id
	LIMIT 1
	FOR UPDATE OF u SKIP LOCKED
), conv AS (
	INSERT INTO conversations (organization_id, external_id, division_id, state, enqueued_at, assignee_id, assigned_at)
	SELECT $1, $2, $3, CASE WHEN pick.id IS NULL THEN 'QUEUED' ELSE 'ASSIGNED' END, now(), pick.id, CASE WHEN pick.id IS NULL THEN NULL ELSE now() END
	FROM (SELECT 1) one LEFT JOIN pick ON true
	RETURNING assignee_id
), load AS (
	INSERT INTO agent_loads (organization_id, user_id, last_assigned_at)
	SELECT $1, id, now() FROM pick
	ON CONFLICT (user_id) DO UPDATE SET last_assigned_at = excluded.last_assigned_at
)
SELECT assignee_id FROM conv`

// BenchmarkDecisionFloor makes the decision of BenchmarkDecision as one
// SQL statement on the same database: the floor the allocator is measured
// against.
func BenchmarkDecisionFloor(b *testing.B) {
	bw := newBenchWorld(b)
	db, err := sql.Open("postgres", bw.url)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		div := bw.divs[i%len(bw.divs)]
		start := time.Now()
		var assignee sql.NullInt64
		if err := db.QueryRow(floorDecision, bw.org, fmt.Sprint("floor-", i), div).Scan(&assignee); err != nil {
			b.Fatal(err)
		}
		if !assignee.Valid {
			b.Fatalf("conversation %d was not assigned", i)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	reportP99(b, ds)
}
