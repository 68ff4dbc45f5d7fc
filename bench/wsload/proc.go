package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc: USER_HZ, 100 on every
// Linux architecture's user-space interface.
const clockTick = 10 * time.Millisecond

// processRSS returns the resident set size of process pid ("self" for this
// one) in bytes, from VmRSS in /proc/<pid>/status.
func processRSS(pid string) (int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}

// parseVmRSS reads the VmRSS line ("VmRSS:	  12345 kB") of a
// /proc/<pid>/status file.
func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS: %w", err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmRSS in /proc/<pid>/status")
}

// processCPU returns the user and system CPU time process pid ("self" for
// this one) has used, from utime and stime in /proc/<pid>/stat.
func processCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime + stime (fields 14 and 15) of a /proc/<pid>/stat
// line. The command name (field 2) is in parentheses and may hold spaces
// and parentheses itself, so fields are counted after the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/<pid>/stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, errors.New("short /proc/<pid>/stat")
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/<pid>/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// machineCPU is the machine's CPU time from /proc/stat, in ticks summed
// over all CPUs.
type machineCPU struct {
	busy, total int64
}

// readMachineCPU reads the first ("cpu") line of /proc/stat.
func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	return parseMachineCPU(b)
}

func parseMachineCPU(b []byte) (machineCPU, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return machineCPU{}, errors.New("malformed /proc/stat")
	}
	var m machineCPU
	// user nice system idle iowait irq softirq steal (guest time is
	// already counted in user and nice).
	for i, s := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("/proc/stat: %w", err)
		}
		m.total += n
		if i != 3 && i != 4 { // idle, iowait
			m.busy += n
		}
	}
	return m, nil
}

// busyShare returns the share of CPU time spent busy between a and b, 0
// to 1.
func busyShare(a, b machineCPU) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total)
}

// postgresCPU returns the CPU time used so far by each PostgreSQL process
// that works for database db: its backends and the server's own background
// processes (writers, checkpointer, autovacuum launcher…), by process ID.
// Backends of other databases on the same server are left out.
func postgresCPU(db string) (map[int]time.Duration, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	cpu := make(map[int]time.Duration)
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		dir := "/proc/" + d.Name()
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil || statCommand(stat) != "postgres" {
			continue // gone meanwhile, or not PostgreSQL
		}
		title, err := os.ReadFile(dir + "/cmdline")
		if err != nil || !postgresServes(title, db) {
			continue
		}
		if t, err := parseStatCPU(stat); err == nil {
			cpu[pid] = t
		}
	}
	return cpu, nil
}

// postgresServes tells from a PostgreSQL process title ("postgres: 15/main:
// user db 127.0.0.1(5432) idle", or "postgres: 15/main: walwriter")
// whether the process works for database db: a backend of db, or a
// process that is no client's backend.
func postgresServes(title []byte, db string) bool {
	for _, f := range strings.Fields(strings.ReplaceAll(string(title), "\x00", " ")) {
		if f == db {
			return true
		}
	}
	backend := bytes.Contains(title, []byte("(")) || bytes.Contains(title, []byte("[local]"))
	return !backend
}

// cpuDelta returns the CPU time the processes of after used since before:
// for processes in both, the difference; for processes started in between,
// all of theirs. Processes that ended in between are missed.
func cpuDelta(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range after {
		if t0, ok := before[pid]; ok && t0 <= t {
			d += t - t0
		} else if !ok {
			d += t
		}
	}
	return d
}

// statCommand returns the command name of a /proc/<pid>/stat line.
func statCommand(stat []byte) string {
	i, j := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if i < 0 || j < i {
		return ""
	}
	return string(stat[i+1 : j])
}

// busyTime returns the busy CPU time between a and b, summed over CPUs.
func busyTime(a, b machineCPU) time.Duration {
	return time.Duration(b.busy-a.busy) * clockTick
}
