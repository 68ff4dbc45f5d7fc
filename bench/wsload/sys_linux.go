package main

import (
	"os/exec"
	"syscall"
)

// configureChild puts the roster child in a process group of its own, so
// that an interrupt typed at the terminal reaches only this command, which
// then stops roster itself; and it has the kernel send roster SIGTERM
// should this command die first.
func configureChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// raiseOpenFileLimit raises this process's soft limit on open files to
// the hard limit and returns the new soft limit. Children started
// afterwards inherit it: both this command and roster hold one file per
// connection.
func raiseOpenFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}
