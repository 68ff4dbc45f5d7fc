//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

// configureChild leaves the roster child as exec starts it.
func configureChild(*exec.Cmd) {}

// raiseOpenFileLimit is not supported here.
func raiseOpenFileLimit() (uint64, error) {
	return 0, errors.New("raising the open file limit is supported on Linux only")
}
