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

// cpuSample is the CPU time used so far by the processes that serve the
// requests: roster, this process (the load generator, and the hand-written
// handler), and PostgreSQL's backends of the benchmark's database.
type cpuSample struct {
	roster, self, postgres time.Duration
	// postgresPIDs holds the CPU time of each backend, so that backends
	// opened in between count from zero.
	postgresPIDs map[int]time.Duration
}

// cpuProbe samples the CPU time of roster (process rosterPID) and, unless
// db is "", of PostgreSQL's backends of database db. It returns nil where
// /proc cannot be read.
func cpuProbe(rosterPID int, db string) func() *cpuSample {
	return func() *cpuSample {
		r, err := processCPU(strconv.Itoa(rosterPID))
		if err != nil {
			return nil
		}
		self, err := processCPU("self")
		if err != nil {
			return nil
		}
		s := &cpuSample{roster: r, self: self}
		if db != "" {
			if s.postgresPIDs, err = postgresCPU(db); err != nil {
				return nil
			}
		}
		return s
	}
}

// cpuUse is the CPU time each part used between two samples.
type cpuUse struct {
	roster, self, postgres time.Duration
}

// since returns the CPU time used from a to b.
func since(a, b *cpuSample) *cpuUse {
	if a == nil || b == nil {
		return nil
	}
	u := &cpuUse{roster: b.roster - a.roster, self: b.self - a.self}
	for pid, t := range b.postgresPIDs {
		if t0, ok := a.postgresPIDs[pid]; ok && t0 <= t {
			u.postgres += t - t0
		} else if !ok {
			u.postgres += t
		}
	}
	return u
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

// postgresCPU returns the CPU time used so far by each PostgreSQL backend
// of database db, by process ID; backends of other databases and the
// server's background processes are left out.
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
// user db 127.0.0.1(5432) idle") whether the process is a backend of
// database db.
func postgresServes(title []byte, db string) bool {
	for _, f := range strings.Fields(strings.ReplaceAll(string(title), "\x00", " ")) {
		if f == db {
			return true
		}
	}
	return false
}

// statCommand returns the command name of a /proc/<pid>/stat line.
func statCommand(stat []byte) string {
	i, j := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if i < 0 || j < i {
		return ""
	}
	return string(stat[i+1 : j])
}
