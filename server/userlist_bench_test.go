package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"roster/ent/role"
	"roster/ent/user"
	"roster/internal/fixture"
)

// BenchmarkUserList runs bench/listusers' query, the first page of 50
// users with their role and divisions, over HTTP against a server in this
// process, on SQLite and (where there is one) PostgreSQL. The client's
// work is in the numbers too; compare runs of the same benchmark.
//
//	go test -run XXX -bench UserList -benchmem ./server
func BenchmarkUserList(b *testing.B) {
	for _, db := range []struct {
		name string
		url  func(testing.TB) string
	}{{"SQLite", fixture.SQLiteURL}, {"PostgreSQL", fixture.PostgresURL}} {
		b.Run(db.name, func(b *testing.B) {
			dbURL := db.url(b)
			srv, w := startWorld(b, dbURL, []string{"Acme"})
			acme := w.Orgs[0]
			divs := []int{acme.Support}
			for i := range 4 {
				divs = append(divs, acme.NewDivision(b, fmt.Sprintf("Division %d", i)))
			}
			roles := []role.Builtin{role.BuiltinAgent, role.BuiltinSupervisor, role.BuiltinAdmin}
			for i := range 200 {
				acme.NewUser(b, fixture.Spec{
					Name:      fmt.Sprintf("member%d", i),
					Role:      roles[i%len(roles)],
					Divisions: divs[i%len(divs) : i%len(divs)+1+i%3%(len(divs)-i%len(divs))],
					Status:    user.StatusInvited,
				})
			}
			c := srv.as(acme.Admin)
			query := fmt.Sprintf(userListQuery, "ListUsers")
			var page userPage
			c.do(b, query, vars{"first": 50}).decode(b, &page)
			if len(page.Users.Edges) != 50 {
				b.Fatalf("%d users on the page, want 50", len(page.Users.Edges))
			}
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				c.do(b, query, vars{"first": 50})
			}
			// CPU time is what bench/listusers' throughput depends on, and
			// unlike wall time it does not count waiting for a busy CPU.
			b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is the CPU time this process has used, in user and system mode.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
