package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"

	"roster/ent"
	"roster/ent/role"
	"roster/ent/user"
	"roster/internal/auth"
	"roster/internal/password"
	"roster/internal/ratelimit"
	"roster/internal/store"
	"roster/internal/viewer"
)

// restartSubscription is what every client of the restart scenario
// subscribes to: the status of the members of its division, snapshot
// first, as a dashboard that resubscribes after a reconnect does.
const restartSubscription = `subscription($d: ID) { userStatusChanged(divisionID: $d, snapshot: true) { kind user { id } availability online devices version } }`

// settleTimeout bounds the waits for roster's state to settle: every
// user online, every client's view the truth.
const settleTimeout = 5 * time.Minute

// restartReconnectMax bounds the pause between two attempts of a client
// to reconnect while roster is down.
const restartReconnectMax = time.Second

// runRestart is the -restart scenario: with every client connected and
// subscribed (each client one user, the members of -group-sized
// divisions watching each other), roster is stopped with SIGTERM and
// started again on the same address while availability changes go on;
// the clients reconnect at once and subscribe again with a snapshot. It
// checks that every client is back, that each one's view of its division
// is the server's truth, that no change was lost to any client (each was
// received as an event of its version, or covered by a later snapshot),
// that events of a user came in order within a subscription, and that
// every user stayed online, no client seeing any go offline from the
// restart on.
func runRestart(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	stderr = syncWriter(stderr) // roster's log is copied to it from its own goroutine
	progress := func(format string, args ...any) {
		fmt.Fprintf(stderr, "wsload: "+format+"\n", args...)
	}
	limit, err := raiseOpenFileLimit()
	if err != nil {
		return fmt.Errorf("raise the open file limit: %w", err)
	}
	if need := uint64(o.subscribers + spareFiles); limit < need {
		return fmt.Errorf("%d connections need about %d open files in this process and in roster; the limit is %d", o.subscribers, need, limit)
	}
	r := &restartReport{Clients: o.subscribers, Users: o.users, Group: o.group, Grace: o.grace.String(), Rate: o.rate,
		Go: fmt.Sprintf("%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH), CPUs: runtime.NumCPU(), OpenFileLimit: limit}

	db, err := prepareDatabase(ctx, o, progress)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.drop()) }()
	r.Database = db.name
	bin, removeBin, err := rosterBinary(ctx, o, progress)
	if err != nil {
		return err
	}
	defer removeBin()
	addr := o.addr
	if addr == "" {
		if addr, err = freePort(); err != nil {
			return err
		}
	}
	// The grace period must cover the restart and the reconnections: a
	// user is offline once it is over.
	env := []string{"ROSTER_PRESENCE_GRACE=" + o.grace.String()}
	adminPassword := rand.Text()
	start := func() (*rosterProcess, error) {
		return startRoster(ctx, bin, addr, db.url, adminEmail, adminPassword, o.logLevel, env, stderr)
	}
	roster, err := start()
	if err != nil {
		return err
	}
	progress("roster (pid %d) listening on %s", roster.pid(), roster.url)
	var clients []*restartClient
	stopClients := func() {
		for _, c := range clients {
			c.stop()
		}
	}
	defer func() {
		stopClients()
		if serr := roster.stop(2 * time.Minute); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	admin := newAPIClient(roster.url + "/graphql")
	if err := admin.login(ctx, adminEmail, adminPassword); err != nil {
		return err
	}

	// The users and their sessions, made in the database directly:
	// thousands of logins would take an hour of bcrypt at roster's cost.
	seedStart := time.Now()
	progress("creating %d users in divisions of %d, with a session each", o.users, o.group)
	seeded, err := seedUsers(ctx, db.url, o.users, o.group)
	if err != nil {
		return err
	}
	r.SeedSeconds = time.Since(seedStart).Seconds()

	base := time.Now()
	dialer := &websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: setupTimeout,
		ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{}}
	wsURL := "ws" + roster.url[len("http"):] + "/graphql"
	for i := range o.subscribers {
		u := seeded[i%len(seeded)]
		clients = append(clients, newRestartClient(ctx, base, dialer, wsURL, u.token, u.division))
	}
	progress("opening %d connections, %d at a time", o.subscribers, o.concurrency)
	setupStart := time.Now()
	sem := make(chan struct{}, o.concurrency)
	for _, c := range clients {
		sem <- struct{}{}
		go c.run()
		// A client holds its place until its first snapshot is in.
		go func() {
			select {
			case <-c.subscribed:
			case <-time.After(setupTimeout):
			case <-ctx.Done():
			}
			<-sem
		}()
	}
	if err := waitAll(ctx, clients, func(c *restartClient) bool { return c.sessions > 0 }, 4*o.timeout, roster); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	r.SetupSeconds = time.Since(setupStart).Seconds()
	progress("%d clients subscribed in %.1f s", len(clients), r.SetupSeconds)
	// roster writes presence in batches: with many clients the last
	// users come online a while after their connection.
	onlineStart := time.Now()
	if err := waitOnline(ctx, admin, o.users, settleTimeout); err != nil {
		return fmt.Errorf("before the restart: %w", err)
	}
	// From when every client sees every member of its division online,
	// an offline event is a flap.
	if err := waitAll(ctx, clients, (*restartClient).allOnline, settleTimeout, roster); err != nil {
		return fmt.Errorf("before the restart: %w", err)
	}
	r.OnlineSeconds = time.Since(onlineStart).Seconds()
	progress("every client sees its division online %.1f s later", r.OnlineSeconds)
	for _, c := range clients {
		c.mu.Lock()
		c.watching = true
		c.mu.Unlock()
	}

	// The changes, before, during and after the restart.
	ch := newChanger(admin, seeded, o.rate, base)
	chDone := make(chan struct{})
	chCtx, stopChanges := context.WithCancel(ctx)
	defer stopChanges()
	go func() { defer close(chDone); ch.run(chCtx) }()
	if err := sleep(ctx, o.phase); err != nil {
		return err
	}

	progress("restarting roster (SIGTERM, then start again on %s)", addr)
	restartAt := time.Since(base)
	if err := roster.stop(2 * time.Minute); err != nil {
		return fmt.Errorf("stop roster: %w", err)
	}
	r.StopSeconds = (time.Since(base) - restartAt).Seconds()
	r.StopWarnings, r.FirstStopWarning = roster.stopWarnings.Load(), roster.stopWarning()
	r.RosterWarnings, r.RosterErrors = roster.warnings.Load(), roster.errors.Load()
	startAt := time.Now()
	if roster, err = start(); err != nil {
		return fmt.Errorf("start roster again: %w", err)
	}
	r.StartSeconds = time.Since(startAt).Seconds()
	progress("roster stopped in %.1f s and listens again (pid %d) after %.1f s", r.StopSeconds, roster.pid(), r.StartSeconds)
	if err := waitAll(ctx, clients, func(c *restartClient) bool { return c.subscribedAt > restartAt }, o.grace, roster); err != nil {
		r.Failures = append(r.Failures, "after the restart: "+err.Error())
	}
	var back time.Duration
	var perClient []time.Duration
	for _, c := range clients {
		if at := c.lastSubscribed(); at > restartAt {
			back = max(back, at-restartAt)
			if closed := c.lastClosed(); closed > 0 {
				perClient = append(perClient, at-closed)
			}
		}
	}
	slices.Sort(perClient)
	r.RestartToAllSeconds = back.Seconds()
	r.Reconnect = toMS(summarize(perClient))
	progress("every client subscribed again %.1f s after SIGTERM", r.RestartToAllSeconds)
	if err := sleep(ctx, o.phase); err != nil {
		return err
	}
	stopChanges()
	<-chDone
	r.ChangesBefore, r.ChangesDuring, r.ChangesAfter, r.FailedChanges = ch.count(restartAt, restartAt+back)

	// Every client's view must come to the truth, once the last change
	// has reached it.
	progress("comparing every client's view with the server's")
	var truth map[string]userState
	deadline := time.Now().Add(settleTimeout)
	for {
		if truth, err = readTruth(ctx, admin); err != nil {
			// roster may be too busy to answer in time: ask again.
			if time.Now().After(deadline) || ctx.Err() != nil {
				return err
			}
			continue
		}
		r.ViewsWrong, r.FirstWrongView = compareViews(clients, truth, seeded)
		if r.ViewsWrong == 0 || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	for _, u := range seeded {
		if !truth[u.id].online {
			r.UsersOffline++
			if r.FirstOffline == "" {
				r.FirstOffline = "user " + u.id + " is offline"
			}
		}
	}
	r.Lost, r.FirstLost = lostChanges(clients, ch.done(), seeded)
	for _, c := range clients {
		c.mu.Lock()
		r.OutOfOrder += c.outOfOrder
		r.Flaps += c.flaps
		if r.FirstFlap == "" {
			r.FirstFlap = c.firstFlap
		}
		r.Events += c.events
		r.ConnectAttempts += c.attempts
		if c.failure != "" {
			r.FailedClients++
			if r.FirstFailure == "" {
				r.FirstFailure = c.failure
			}
		}
		c.mu.Unlock()
	}
	r.RosterWarnings += roster.warnings.Load()
	r.RosterErrors += roster.errors.Load()

	if o.json {
		err = json.NewEncoder(stdout).Encode(r)
	} else {
		r.writeText(stdout)
	}
	if err != nil {
		return err
	}
	if problems := r.problems(); len(problems) > 0 {
		return fmt.Errorf("the restart failed its checks: %v", problems)
	}
	return nil
}

// seededUser is a user the scenario made, with a session.
type seededUser struct {
	id, division, token string
}

// seedUsers makes n agents in divisions of group members, each with a
// session, in the organization of roster's admin, through roster's own
// code (hooks, privacy rules) as the system. Passwords are hashed at
// bcrypt's lowest cost: no one logs in with them.
func seedUsers(ctx context.Context, dbURL string, n, group int) ([]seededUser, error) {
	db, err := store.Open(ctx, dbURL, ent.Hasher(password.Hasher{Cost: bcrypt.MinCost}))
	if err != nil {
		return nil, fmt.Errorf("open the database: %w", err)
	}
	defer db.Close()
	sys := viewer.NewSystemContext(ctx)
	agent, err := db.Client.Role.Query().Where(role.BuiltinEQ(role.BuiltinAgent)).Only(sys)
	if err != nil {
		return nil, fmt.Errorf("find the Agent role: %w", err)
	}
	sessions := auth.New(db.Client, auth.Options{SessionTTL: 24 * time.Hour, Limits: ratelimit.New(db.Driver, nil)}, slog.New(slog.DiscardHandler))
	out := make([]seededUser, n)
	divisions := make([]int, (n+group-1)/group)
	for i := range divisions {
		d, err := db.Client.Division.Create().SetOrganizationID(agent.OrganizationID).SetName(fmt.Sprintf("Team %d", i+1)).Save(sys)
		if err != nil {
			return nil, fmt.Errorf("create division %d: %w", i+1, err)
		}
		divisions[i] = d.ID
	}
	var next atomic.Int64
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					errs <- ctx.Err()
					return
				}
				d := divisions[i/group]
				u, err := db.Client.User.Create().SetOrganizationID(agent.OrganizationID).SetRoleID(agent.ID).
					SetFirstName("Agent").SetLastName(strconv.Itoa(i)).SetEmail(fmt.Sprintf("agent%d@restart.example.com", i)).
					SetPassword(rand.Text()).AddDivisionIDs(d).Save(sys)
				if err == nil {
					u, err = db.Client.User.Query().Where(user.ID(u.ID)).WithRole().Only(sys)
				}
				var s *auth.Session
				if err == nil {
					s, err = sessions.Issue(sys, u, auth.Device{UserAgent: "wsload"})
				}
				if err != nil {
					errs <- fmt.Errorf("create user %d: %w", i, err)
					return
				}
				out[i] = seededUser{id: strconv.Itoa(u.ID), division: strconv.Itoa(d), token: s.Token}
			}
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			return nil, err
		}
	}
	return out, nil
}

// userState is what a client holds of a user, and what the truth is.
type userState struct {
	version      int
	availability string
	online       bool
	devices      int
}

// sameStatus reports whether a client holding held of a user holds the
// truth: the same status, at the truth's version or, when the versions
// after it changed nothing userStatusChanged tells, an older one.
func sameStatus(held, truth userState) bool {
	return held.availability == truth.availability && held.online == truth.online && held.devices == truth.devices && held.version <= truth.version
}

// restartClient is one dashboard: a websocket that subscribes with a
// snapshot, and does again on every reconnection, keeping its view of its
// division by "newer version wins".
type restartClient struct {
	ctx      context.Context
	base     time.Time
	dialer   *websocket.Dialer
	url      string
	init     []byte
	subMsg   []byte
	division string
	// subscribed receives once the first snapshot is in.
	subscribed chan struct{}

	mu   sync.Mutex
	conn *websocket.Conn
	// view is the client's view of its division; seen, by user, the
	// versions received as CHANGED events; snapshotted, the newest
	// version of each user received in a snapshot.
	view        map[string]userState
	seen        map[string]map[int]bool
	snapshotted map[string]int
	// sessions counts the subscriptions whose snapshot ended; subscribedAt
	// and closedAt are when the last snapshot ended and the last
	// connection closed, since base.
	sessions               int
	subscribedAt, closedAt time.Duration
	events, attempts       int
	outOfOrder, flaps      int
	firstFlap, failure     string
	// watching is set once the client saw every member online: from
	// then on, an offline event is a flap.
	watching, stopped bool
}

func newRestartClient(ctx context.Context, base time.Time, dialer *websocket.Dialer, url, token, division string) *restartClient {
	payload, _ := json.Marshal(map[string]any{"query": restartSubscription, "variables": map[string]any{"d": division}})
	sub, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": json.RawMessage(payload)})
	return &restartClient{ctx: ctx, base: base, dialer: dialer, url: url, division: division, subscribed: make(chan struct{}),
		init:        []byte(`{"type":"connection_init","payload":{"authorization":"Bearer ` + token + `"}}`),
		subMsg:      sub,
		view:        map[string]userState{},
		seen:        map[string]map[int]bool{},
		snapshotted: map[string]int{}}
}

// run connects, subscribes and reads until the connection ends, then
// does it again, until stop is called or ctx is done.
func (c *restartClient) run() {
	for {
		c.mu.Lock()
		stopped := c.stopped
		c.mu.Unlock()
		if stopped || c.ctx.Err() != nil {
			return
		}
		_ = c.session() // a connection ends with the restart: connect again
		c.mu.Lock()
		c.closedAt = time.Since(c.base)
		c.mu.Unlock()
	}
}

// allOnline reports whether the client holds every member of its
// division online (with its lock held).
func (c *restartClient) allOnline() bool {
	if c.sessions == 0 || len(c.view) == 0 {
		return false
	}
	for _, st := range c.view {
		if !st.online {
			return false
		}
	}
	return true
}

// session is one connection: it dials until roster answers (pausing
// longer after each refusal, as clients do), subscribes, and reads until
// the connection ends.
func (c *restartClient) session() error {
	var conn *websocket.Conn
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		c.attempts++
		c.mu.Unlock()
		var err error
		conn, _, err = c.dialer.DialContext(c.ctx, c.url, nil)
		if err == nil {
			break
		}
		if c.ctx.Err() != nil {
			return err
		}
		pause := min(time.Duration(50<<min(attempt, 5))*time.Millisecond, restartReconnectMax)
		if err := sleep(c.ctx, pause/2+mrand.N(pause/2+1)); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.conn = conn
	stopped := c.stopped
	c.mu.Unlock()
	defer conn.Close()
	if stopped {
		return nil
	}
	if err := conn.WriteMessage(websocket.TextMessage, c.init); err != nil {
		return err
	}
	if err := conn.WriteMessage(websocket.TextMessage, c.subMsg); err != nil {
		return err
	}
	// What this subscription sent of each user, to check the order.
	last := map[string]int{}
	var snapshot map[string]bool
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		var m struct {
			Type    string `json:"type"`
			Payload struct {
				Data struct {
					Ev *struct {
						Kind         string `json:"kind"`
						User         *struct{ ID string }
						Availability string `json:"availability"`
						Online       bool   `json:"online"`
						Devices      int    `json:"devices"`
						Version      int    `json:"version"`
					} `json:"userStatusChanged"`
				} `json:"data"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(msg, &m); err != nil {
			return fmt.Errorf("read %.200s: %w", msg, err)
		}
		switch m.Type {
		case "ping":
			if err := conn.WriteMessage(websocket.TextMessage, pongMessage); err != nil {
				return err
			}
			continue
		case "connection_ack", "pong":
			continue
		case "next":
		default:
			c.mu.Lock()
			if c.failure == "" {
				c.failure = fmt.Sprintf("got %.300s", msg)
			}
			c.mu.Unlock()
			return fmt.Errorf("got %.300s", msg)
		}
		ev := m.Payload.Data.Ev
		if ev == nil {
			return fmt.Errorf("got %.300s", msg)
		}
		now := time.Since(c.base)
		c.mu.Lock()
		c.events++
		switch ev.Kind {
		case "SNAPSHOT_END":
			// Users the snapshot did not send are no longer followed.
			for id := range c.view {
				if !snapshot[id] {
					delete(c.view, id)
				}
			}
			snapshot = nil
			c.sessions++
			c.subscribedAt = now
			if c.sessions == 1 {
				close(c.subscribed)
			}
		default:
			if ev.User == nil {
				c.mu.Unlock()
				return fmt.Errorf("an event without its user: %.300s", msg)
			}
			id := ev.User.ID
			if ev.Version <= last[id] {
				c.outOfOrder++
			}
			last[id] = ev.Version
			if ev.Kind == "SNAPSHOT" {
				if snapshot == nil {
					snapshot = map[string]bool{}
				}
				snapshot[id] = true
				c.snapshotted[id] = max(c.snapshotted[id], ev.Version)
			} else {
				if c.seen[id] == nil {
					c.seen[id] = map[int]bool{}
				}
				c.seen[id][ev.Version] = true
			}
			if !ev.Online && c.watching {
				c.flaps++
				if c.firstFlap == "" {
					c.firstFlap = fmt.Sprintf("user %s offline at version %d (%s, %.3f s)", id, ev.Version, ev.Kind, now.Seconds())
				}
			}
			if ev.Version > c.view[id].version {
				c.view[id] = userState{version: ev.Version, availability: ev.Availability, online: ev.Online, devices: ev.Devices}
			}
		}
		c.mu.Unlock()
	}
}

// stop ends the client's connection, for good.
func (c *restartClient) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.conn != nil {
		c.conn.Close()
	}
}

func (c *restartClient) lastSubscribed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subscribedAt
}

func (c *restartClient) lastClosed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closedAt
}

// waitAll waits until ready (called with the client's lock held) holds
// for every client, for up to timeout.
func waitAll(ctx context.Context, clients []*restartClient, ready func(*restartClient) bool, timeout time.Duration, roster *rosterProcess) error {
	deadline := time.Now().Add(timeout)
	for {
		behind := 0
		for _, c := range clients {
			c.mu.Lock()
			if !ready(c) {
				behind++
			}
			c.mu.Unlock()
		}
		switch {
		case behind == 0:
			return nil
		case !roster.alive():
			return fmt.Errorf("roster exited:\n%s", roster.lastLines())
		case time.Now().After(deadline):
			return fmt.Errorf("%d of %d clients were not ready within %v", behind, len(clients), timeout)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// readTruth reads every user's status, as the admin.
func readTruth(ctx context.Context, admin *apiClient) (map[string]userState, error) {
	out := map[string]userState{}
	var after any
	for {
		var page struct {
			Users struct {
				Edges []struct {
					Node struct {
						ID           string `json:"id"`
						Version      int    `json:"version"`
						Availability string `json:"availability"`
						Online       bool   `json:"online"`
						Connections  int    `json:"connections"`
					} `json:"node"`
				} `json:"edges"`
				PageInfo struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
			} `json:"users"`
		}
		err := admin.call(ctx, "Truth", `query Truth($after: Cursor) { users(first: 100, after: $after) {
			edges { node { id version availability online connections } } pageInfo { hasNextPage endCursor } } }`, map[string]any{"after": after}, &page)
		if err != nil {
			return nil, err
		}
		for _, e := range page.Users.Edges {
			out[e.Node.ID] = userState{version: e.Node.Version, availability: e.Node.Availability, online: e.Node.Online, devices: e.Node.Connections}
		}
		if !page.Users.PageInfo.HasNextPage {
			return out, nil
		}
		after = page.Users.PageInfo.EndCursor
	}
}

// waitOnline waits until the users seeded are all online.
func waitOnline(ctx context.Context, admin *apiClient, users int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		truth, err := readTruth(ctx, admin)
		if err != nil {
			// roster may be too busy to answer in time: ask again.
			if time.Now().After(deadline) || ctx.Err() != nil {
				return err
			}
			continue
		}
		online := 0
		for _, st := range truth {
			if st.online {
				online++
			}
		}
		if online >= users {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d users online after %v", online, users, timeout)
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// compareViews counts the clients whose view of their division differs
// from the truth, and describes the first.
func compareViews(clients []*restartClient, truth map[string]userState, seeded []seededUser) (int, string) {
	members := map[string][]string{}
	for _, u := range seeded {
		members[u.division] = append(members[u.division], u.id)
	}
	wrong, first := 0, ""
	for i, c := range clients {
		c.mu.Lock()
		ok := len(c.view) == len(members[c.division])
		for _, id := range members[c.division] {
			if got, want := c.view[id], truth[id]; !sameStatus(got, want) {
				ok = false
				if first == "" {
					first = fmt.Sprintf("client %d holds user %s as %+v, the truth is %+v", i, id, got, want)
				}
			}
		}
		c.mu.Unlock()
		if !ok {
			wrong++
			if first == "" {
				first = fmt.Sprintf("client %d holds %d users, its division has %d", i, len(c.view), len(members[c.division]))
			}
		}
	}
	return wrong, first
}

// lostChanges counts the (client, change) pairs where a client watching
// the user changed neither received the change as an event of its
// version nor a snapshot of the user at that version or newer.
func lostChanges(clients []*restartClient, changes []change, seeded []seededUser) (int, string) {
	divisionOf := map[string]string{}
	for _, u := range seeded {
		divisionOf[u.id] = u.division
	}
	lost, first := 0, ""
	for i, c := range clients {
		c.mu.Lock()
		for _, ch := range changes {
			if divisionOf[ch.user] != c.division || c.seen[ch.user][ch.version] || c.snapshotted[ch.user] >= ch.version {
				continue
			}
			lost++
			if first == "" {
				first = fmt.Sprintf("client %d never heard of user %s at version %d (changed at %.3f s)", i, ch.user, ch.version, ch.sent.Seconds())
			}
		}
		c.mu.Unlock()
	}
	return lost, first
}

// change is one availability change that roster answered.
type change struct {
	user    string
	version int
	sent    time.Duration // since base
}

// changer changes the availability of random seeded users at a rate, as
// the admin, retrying while roster is down.
type changer struct {
	admin *apiClient
	users []seededUser
	rate  float64
	base  time.Time

	mu      sync.Mutex
	changes []change
	failed  []time.Duration
}

func newChanger(admin *apiClient, users []seededUser, rate float64, base time.Time) *changer {
	return &changer{admin: admin, users: users, rate: rate, base: base}
}

func (ch *changer) run(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / ch.rate)
	// Each user's availability goes round these, so that every change
	// changes it: setting the one a user has already is a change of
	// version that status subscriptions do not tell.
	availabilities := []string{"BUSY", "AWAY", "ONLINE"}
	next := map[string]int{}
	for ctx.Err() == nil {
		u := ch.users[mrand.N(len(ch.users))]
		i := next[u.id]
		next[u.id]++
		sent := time.Since(ch.base)
		var out struct {
			SetUserAvailability struct {
				Version int `json:"version"`
			} `json:"setUserAvailability"`
		}
		err := ch.admin.call(ctx, "Change", `mutation Change($u: ID!, $a: Availability!) { setUserAvailability(id: $u, availability: $a) { version } }`,
			map[string]any{"u": u.id, "a": availabilities[i%len(availabilities)]}, &out)
		ch.mu.Lock()
		if err != nil {
			// Refused while roster is down, or cut by its shutdown: the
			// change may or may not have been made, and is not counted.
			if ctx.Err() == nil {
				ch.failed = append(ch.failed, sent)
			}
		} else {
			ch.changes = append(ch.changes, change{user: u.id, version: out.SetUserAvailability.Version, sent: sent})
		}
		ch.mu.Unlock()
		_ = sleep(ctx, interval)
	}
}

func (ch *changer) done() []change {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return slices.Clone(ch.changes)
}

// count returns the changes made before from, from then to to, and after
// to, and the changes that failed.
func (ch *changer) count(from, to time.Duration) (before, during, after, failed int) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for _, c := range ch.changes {
		switch {
		case c.sent < from:
			before++
		case c.sent <= to:
			during++
		default:
			after++
		}
	}
	return before, during, after, len(ch.failed)
}

// restartReport is the outcome of a -restart run.
type restartReport struct {
	Clients       int     `json:"clients"`
	Users         int     `json:"users"`
	Group         int     `json:"division_size"`
	Grace         string  `json:"presence_grace"`
	Rate          float64 `json:"changes_per_second"`
	Database      string  `json:"database"`
	Go            string  `json:"go"`
	CPUs          int     `json:"cpus"`
	OpenFileLimit uint64  `json:"open_file_limit"`

	SeedSeconds  float64 `json:"seed_seconds"`
	SetupSeconds float64 `json:"setup_seconds"`
	// OnlineSeconds is the time from the last client's snapshot to every
	// client seeing its whole division online.
	OnlineSeconds float64 `json:"online_seconds"`
	StopSeconds   float64 `json:"stop_seconds"`
	StartSeconds  float64 `json:"start_seconds"`
	// RestartToAllSeconds is the time from SIGTERM to the last client's
	// snapshot end on the restarted roster.
	RestartToAllSeconds float64 `json:"restart_to_all_resubscribed_seconds"`
	// Reconnect is, per client, the time from its connection closing to
	// its new snapshot's end.
	Reconnect       summaryMS `json:"reconnect_ms"`
	ConnectAttempts int       `json:"connect_attempts"`

	ChangesBefore int `json:"changes_before"`
	ChangesDuring int `json:"changes_during"`
	ChangesAfter  int `json:"changes_after"`
	FailedChanges int `json:"failed_changes"`
	Events        int `json:"events_received"`

	Lost           int    `json:"lost"`
	FirstLost      string `json:"first_lost,omitempty"`
	OutOfOrder     int    `json:"out_of_order"`
	ViewsWrong     int    `json:"views_not_true"`
	FirstWrongView string `json:"first_wrong_view,omitempty"`
	UsersOffline   int    `json:"users_offline"`
	FirstOffline   string `json:"first_offline,omitempty"`
	Flaps          int    `json:"offline_events_seen"`
	FirstFlap      string `json:"first_offline_event,omitempty"`
	FailedClients  int    `json:"failed_clients"`
	FirstFailure   string `json:"first_failure,omitempty"`
	// Failures are the steps that did not finish.
	Failures []string `json:"failures,omitempty"`
	// RosterWarnings and RosterErrors count the lines both roster
	// processes logged at those levels, while running; StopWarnings,
	// those the first logged while stopping.
	RosterWarnings   int64  `json:"roster_warnings"`
	RosterErrors     int64  `json:"roster_errors"`
	StopWarnings     int64  `json:"roster_stop_warnings"`
	FirstStopWarning string `json:"roster_first_stop_warning,omitempty"`
}

// problems lists the checks that failed.
func (r *restartReport) problems() []string {
	var p []string
	p = append(p, r.Failures...)
	for _, c := range []struct {
		n    int
		what string
	}{
		{r.Lost, "changes lost"}, {r.OutOfOrder, "events out of order"}, {r.ViewsWrong, "clients whose view is not the truth"},
		{r.UsersOffline, "users offline"}, {r.Flaps, "offline events seen"}, {r.FailedClients, "clients failed"},
	} {
		if c.n > 0 {
			p = append(p, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return p
}

func (r *restartReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "roster restart — %d clients (%d users, divisions of %d), changes at %g/s, presence grace %s, %s\n",
		r.Clients, r.Users, r.Group, r.Rate, r.Grace, r.Database)
	fmt.Fprintf(w, "%s, %d CPUs, open files %d; users seeded in %.1f s; clients subscribed in %.1f s, all seen online %.1f s later\n",
		r.Go, r.CPUs, r.OpenFileLimit, r.SeedSeconds, r.SetupSeconds, r.OnlineSeconds)
	fmt.Fprintf(w, "restart: stopped %.1f s after SIGTERM, listening again %.1f s later; every client subscribed again %.1f s after SIGTERM\n",
		r.StopSeconds, r.StartSeconds, r.RestartToAllSeconds)
	fmt.Fprintf(w, "per client, connection closed to snapshot end: p50 %.0f ms, p99 %.0f ms, max %.0f ms; %d connection attempts in all\n",
		r.Reconnect.P50, r.Reconnect.P99, r.Reconnect.Max, r.ConnectAttempts)
	fmt.Fprintf(w, "changes: %d before the restart, %d during it, %d after; %d refused or cut while roster was down; %d events received\n",
		r.ChangesBefore, r.ChangesDuring, r.ChangesAfter, r.FailedChanges, r.Events)
	fmt.Fprintf(w, "checks: lost %d, out of order %d, views not the truth %d, users offline %d, offline events seen %d, failed clients %d\n",
		r.Lost, r.OutOfOrder, r.ViewsWrong, r.UsersOffline, r.Flaps, r.FailedClients)
	for _, s := range []string{r.FirstLost, r.FirstWrongView, r.FirstOffline, r.FirstFlap, r.FirstFailure} {
		if s != "" {
			fmt.Fprintf(w, "  first: %s\n", s)
		}
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  FAILED: %s\n", f)
	}
	fmt.Fprintf(w, "roster: %d warnings, %d errors logged; %d warnings or errors while stopping\n", r.RosterWarnings, r.RosterErrors, r.StopWarnings)
	if r.FirstStopWarning != "" {
		fmt.Fprintf(w, "  first while stopping: %.400s\n", r.FirstStopWarning)
	}
	if p := r.problems(); len(p) > 0 {
		fmt.Fprintf(w, "FAIL: %v\n", p)
	} else {
		fmt.Fprintln(w, "PASS")
	}
}
