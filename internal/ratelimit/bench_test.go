package ratelimit

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkAllow(b *testing.B) {
	for _, keys := range []int{1, 1024, 1 << 16} {
		b.Run(strconv.Itoa(keys)+"keys", func(b *testing.B) {
			l := New(1_000_000, time.Second)
			names := make([]string, keys)
			for i := range names {
				names[i] = "user-" + strconv.Itoa(i)
			}
			var seq atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(1)) * 7919
				for pb.Next() {
					l.Allow(names[i%len(names)])
					i++
				}
			})
		})
	}
}

func BenchmarkAllowAll(b *testing.B) {
	accounts := New(1_000_000, time.Second)
	addrs := New(1_000_000, time.Second)
	names := make([]string, 1024)
	for i := range names {
		names[i] = "user-" + strconv.Itoa(i)
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1)) * 7919
		for pb.Next() {
			AllowAll(Check{accounts, names[i%len(names)]}, Check{addrs, names[(i/3)%len(names)]})
			i++
		}
	})
}
