package presence

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	entsql "entgo.io/ent/dialect/sql"

	"roster/ent"
	"roster/ent/division"
	"roster/ent/user"
)

// Summary counts the active users of an organization and those online.
type Summary struct {
	Total, Online  int
	ByAvailability []AvailabilityCount
	ByRole         []RolePresence
	ByDivision     []DivisionPresence
}

// AvailabilityCount is the number of online users with one availability.
type AvailabilityCount struct {
	Availability user.Availability
	Online       int
}

// RolePresence counts the active and online users of one role.
type RolePresence struct {
	Role          *ent.Role
	Total, Online int
}

// DivisionPresence counts the active and online members of one division,
// and its online members by availability.
type DivisionPresence struct {
	Division       *ent.Division
	Total, Online  int
	ByAvailability []AvailabilityCount
}

// availabilities are the availabilities in the order summaries list them.
var availabilities = []user.Availability{user.AvailabilityOnline, user.AvailabilityBusy, user.AvailabilityAway, user.AvailabilityOffline}

// Equal reports whether s and o count the same: the same numbers, of the
// same roles and divisions under the same names.
func (s *Summary) Equal(o *Summary) bool {
	if s == nil || o == nil {
		return s == o
	}
	if s.Total != o.Total || s.Online != o.Online || !slices.Equal(s.ByAvailability, o.ByAvailability) {
		return false
	}
	if !slices.EqualFunc(s.ByRole, o.ByRole, func(a, b RolePresence) bool {
		return a.Total == b.Total && a.Online == b.Online && a.Role.ID == b.Role.ID && a.Role.Name == b.Role.Name
	}) {
		return false
	}
	return slices.EqualFunc(s.ByDivision, o.ByDivision, func(a, b DivisionPresence) bool {
		return a.Total == b.Total && a.Online == b.Online && slices.Equal(a.ByAvailability, b.ByAvailability) &&
			a.Division.ID == b.Division.ID && a.Division.Name == b.Division.Name
	})
}

// Summarize counts the users the viewer in ctx may see (only the members of
// divisionID when it is not zero), in at most six statements whatever the
// size of the organization, all of them reading one snapshot of the
// database (a read-only transaction, repeatable read on PostgreSQL): a
// change that commits while they run is in every count or in none, so the
// counts always add up.
func Summarize(ctx context.Context, client *ent.Client, divisionID int) (*Summary, error) {
	tx, err := client.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		if err.Error() == ent.ErrTxStarted.Error() {
			// Already in a transaction, whose reads are one snapshot.
			return summarize(ctx, client, divisionID)
		}
		return nil, fmt.Errorf("begin reading the summary: %w", err)
	}
	defer tx.Rollback() // nothing was written
	return summarize(ctx, tx.Client(), divisionID)
}

func summarize(ctx context.Context, client *ent.Client, divisionID int) (*Summary, error) {
	if divisionID != 0 {
		// A division the viewer cannot see is NOT_FOUND, as any ID that
		// names nothing.
		if _, err := client.Division.Query().Where(division.ID(divisionID)).OnlyID(ctx); err != nil {
			return nil, err
		}
	}
	base := func() *ent.UserQuery {
		q := client.User.Query().Where(user.StatusEQ(user.StatusActive))
		if divisionID != 0 {
			q.Where(user.HasDivisionsWith(division.ID(divisionID)))
		}
		return q
	}
	sum := &Summary{}

	var byRole []struct {
		RoleID int  `sql:"role_id"`
		Online bool `sql:"online"`
		N      int  `sql:"n"`
	}
	if err := base().GroupBy(user.FieldRoleID, user.FieldOnline).Aggregate(ent.As(ent.Count(), "n")).Scan(ctx, &byRole); err != nil {
		return nil, fmt.Errorf("count users by role: %w", err)
	}
	roleTotals, roleOnline := map[int]int{}, map[int]int{}
	for _, r := range byRole {
		roleTotals[r.RoleID] += r.N
		sum.Total += r.N
		if r.Online {
			roleOnline[r.RoleID] += r.N
			sum.Online += r.N
		}
	}

	var byAvailability []struct {
		Availability user.Availability `sql:"availability"`
		N            int               `sql:"n"`
	}
	if err := base().Where(user.Online(true)).GroupBy(user.FieldAvailability).Aggregate(ent.As(ent.Count(), "n")).Scan(ctx, &byAvailability); err != nil {
		return nil, fmt.Errorf("count users by availability: %w", err)
	}
	online := map[user.Availability]int{}
	for _, a := range byAvailability {
		online[a.Availability] = a.N
	}
	for _, a := range availabilities {
		sum.ByAvailability = append(sum.ByAvailability, AvailabilityCount{Availability: a, Online: online[a]})
	}

	var byDivision []struct {
		DivisionID   int               `sql:"division_id"`
		Online       bool              `sql:"online"`
		Availability user.Availability `sql:"availability"`
		N            int               `sql:"n"`
	}
	err := base().Modify(func(s *entsql.Selector) {
		members := entsql.Table(user.DivisionsTable)
		s.Join(members).On(s.C(user.FieldID), members.C(user.DivisionsPrimaryKey[1])).
			Select(entsql.As(members.C(user.DivisionsPrimaryKey[0]), "division_id"), s.C(user.FieldOnline), s.C(user.FieldAvailability), entsql.As(entsql.Count("*"), "n")).
			GroupBy(members.C(user.DivisionsPrimaryKey[0]), s.C(user.FieldOnline), s.C(user.FieldAvailability))
	}).Scan(ctx, &byDivision)
	if err != nil {
		return nil, fmt.Errorf("count users by division: %w", err)
	}
	divTotals, divOnline := map[int]int{}, map[int]int{}
	divAvailability := map[int]map[user.Availability]int{}
	for _, d := range byDivision {
		divTotals[d.DivisionID] += d.N
		if d.Online {
			divOnline[d.DivisionID] += d.N
			if divAvailability[d.DivisionID] == nil {
				divAvailability[d.DivisionID] = map[user.Availability]int{}
			}
			divAvailability[d.DivisionID][d.Availability] += d.N
		}
	}

	roles, err := client.Role.Query().Order(ent.Asc("name")).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	for _, r := range roles {
		sum.ByRole = append(sum.ByRole, RolePresence{Role: r, Total: roleTotals[r.ID], Online: roleOnline[r.ID]})
	}
	dq := client.Division.Query().Order(ent.Asc("name"))
	if divisionID != 0 {
		dq.Where(division.ID(divisionID))
	}
	divisions, err := dq.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list divisions: %w", err)
	}
	for _, d := range divisions {
		dp := DivisionPresence{Division: d, Total: divTotals[d.ID], Online: divOnline[d.ID]}
		for _, a := range availabilities {
			dp.ByAvailability = append(dp.ByAvailability, AvailabilityCount{Availability: a, Online: divAvailability[d.ID][a]})
		}
		sum.ByDivision = append(sum.ByDivision, dp)
	}
	return sum, nil
}
