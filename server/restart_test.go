package main

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"roster/internal/fixture"
	"roster/internal/store/storetest"
)

// stop sends SIGTERM to the process and waits until it exits.
func (p *process) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("the instance stopped with %v:\n%s", err, p.logs.String())
		}
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("the instance did not stop")
	}
}

// restartAgents are two agents connected to an instance that shuts down:
// back, whose client reconnects at once, and gone, whose does not.
type restartAgents struct {
	back, gone           string // user IDs
	backToken, goneToken string
}

// newRestartAgents makes the fixture's organization in the database at
// dbURL (its users come with tokens, their passwords hashed cheaply: the
// instances run as the program hash at full cost) and returns its admin's
// token, with its agent (who comes back) and supervisor (who does not).
func newRestartAgents(t *testing.T, dbURL string) (adminToken string, a *restartAgents) {
	t.Helper()
	acme := fixture.New(t, dbURL).Orgs[0]
	return acme.Admin.Token, &restartAgents{
		back: strconv.Itoa(acme.Agent.ID), backToken: acme.Agent.Token,
		gone: strconv.Itoa(acme.Supervisor.ID), goneToken: acme.Supervisor.Token,
	}
}

// presenceOf returns whether user id is online and whether they were
// ever seen leaving (lastSeenAt is set when a user goes offline).
func presenceOf(t *testing.T, c *client, id string) (online, left bool) {
	t.Helper()
	var got struct {
		Node struct {
			Online     bool
			LastSeenAt *string
		}
	}
	c.do(t, `query($id: ID!) { node(id: $id) { ... on User { online lastSeenAt } } }`, vars{"id": id}).decode(t, &got)
	return got.Node.Online, got.Node.LastSeenAt != nil
}

// watchUntilGone reads status events of dash until gone is offline, and
// fails if back is ever offline meanwhile; then it checks, by a sentinel
// change read after, that no offline event of back came either.
func (a *restartAgents) watchUntilGone(t *testing.T, dash *wsClient, admin *client, sentinel string, bound time.Duration) {
	t.Helper()
	// Asked until gone is offline (the events wait in the socket: no read
	// waits that long), then the events are read.
	for deadline := time.Now().Add(bound); ; time.Sleep(100 * time.Millisecond) {
		if online, _ := presenceOf(t, admin, a.gone); !online {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not go offline within %v", a.gone, bound)
		}
	}
	for goneOffline := false; !goneOffline; {
		id, _, online := dash.status()
		switch {
		case id == a.back && !online:
			t.Fatalf("%s went offline though their client reconnected within the grace period", a.back)
		case id == a.gone && !online:
			goneOffline = true
		}
	}
	admin.do(t, `mutation($u: ID!) { setUserAvailability(id: $u, availability: AWAY) { id } }`, vars{"u": sentinel}).decode(t, new(any))
	for {
		id, availability, online := dash.status()
		if id == a.back && !online {
			t.Fatalf("%s went offline though their client reconnected within the grace period", a.back)
		}
		if id == sentinel && availability == "AWAY" {
			break
		}
	}
	if online, left := presenceOf(t, admin, a.back); !online || left {
		t.Errorf("%s: online %v, went offline %v; want online, never offline", a.back, online, left)
	}
	if online, left := presenceOf(t, admin, a.gone); online || !left {
		t.Errorf("%s: online %v, went offline %v; want offline", a.gone, online, left)
	}
}

// TestGracefulShutdownKeepsPresence: two instances on PostgreSQL; A shuts
// down (SIGTERM) with two agents connected to it. Their sockets close with
// 1012, which graphql-ws clients retry on. A dashboard on B sees no offline
// event of the agent whose client reconnected to B within the grace
// period, and sees the other go offline once it is over.
func TestGracefulShutdownKeepsPresence(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	const grace = 8 * time.Second
	token, agents := newRestartAgents(t, dbURL)
	a := startProcess(t, dbURL, "ROSTER_PRESENCE_GRACE=8s", "ROSTER_INSTANCE_TIMEOUT=3s")
	b := startServer(t, dbURL, "ROSTER_PRESENCE_GRACE", "8s", "ROSTER_INSTANCE_TIMEOUT", "3s")
	admin := b.client(token)
	dash := dialWS(t, b.url, admin.token)
	dash.subscribe("1", statusSubscription)

	back, gone := dialWS(t, a.url, agents.backToken), dialWS(t, a.url, agents.goneToken)
	for _, id := range []string{agents.back, agents.gone} {
		waitOnline(t, admin, mustAtoi(t, id))
	}
	dash.subscribe("ready", `{ me { id } }`) // subscribed: the subscription started before
	for m := dash.read(); m.ID != "ready" || m.Type != "complete"; m = dash.read() {
	}

	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- a.stop() }()
	if code := back.closed(); code != 1012 {
		t.Fatalf("the stopping instance closed the socket with %d, want 1012", code)
	}
	if code := gone.closed(); code != 1012 {
		t.Errorf("the stopping instance closed the socket with %d, want 1012", code)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	// The client retries once A is gone (graphql-ws waits a moment
	// between retries).
	if took := time.Since(start); took > grace/2 {
		t.Fatalf("A took %v to stop: too long to test a grace period of %v", took, grace)
	}
	dialWS(t, b.url, agents.backToken)
	// Offline after the grace period, within a heartbeat interval (1 s
	// here) and a write.
	agents.watchUntilGone(t, dash, admin, adminID(t, admin), grace+10*time.Second)
}

// TestRestartKeepsPresence: one instance on SQLite restarts (SIGTERM, then
// started again on the same file). The agent whose client reconnected to
// the restarted instance within the grace period never went offline; the
// other goes offline once it is over.
func TestRestartKeepsPresence(t *testing.T) {
	t.Parallel()
	dbURL := storetest.SQLiteURL(t)
	// The grace period covers the restart of the process (seconds, more
	// under the race detector on a busy machine).
	const grace = 30 * time.Second
	settings := []string{"ROSTER_PRESENCE_GRACE=30s", "ROSTER_INSTANCE_TIMEOUT=3s"}
	token, agents := newRestartAgents(t, dbURL)
	first := startProcess(t, dbURL, settings...)
	admin := first.client(token)
	back, gone := dialWS(t, first.url, agents.backToken), dialWS(t, first.url, agents.goneToken)
	for _, id := range []string{agents.back, agents.gone} {
		waitOnline(t, admin, mustAtoi(t, id))
	}
	stopAt := time.Now()
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	if code := back.closed(); code != 1012 {
		t.Fatalf("the stopping instance closed the socket with %d, want 1012", code)
	}
	if code := gone.closed(); code != 1012 {
		t.Errorf("the stopping instance closed the socket with %d, want 1012", code)
	}

	again := startProcess(t, dbURL, settings...)
	took := time.Since(stopAt)
	t.Logf("restarted in %v", took.Round(time.Millisecond))
	if took > grace-5*time.Second {
		t.Fatalf("the restart took %v: too long to test a grace period of %v", took, grace)
	}
	admin = again.client(admin.token)
	dash := dialWS(t, again.url, admin.token)
	dash.subscribe("1", `subscription { userStatusChanged(snapshot: true) { kind user { id email } availability online } }`)
	dialWS(t, again.url, agents.backToken)
	if online, left := presenceOf(t, admin, agents.back); !online || left {
		t.Fatalf("after the restart %s is online %v, went offline %v", agents.back, online, left)
	}
	agents.watchUntilGone(t, dash, admin, adminID(t, admin), grace+10*time.Second)
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// adminID returns the ID of c's user.
func adminID(t *testing.T, c *client) string {
	t.Helper()
	var me struct{ Me struct{ ID string } }
	c.do(t, `{ me { id } }`, nil).decode(t, &me)
	return me.Me.ID
}
