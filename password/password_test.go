package password

import "testing"

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
	if !IsHash(h) || IsHash("a long enough passphrase") {
		t.Error("IsHash does not tell hashes from passwords")
	}
	if !Verify(h, "a long enough passphrase") {
		t.Error("the right password does not verify")
	}
	if Verify(h, "a long enough passphrasE") || Verify("", "") {
		t.Error("a wrong password verifies")
	}
}
