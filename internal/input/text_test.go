package input

import "testing"

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s      string
		multi  bool
		refuse bool
	}{
		{"Ana Lee", false, false},
		{"Zoë Ñúñez 李 محمد", false, false},
		{"emoji 👋🏽 and ZWJ 👨‍👩‍👧", false, false},
		{"nul\x00", false, true},
		{"nul\x00", true, true},
		{"bell\a", true, true},
		{"del\x7f", true, true},
		{"c1\u0085", true, true},
		{"c1\u009b", false, true},
		{"line\nbreak", false, true},
		{"line\nbreak", true, false},
		{"crlf\r\n", true, false},
		{"tab\t", false, true},
		{"tab\t", true, false},
		{"ls\u2028", false, true},
		{"ps\u2029", false, true},
		{"rlo\u202e", false, true},
		{"lre\u202a", false, true},
		{"fsi\u2068", false, true},
		{"pdi\u2069", false, true},
		{"lrm\u200e", false, true},
		{"rlm\u200f", false, true},
		{"alm\u061c", false, true},
		{"rlm in a description\u200f", true, false},
	} {
		if got := check(tc.s, tc.multi) != ""; got != tc.refuse {
			t.Errorf("check(%q, multi %v) refuses: %v, want %v", tc.s, tc.multi, got, tc.refuse)
		}
	}
}
