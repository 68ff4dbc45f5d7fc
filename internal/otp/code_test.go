package otp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestNewCodeFormat(t *testing.T) {
	t.Parallel()
	for range 1000 {
		code, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if !wellFormed(code) {
			t.Fatalf("NewCode() = %q, want %d decimal digits", code, Digits)
		}
	}
}

func TestNewCodeDistribution(t *testing.T) {
	t.Parallel()
	const n = 100_000
	var first [10]int
	for range n {
		code, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		first[code[0]-'0']++
	}
	for d, c := range first {
		if share := float64(c) / n; share < 0.08 || share > 0.12 {
			t.Errorf("first digit %d in %.2f%% of codes, want 8%%–12%%", d, 100*share)
		}
	}
}

func TestNewCodeRejectionSampling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		random []byte
		want   string
	}{
		{"zero", []byte{0, 0, 0, 0}, "000000"},
		{"below the bound", []byte{0x00, 0x0f, 0x42, 0x3f}, "999999"},
		{"last accepted draw", be32(rejectFrom - 1), "999999"},
		{"first rejected draw is skipped", append(be32(rejectFrom), 0, 0, 0, 7), "000007"},
		{"largest draw is skipped", append(be32(1<<32-1), 0, 0, 0x30, 0x39), "012345"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := newCode(bytes.NewReader(tc.random))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("newCode(%x) = %q, want %q", tc.random, got, tc.want)
			}
		})
	}
}

func TestNewCodeReadError(t *testing.T) {
	t.Parallel()
	_, err := newCode(strings.NewReader("ab"))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("newCode(short reader) error = %v, want it to wrap %v", err, io.ErrUnexpectedEOF)
	}
}

func be32(v uint32) []byte {
	return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func TestCodeMatches(t *testing.T) {
	t.Parallel()
	secret := []byte("a server-side secret of 32 bytes")
	hash := HashCode("042917", secret)
	for _, tc := range []struct {
		name   string
		code   string
		secret []byte
		want   bool
	}{
		{"same code", "042917", secret, true},
		{"with a space", "042 917", secret, true},
		{"with a dash", "042-917", secret, true},
		{"surrounding whitespace", " 042917\n", secret, true},
		{"other code", "042918", secret, false},
		{"leading zero dropped", "42917", secret, false},
		{"extra digit", "0429170", secret, false},
		{"letters", "04291a", secret, false},
		{"empty", "", secret, false},
		{"other secret", "042917", []byte("another server-side secret......"), false},
		{"no secret", "042917", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := CodeMatches(hash, tc.code, tc.secret); got != tc.want {
				t.Errorf("CodeMatches(hash, %q) = %v, want %v", tc.code, got, tc.want)
			}
		})
	}
	if CodeMatches(nil, "042917", secret) {
		t.Error("CodeMatches(nil hash) = true")
	}
}

func TestHashCode(t *testing.T) {
	t.Parallel()
	a, b := []byte("secret A"), []byte("secret B")
	for _, tc := range []struct {
		name       string
		h1, h2     []byte
		wantEquals bool
	}{
		{"deterministic", HashCode("123456", a), HashCode("123456", a), true},
		{"separators ignored", HashCode("123 456", a), HashCode("123-456", a), true},
		{"secrets differ", HashCode("123456", a), HashCode("123456", b), false},
		{"codes differ", HashCode("123456", a), HashCode("123457", a), false},
	} {
		if got := bytes.Equal(tc.h1, tc.h2); got != tc.wantEquals {
			t.Errorf("%s: hashes equal = %v, want %v", tc.name, got, tc.wantEquals)
		}
	}
	if h := HashCode("123456", a); len(h) != 32 || bytes.Contains(h, []byte("123456")) {
		t.Errorf("HashCode = %x, want a 32-byte digest", h)
	}
}
