package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"roster/ent/user"
	"roster/internal/fixture"
	"roster/internal/viewer"
)

// assignedFeed reads the conversationAssigned events of one socket.
type assignedFeed struct {
	name string
	msgs <-chan wsMessage
}

type assignedConv struct {
	ID         string
	ExternalID string
	State      string
	AssignedAt *string
	Assignee   *struct{ ID string }
	Division   *struct{ ID string }
	Channel    *struct{ ID string }
}

// next returns the next conversation the feed is told of, or fails.
func (f assignedFeed) next(t *testing.T, timeout time.Duration) (assignedConv, bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-f.msgs:
			if !ok {
				t.Fatalf("%s: the socket closed", f.name)
			}
			switch m.Type {
			case "ping", "pong", "ka":
				continue
			case "next":
			default:
				t.Fatalf("%s: got %s %s", f.name, m.Type, m.Payload)
			}
			var p struct {
				Data   struct{ ConversationAssigned assignedConv }
				Errors json.RawMessage
			}
			if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
				t.Fatalf("%s: %s (%v)", f.name, m.Payload, err)
			}
			return p.Data.ConversationAssigned, true
		case <-deadline:
			return assignedConv{}, false
		}
	}
}

// until reads the feed until the conversation with external ID fence, and
// returns the external IDs told of before it.
func (f assignedFeed) until(t *testing.T, fence string) []string {
	t.Helper()
	before, _ := f.upTo(t, fence)
	return before
}

// upTo is until, returning the fence's event too.
func (f assignedFeed) upTo(t *testing.T, fence string) ([]string, assignedConv) {
	t.Helper()
	var before []string
	for {
		c, ok := f.next(t, 15*time.Second)
		if !ok {
			t.Fatalf("%s: no event of %s; heard of %v", f.name, fence, before)
		}
		if c.ExternalID == fence {
			return before, c
		}
		before = append(before, c.ExternalID)
	}
}

// TestConversationAssignedSubscription: an assignment reaches, over the
// websocket, the agent given the conversation, the supervisors and admins
// who see its division, and nobody else: not another agent, not a
// supervisor scoped to other divisions, not another organization.
func TestConversationAssignedSubscription(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		sys := viewer.NewSystemContext(context.Background())
		sales, err := w.Client.Division.Create().SetOrganizationID(acme.ID).SetName("Sales").Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		salesAgent := acme.NewUser(t, fixture.Spec{Divisions: []int{sales.ID}})
		globexAgent := globex.Agent
		// Online and available: allocation gives them the conversations of
		// their division, of which each is the only eligible member.
		for _, u := range []*fixture.User{acme.Agent, salesAgent, globexAgent} {
			if err := w.Client.User.UpdateOneID(u.ID).SetOnline(true).SetConnections(1).SetAvailability(user.AvailabilityOnline).Exec(sys); err != nil {
				t.Fatal(err)
			}
		}

		const sub = `subscription($d: ID) { conversationAssigned(divisionID: $d) { id externalID state assignedAt assignee { id } division { id } channel { id } } }`
		open := func(name string, u *fixture.User, division *int) assignedFeed {
			c := dialWS(t, srv.url, u.Token)
			_ = c.conn.SetReadDeadline(time.Time{})
			vs := map[string]any{}
			if division != nil {
				vs["d"] = strconv.Itoa(*division)
			}
			payload, _ := json.Marshal(map[string]any{"query": sub, "variables": vs})
			c.send(wsMessage{ID: "a", Type: "subscribe", Payload: payload})
			return assignedFeed{name: name, msgs: mxReader(c.conn)}
		}
		agent := open("agent", acme.Agent, nil)
		other := open("sales agent", salesAgent, nil)
		scoped := open("scoped supervisor", acme.Scoped, nil)
		admin := open("admin", acme.Admin, nil)
		salesOnly := open("admin of Sales", acme.Admin, &sales.ID)
		foreign := open("Globex admin", globex.Admin, nil)

		var seq atomic.Int64
		const enqueue = `mutation($e: String!, $d: ID) { enqueueConversation(input: {externalID: $e, divisionID: $d}) { id state assignee { id } } }`
		assign := func(org *fixture.Org, division int, want *fixture.User) (string, string) {
			t.Helper()
			ext := fmt.Sprintf("conv-%d", seq.Add(1))
			var got struct{ EnqueueConversation assignedConv }
			srv.as(org.Admin).do(t, enqueue, vars{"e": ext, "d": strconv.Itoa(division)}).decode(t, &got)
			c := got.EnqueueConversation
			if c.State != "ASSIGNED" || c.Assignee == nil || c.Assignee.ID != strconv.Itoa(want.ID) {
				t.Fatalf("enqueue %s: %+v, want assigned to %d", ext, c, want.ID)
			}
			return ext, c.ID
		}
		resolve := func(org *fixture.Org, id string) {
			srv.as(org.Admin).do(t, `mutation($id: ID!) { resolveConversation(id: $id) { id } }`, vars{"id": id}).decode(t, &struct{}{})
		}
		// The server does not acknowledge a subscription: assign until
		// each has heard of one (resolving them frees the capacity).
		ready := func(org *fixture.Org, division int, to *fixture.User, feeds ...assignedFeed) {
			for _, f := range feeds {
				for attempt := 0; ; attempt++ {
					ext, id := assign(org, division, to)
					resolve(org, id)
					c, ok := f.next(t, time.Second)
					if ok {
						if c.ExternalID != ext {
							f.until(t, ext)
						}
						break
					}
					if attempt == 30 {
						t.Fatalf("the subscription of %s did not start", f.name)
					}
				}
			}
		}
		ready(acme, acme.Support, acme.Agent, agent, scoped, admin)
		ready(acme, sales.ID, salesAgent, other, salesOnly)
		ready(globex, globex.Support, globexAgent, foreign)
		// Drain what the readiness left: every feed ends at a fence.
		fenceSupport, _ := assign(acme, acme.Support, acme.Agent)
		fenceSales, _ := assign(acme, sales.ID, salesAgent)
		fenceGlobex, _ := assign(globex, globex.Support, globexAgent)
		for _, f := range []assignedFeed{agent, scoped, admin} {
			f.until(t, fenceSupport)
		}
		for _, f := range []assignedFeed{other, salesOnly, admin} {
			f.until(t, fenceSales)
		}
		foreign.until(t, fenceGlobex)

		// The assignments under test, then a fence each feed hears of.
		inSales, salesID := assign(acme, sales.ID, salesAgent)
		inSupport, supportID := assign(acme, acme.Support, acme.Agent)
		fenceSales, _ = assign(acme, sales.ID, salesAgent)
		fenceGlobex, _ = assign(globex, globex.Support, globexAgent)

		for _, tc := range []struct {
			feed  assignedFeed
			fence string
			want  []string
		}{
			{feed: agent, fence: inSupport, want: nil},
			{feed: scoped, fence: inSupport, want: nil},
			{feed: admin, fence: fenceSales, want: []string{inSales, inSupport}},
			{feed: other, fence: fenceSales, want: []string{inSales}},
			{feed: salesOnly, fence: fenceSales, want: []string{inSales}},
		} {
			got, c := tc.feed.upTo(t, tc.fence)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("%s heard of %v before %s, want %v", tc.feed.name, got, tc.fence, tc.want)
			}
			// The payload is the conversation as the assignment left it.
			if tc.fence == inSupport {
				if c.ID != supportID || c.State != "ASSIGNED" || c.AssignedAt == nil || c.Assignee == nil || c.Assignee.ID != strconv.Itoa(acme.Agent.ID) ||
					c.Division == nil || c.Division.ID != strconv.Itoa(acme.Support) || c.Channel != nil {
					t.Errorf("%s was told %+v, want conversation %s assigned to %d in %d", tc.feed.name, c, supportID, acme.Agent.ID, acme.Support)
				}
			}
		}
		// Another organization hears of nothing of Acme's.
		if got := foreign.until(t, fenceGlobex); len(got) != 0 {
			t.Errorf("Globex's admin heard of %v", got)
		}
		_ = salesID
	})
}
