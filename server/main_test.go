package main

import (
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
	os.Exit(m.Run())
}
