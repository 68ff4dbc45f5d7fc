package password

import (
	"context"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pw, email string
		ok        bool
	}{
		{"a long enough passphrase", "ana@example.com", true},
		{"short", "ana@example.com", false},
		{"ana@example.com", "ana@example.com", false},
		{"ANA@EXAMPLE.COM", "ana@example.com", false},
		{"password123", "ana@example.com", false},
		{"Password123", "ana@example.com", false},
		{string(make([]byte, 73)), "ana@example.com", false},
		{"ñandú-ñandú", "ana@example.com", true},
	} {
		if err := Check(tc.pw, tc.email); (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tc.pw, err, tc.ok)
		}
	}
}

func TestHashAndVerify(t *testing.T) {
	t.Parallel()
	h := Hasher{Cost: bcrypt.MinCost}
	hash, err := h.Hash("a long enough passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bcrypt.Cost([]byte(hash)); err != nil || c != bcrypt.MinCost {
		t.Errorf("hash cost = %d, %v; want %d", c, err, bcrypt.MinCost)
	}
	ctx := WithPrehashed(context.Background(), hash)
	if !IsPrehashed(ctx, hash) || IsPrehashed(ctx, "a long enough passphrase") || IsPrehashed(context.Background(), hash) {
		t.Error("IsPrehashed accepts what it was not given")
	}
	if !h.Verify(hash, "a long enough passphrase") {
		t.Error("the right password does not verify")
	}
	if h.Verify(hash, "a long enough passphrasE") || h.Verify("", "") {
		t.Error("a wrong password verifies")
	}
	// A hash made at another cost verifies the same: the cost is in the
	// hash.
	if !(Hasher{Cost: bcrypt.MinCost + 1}).Verify(hash, "a long enough passphrase") {
		t.Error("a hasher of another cost does not verify the hash")
	}
}

func TestDefaultCost(t *testing.T) {
	t.Parallel()
	if DefaultCost < 12 {
		t.Errorf("DefaultCost = %d, want at least 12", DefaultCost)
	}
	if c := (Hasher{}).cost(); c != DefaultCost {
		t.Errorf("the zero Hasher hashes at cost %d, want DefaultCost (%d)", c, DefaultCost)
	}
	// The time of a failed login with no account follows the cost.
	if c, err := bcrypt.Cost(dummy(bcrypt.MinCost)); err != nil || c != bcrypt.MinCost {
		t.Errorf("dummy hash cost = %d, %v; want %d", c, err, bcrypt.MinCost)
	}
}
