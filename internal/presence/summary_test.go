package presence_test

import (
	"context"
	"sync/atomic"
	"testing"

	"roster/ent/user"
	"roster/internal/fixture"
	"roster/internal/presence"
	"roster/internal/viewer"
)

// TestSummaryIsOneSnapshot: a summary read while availabilities change
// counts each user once, as of one moment: the counts of a division's
// summary by availability, for the division and in all, always agree.
func TestSummaryIsOneSnapshot(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, url string) {
		w := fixture.New(t, url)
		org := w.Orgs[0]
		div := org.NewDivision(t, "Snapshot")
		sys := viewer.NewSystemContext(context.Background())
		var ids []int
		for range 4 {
			u := org.NewUser(t, fixture.Spec{Divisions: []int{div}})
			w.Client.User.UpdateOneID(u.ID).SetOnline(true).SetAvailability(user.AvailabilityOnline).ExecX(sys)
			ids = append(ids, u.ID)
		}
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; !stop.Load(); i++ {
				a := []user.Availability{user.AvailabilityBusy, user.AvailabilityAway, user.AvailabilityOnline}[i%3]
				if err := w.Client.User.UpdateOneID(ids[i%len(ids)]).SetAvailability(a).Exec(sys); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		// Before the database closes.
		t.Cleanup(func() { stop.Store(true); <-done })
		ctx := viewer.NewContext(context.Background(), org.Admin.Viewer)
		for i := range 150 {
			sum, err := presence.Summarize(ctx, w.Client, div)
			if err != nil {
				t.Fatal(err)
			}
			if len(sum.ByDivision) != 1 || len(sum.ByDivision[0].ByAvailability) != len(sum.ByAvailability) {
				t.Fatalf("summary %d: %+v", i, sum)
			}
			online := 0
			for k, a := range sum.ByAvailability {
				online += a.Online
				if d := sum.ByDivision[0].ByAvailability[k]; d != a {
					t.Fatalf("summary %d: %v in all, %v in the division", i, a, d)
				}
			}
			if online != sum.Online || sum.Online != len(ids) {
				t.Fatalf("summary %d: %d online by availability, %d in all, want %d", i, online, sum.Online, len(ids))
			}
		}
	})
}
