package main

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"roster/internal/fixture"
)

// deviceEvent is a userStatusChanged event, as devicesSubscription selects
// it.
type deviceEvent struct {
	Kind         string
	UserID       string
	Online       bool
	Availability string // when selected
	Devices      *int
	Version      int
}

const devicesSubscription = `subscription { userStatusChanged(snapshot: true) { kind user { id } online devices version } }`

// deviceEvent reads the next userStatusChanged event.
func (c *wsClient) deviceEvent() deviceEvent {
	c.t.Helper()
	m := c.read()
	var p struct {
		Data struct {
			UserStatusChanged struct {
				Kind         string
				User         *struct{ ID string }
				Online       bool
				Availability string
				Devices      *int
				Version      int
			}
		}
		Errors []any
	}
	if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil || len(p.Errors) > 0 {
		c.t.Fatalf("want a next message, got %s %s", m.Type, m.Payload)
	}
	ev := p.Data.UserStatusChanged
	out := deviceEvent{Kind: ev.Kind, Online: ev.Online, Availability: ev.Availability, Devices: ev.Devices, Version: ev.Version}
	if ev.User != nil {
		out.UserID = ev.User.ID
	}
	return out
}

// awaitSnapshot reads events until the end of the subscription's
// snapshot: from then on it hears every change.
func (c *wsClient) awaitSnapshot() {
	c.t.Helper()
	for c.deviceEvent().Kind != "SNAPSHOT_END" {
	}
}

// awaitDevices reads events until one says user id is online on n
// devices, and returns how long after since it came.
func (c *wsClient) awaitDevices(id string, n int, since time.Time) time.Duration {
	c.t.Helper()
	for {
		if ev := c.deviceEvent(); ev.UserID == id && ev.Online && ev.Devices != nil && *ev.Devices == n {
			return time.Since(since)
		}
	}
}

// TestSecondDeviceWithinASecond connects a second socket of a user who is
// already online, then closes it: a dashboard's subscription over the
// websocket sees the device count go from 1 to 2 and back within a second
// each time, and a subscriber of another organization hears nothing of it.
func TestSecondDeviceWithinASecond(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, url string) {
		srv, w := startWorld(t, url, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		agent := strconv.Itoa(acme.Agent.ID)

		watcher := dialWS(t, srv.url, acme.Admin.Token)
		watcher.subscribe("1", devicesSubscription)
		outsider := dialWS(t, srv.url, globex.Admin.Token)
		outsider.subscribe("1", devicesSubscription)
		// A dashboard that shows who is online and their availability,
		// not device counts.
		shown := dialWS(t, srv.url, acme.Admin.Token)
		shown.subscribe("1", `subscription { userStatusChanged(snapshot: true) { kind user { id } online availability version } }`)
		watcher.awaitSnapshot()
		outsider.awaitSnapshot()
		shown.awaitSnapshot()

		start := time.Now()
		phone := dialWS(t, srv.url, acme.Agent.Token)
		first := watcher.awaitDevices(agent, 1, start)
		t.Logf("first device: online on 1 device %v after the socket was dialled", first.Round(time.Millisecond))

		start = time.Now()
		laptop := dialWS(t, srv.url, acme.Agent.Token)
		second := watcher.awaitDevices(agent, 2, start)
		t.Logf("second device: 2 devices %v after the socket was dialled", second.Round(time.Millisecond))
		if second > time.Second {
			t.Errorf("the second device showed %v after its socket was dialled, want within a second", second)
		}

		start = time.Now()
		laptop.conn.Close()
		gone := watcher.awaitDevices(agent, 1, start)
		t.Logf("second device closed: 1 device %v after the socket closed", gone.Round(time.Millisecond))
		if gone > time.Second {
			t.Errorf("the closed device showed %v after its socket closed, want within a second", gone)
		}
		_ = phone

		// The dashboard that reads no device count heard of the agent
		// coming online, then nothing until their availability changed.
		for ev := shown.deviceEvent(); ev.UserID != agent || !ev.Online; ev = shown.deviceEvent() {
		}
		srv.as(acme.Agent).do(t, `mutation { setMyAvailability(availability: BUSY) { id } }`, nil).decode(t, new(any))
		ev := shown.deviceEvent()
		for ; ev.UserID != agent; ev = shown.deviceEvent() {
		}
		if ev.Availability != "BUSY" {
			t.Errorf("a subscription that reads no device count was told of the agent's: %+v", ev)
		}

		// Globex's subscriber hears of its own organization only: a change
		// there (its agent coming online) comes, and nothing of Acme's
		// agent came before it.
		_ = dialWS(t, srv.url, globex.Agent.Token)
		globexAgent := strconv.Itoa(globex.Agent.ID)
		for {
			ev := outsider.deviceEvent()
			if ev.UserID == agent {
				t.Fatalf("a Globex admin was told of Acme's agent: %+v", ev)
			}
			if ev.UserID == globexAgent {
				break
			}
		}
	})
}
