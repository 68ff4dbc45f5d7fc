package password

import (
	"context"
	"testing"
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
	h, err := Hash("a long enough passphrase")
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithPrehashed(context.Background(), h)
	if !IsPrehashed(ctx, h) || IsPrehashed(ctx, "a long enough passphrase") || IsPrehashed(context.Background(), h) {
		t.Error("IsPrehashed accepts what it was not given")
	}
	if !Verify(h, "a long enough passphrase") {
		t.Error("the right password does not verify")
	}
	if Verify(h, "a long enough passphrasE") || Verify("", "") {
		t.Error("a wrong password verifies")
	}
}
