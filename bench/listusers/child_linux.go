package main

import (
	"os/exec"
	"syscall"
)

// configureChild puts the roster child in a process group of its own, so
// that an interrupt typed at the terminal reaches only this command, which
// then stops roster itself after the load has stopped; and it has the
// kernel send roster SIGTERM should this command die first.
func configureChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
