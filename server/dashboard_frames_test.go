package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roster/ent/role"
	"roster/internal/fixture"
	"roster/internal/store/storetest"
)

// frameBudgetEnv turns on the wall-time assertion of
// TestDashboardFrameBudget. CI sets it in a step of its own, after the
// parallel suite, when nothing else competes for the CPU: on a machine
// busy with other work, a frame's wall time mostly measures the wait for
// a CPU.
const frameBudgetEnv = "ROSTER_TEST_FRAME_BUDGET"

// frameBudget is the longest a frame may take: "usable at 1,000 agents"
// means no frame over 50 ms on an update.
const frameBudget = 50.0 // ms

// TestDashboardFrameBudget opens the dashboard on an organization of over
// 1,000 users and streams changes to it (availability changes, sockets
// turning agents online, new users) while the page records its frames.
//
// It always checks the page's own work: no main-thread task over 50 ms of
// CPU time (Chromium's trace). With ROSTER_TEST_FRAME_BUDGET=wall it also
// checks frames in wall time, as a person would see them: no long
// animation frame (the browser's Long Animation Frames API reports every
// frame over 50 ms, from its first task to the end of its rendering), and
// no frame in the trace over 50 ms of wall time. Run it so on a quiet
// machine:
//
//	ROSTER_TEST_FRAME_BUDGET=wall go test -count=1 -run TestDashboardFrameBudget -v ./server
func TestDashboardFrameBudget(t *testing.T) {
	t.Parallel()
	wall := os.Getenv(frameBudgetEnv) == "wall"
	b := startBrowser(t)
	artifacts := artifactsDir(t)

	dbURL := storetest.PostgresURL(t)
	w := fixture.New(t, dbURL)
	acme := w.Orgs[0]
	crowd := seedAgents(t, w, acme, 1000)
	srv := startServer(t, dbURL)
	admin := srv.as(acme.Admin)
	var total struct{ Users struct{ TotalCount int } }
	admin.do(t, `{ users(where: {status: ACTIVE}) { totalCount } }`, nil).decode(t, &total)

	b.do("open", map[string]any{"name": "admin", "url": srv.url + "/dashboard"})
	if next := b.do("login", map[string]any{"name": "admin", "email": acme.Admin.Email, "password": fixture.Password})["next"]; next != "dashboard" {
		t.Fatalf("after the password the page shows %v", next)
	}
	b.do("wait", map[string]any{"name": "admin", "selector": "#connection", "text": true, "value": "Live", "timeout": 30000})
	b.do("wait", map[string]any{"name": "admin", "selector": `[data-total="all"]`, "text": true, "value": fmt.Sprint(total.Users.TotalCount), "timeout": 30000})

	b.do("framesStart", map[string]any{"name": "admin"})
	b.do("traceStart", map[string]any{"name": "admin"})
	// Availability changes, agents connecting and new users, interleaved,
	// at a steady 50 changes a second: many times what 1,000 agents make,
	// but not so many that the server and the database this test runs on
	// the same machine keep the browser from a CPU.
	setAvailability := `mutation($id: ID!, $a: Availability!) { setUserAvailability(id: $id, availability: $a) { id } }`
	availabilities := []string{"ONLINE", "BUSY", "AWAY", "OFFLINE"}
	const changes, connections, joiners = 400, 50, 20
	tick := time.NewTicker(time.Second / 50)
	defer tick.Stop()
	for i := range changes {
		<-tick.C
		// Each to an availability other than the one it was seeded with.
		admin.do(t, setAvailability, vars{"id": crowd[i].ID, "a": availabilities[(i+1)%4]}).decode(t, new(any))
		if i%(changes/connections) == 0 {
			dialWS(t, srv.url, crowd[i/(changes/connections)].Token)
		}
		if j := i / (changes / joiners); i%(changes/joiners) == 0 {
			admin.do(t, `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`, vars{"i": vars{
				"firstName": "Late", "lastName": fmt.Sprintf("Joiner %02d", j), "email": fmt.Sprintf("late%d@acme.test", j),
				"roleID": acme.Roles[role.BuiltinAgent], "divisionIDs": []int{acme.Support}, "password": fixture.Password,
			}}).decode(t, new(any))
		}
	}
	admin.do(t, `{ users(where: {status: ACTIVE}) { totalCount } }`, nil).decode(t, &total)
	b.do("wait", map[string]any{"name": "admin", "selector": `[data-total="all"]`, "text": true, "value": fmt.Sprint(total.Users.TotalCount), "timeout": 30000})
	last := changes - 1
	b.do("wait", map[string]any{"name": "admin", "selector": rowOf(crowd[last].ID) + " .avail", "text": true, "value": label(availabilities[(last+1)%4]), "timeout": 30000})
	b.do("wait", map[string]any{"name": "admin", "selector": rowOf(crowd[49].ID) + " .presence", "text": true, "value": "Connected · 1 device", "timeout": 30000})
	// The trace is kept with the screenshots: chrome://tracing or
	// Perfetto shows where the time went.
	trace := b.do("traceStop", map[string]any{"name": "admin", "path": filepath.Join(artifacts, "dashboard-crowd-trace.json")})
	frames := b.do("framesStop", map[string]any{"name": "admin"})
	b.do("screenshot", map[string]any{"name": "admin", "path": filepath.Join(artifacts, "dashboard-crowd.png")})

	longFrames := frames["longFrames"].([]any)
	t.Logf("%d availability changes, %d connections and %d new users among %d users", changes, connections, joiners, total.Users.TotalCount)
	t.Logf("main thread, CPU time: longest frame %v ms, longest task %v ms (%v frames, %v tasks)",
		trace["maxFrameCpu"], trace["maxTaskCpu"], trace["frames"], trace["tasks"])
	t.Logf("wall time (load average %s): longest frame %v ms, longest task %v ms; long animation frames (over 50 ms) %d %v; long tasks %v; longest interval between two animation frames %v ms over %v frames",
		loadAverage(), trace["maxFrameWall"], trace["maxTaskWall"], len(longFrames), longFrames, frames["longTasks"], frames["maxInterval"], frames["frames"])
	if trace["frames"].(float64) == 0 {
		t.Fatalf("the trace shows no frame during the updates")
	}
	// The page's own work, whatever else the machine does.
	if over := trace["tasksOver50Cpu"].([]any); len(over) > 0 {
		t.Errorf("tasks over %v ms of CPU time during the updates: %v: %+v", frameBudget, over, trace["longest"])
	}
	if !wall {
		t.Logf("frames in wall time not judged: set %s=wall on a quiet machine", frameBudgetEnv)
		return
	}
	if frames["longFramesObserved"] != true {
		t.Fatalf("the browser does not report long animation frames")
	}
	if len(longFrames) > 0 {
		t.Errorf("%d frames over %v ms of wall time during the updates: %v", len(longFrames), frameBudget, longFrames)
	}
	if got := trace["maxFrameWall"].(float64); got > frameBudget {
		t.Errorf("the longest frame in the trace took %v ms of wall time, want at most %v", got, frameBudget)
	}
}

// label is how the page shows an availability.
func label(availability string) string {
	return availability[:1] + strings.ToLower(availability[1:])
}
