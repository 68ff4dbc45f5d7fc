package main

import (
	"flag"
	"os"
	"testing"
)

// asProgram, set to 1 in its environment, makes the test binary run as the
// program itself (main) instead of running tests: tests start a separate
// instance that way without building the program.
const asProgram = "ROSTER_TEST_AS_PROGRAM"

func TestMain(m *testing.M) {
	if os.Getenv(asProgram) == "1" {
		main()
		os.Exit(0)
	}
	// Most of these tests wait on sockets, databases, browsers and grace
	// periods rather than on the CPU: run more of them at once than there
	// are cores, unless -test.parallel says otherwise.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "6")
	}
	os.Exit(m.Run())
}
