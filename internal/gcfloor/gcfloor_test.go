package gcfloor_test

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"roster/internal/gcfloor"
)

func TestPercentFor(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, c := range []struct {
		live, floor uint64
		base, want  int
	}{
		{10 * mib, 64 * mib, 100, 540}, // the heap grows to 64 MiB
		{32 * mib, 64 * mib, 100, 100}, // twice the live heap reaches the floor
		{40 * mib, 64 * mib, 100, 100},
		{200 * mib, 64 * mib, 100, 100},
		{10 * mib, 64 * mib, 600, 600}, // never under GOGC
		{1024, 64 * mib, 100, 1000},    // bounded
		{0, 64 * mib, 100, 100},        // nothing collected yet
	} {
		if got := gcfloor.PercentFor(c.live, c.floor, c.base); got != c.want {
			t.Errorf("live %d, floor %d, GOGC %d: %d, want %d", c.live, c.floor, c.base, got, c.want)
		}
	}
}

// TestStart: in a process with a small live heap, the collector's
// percentage is raised after a collection; with no floor, or GOGC=off, it
// is left as GOGC sets it. Each case is a process of its own, the setting
// being the process's.
func TestStart(t *testing.T) {
	t.Parallel()
	if os.Getenv("ROSTER_TEST_GCFLOOR") != "" {
		return
	}
	for _, c := range []struct {
		name, floor, gogc string
		ok                func(p int) bool
	}{
		{"64 MiB", "67108864", "", func(p int) bool { return p > 200 }},
		{"no floor", "0", "", func(p int) bool { return p == 100 }},
		{"GOGC=off", "67108864", "off", func(p int) bool { return p == -1 }},
		{"GOGC=150 over the floor", "1024", "150", func(p int) bool { return p == 150 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestStartChild$", "-test.v")
			cmd.Env = append(os.Environ(), "GOGC="+c.gogc, "ROSTER_TEST_GCFLOOR="+c.floor)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			for line := range strings.Lines(string(out)) {
				if v, found := strings.CutPrefix(strings.TrimSpace(line), "gc percent "); found {
					if p, err := strconv.Atoi(v); err != nil || !c.ok(p) {
						t.Errorf("GC percent %s", v)
					}
					return
				}
			}
			t.Fatalf("no percent in %s", out)
		})
	}
}

// TestStartChild is a process of TestStart's.
func TestStartChild(t *testing.T) {
	v := os.Getenv("ROSTER_TEST_GCFLOOR")
	if v == "" {
		t.Skip("run by TestStart")
	}
	floor, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	before := gcfloor.Percent()
	gcfloor.Start(floor)
	// The finalizer of a collection runs after it, on a goroutine of its
	// own: a few collections give it the time to.
	for range 20 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		if gcfloor.Percent() != before {
			break
		}
	}
	t.Logf("\ngc percent %d\n", gcfloor.Percent())
}
