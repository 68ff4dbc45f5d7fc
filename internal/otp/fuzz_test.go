package otp

import (
	"testing"
	"time"
)

func FuzzValidate(f *testing.F) {
	now := time.Unix(1_111_111_111, 0)
	for _, seed := range []string{
		"", "050471", "050 471", "050-471", "14050471", "abcdef", "٠١٢٣٤٥",
		"\x00\x00\x00\x00\x00\x00", "12345", "1234567", "-0504-71-", "\xff\xfe",
	} {
		f.Add(seed, now.Unix(), int64(0))
	}
	f.Fuzz(func(t *testing.T, code string, unix, lastStep int64) {
		at := time.Unix(unix, 0)
		step, ok := Validate(rfcSecret, code, at, lastStep)
		if !ok {
			if step != 0 {
				t.Errorf("Validate(%q) refused but returned step %d", code, step)
			}
			return
		}
		if n := normalize(code); !wellFormed(n) {
			t.Fatalf("Validate accepted %q, which is not %d digits once normalized (%q)", code, Digits, n)
		}
		cur := Step(at)
		if step < cur-Skew || step > cur+Skew || step <= lastStep {
			t.Errorf("Validate(%q at step %d, lastStep %d) returned step %d", code, cur, lastStep, step)
		}
		if want := hotp(rfcSecret, uint64(step), Digits); normalize(code) != want {
			t.Errorf("Validate(%q) matched step %d, whose code is %s", code, step, want)
		}
	})
}
