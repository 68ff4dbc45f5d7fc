package otp

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rfcSecret is the SHA-1 key of the test vectors of RFC 4226 and RFC 6238.
var rfcSecret = []byte("12345678901234567890")

func TestHOTPVectors(t *testing.T) {
	t.Parallel()
	// RFC 4226, Appendix D.
	for counter, want := range []string{
		"755224", "287082", "359152", "969429", "338314",
		"254676", "287922", "162583", "399871", "520489",
	} {
		if got := hotp(rfcSecret, uint64(counter), 6); got != want {
			t.Errorf("hotp(counter %d) = %s, want %s", counter, got, want)
		}
	}
}

func TestTOTPVectors(t *testing.T) {
	t.Parallel()
	// RFC 6238, Appendix B, SHA-1 rows.
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		at := time.Unix(tc.unix, 0)
		if got := hotp(rfcSecret, uint64(Step(at)), 8); got != tc.want {
			t.Errorf("8-digit TOTP at %d = %s, want %s", tc.unix, got, tc.want)
		}
		want6 := tc.want[2:]
		if got := TOTP(rfcSecret, at); got != want6 {
			t.Errorf("TOTP at %d = %s, want %s", tc.unix, got, want6)
		}
		if step, ok := Validate(rfcSecret, want6, at, 0); !ok || step != Step(at) {
			t.Errorf("Validate(%s at %d) = %d, %v, want %d, true", want6, tc.unix, step, ok, Step(at))
		}
	}
}

func TestStep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		unix int64
		want int64
	}{
		{0, 0}, {29, 0}, {30, 1}, {59, 1}, {60, 2}, {-1, -1}, {-30, -1}, {-31, -2},
	} {
		if got := Step(time.Unix(tc.unix, 0)); got != tc.want {
			t.Errorf("Step(%d) = %d, want %d", tc.unix, got, tc.want)
		}
	}
}

func TestValidateWindow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	cur := Step(now)
	codeAt := func(step int64) string { return hotp(rfcSecret, uint64(step), Digits) }
	for _, tc := range []struct {
		name     string
		code     string
		lastStep int64
		wantStep int64
		wantOK   bool
	}{
		{"current step", codeAt(cur), 0, cur, true},
		{"one step behind", codeAt(cur - 1), 0, cur - 1, true},
		{"one step ahead", codeAt(cur + 1), 0, cur + 1, true},
		{"two steps behind", codeAt(cur - 2), 0, 0, false},
		{"two steps ahead", codeAt(cur + 2), 0, 0, false},
		{"with separators", codeAt(cur)[:3] + " - " + codeAt(cur)[3:], 0, cur, true},
		{"replay of the same step", codeAt(cur), cur, 0, false},
		{"older step after a newer one", codeAt(cur - 1), cur, 0, false},
		{"newer step after an older one", codeAt(cur + 1), cur, cur + 1, true},
		{"next step after the previous", codeAt(cur), cur - 1, cur, true},
		{"wrong code", wrongCode(codeAt(cur-1), codeAt(cur), codeAt(cur+1)), 0, 0, false},
		{"too short", codeAt(cur)[:5], 0, 0, false},
		{"too long", codeAt(cur) + "0", 0, 0, false},
		{"not digits", "abcdef", 0, 0, false},
		{"empty", "", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			step, ok := Validate(rfcSecret, tc.code, now, tc.lastStep)
			if step != tc.wantStep || ok != tc.wantOK {
				t.Errorf("Validate(%q, lastStep %d) = %d, %v, want %d, %v", tc.code, tc.lastStep, step, ok, tc.wantStep, tc.wantOK)
			}
		})
	}
}

// wrongCode returns a well-formed code that is none of codes.
func wrongCode(codes ...string) string {
	for c := 0; ; c++ {
		s := hotp([]byte("unrelated"), uint64(c), Digits)
		found := false
		for _, x := range codes {
			found = found || x == s
		}
		if !found {
			return s
		}
	}
}

func TestValidateReplayAcrossCalls(t *testing.T) {
	t.Parallel()
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_015, 0)
	code := TOTP(secret, now)
	last, ok := Validate(secret, code, now, 0)
	if !ok {
		t.Fatal("first use refused")
	}
	for _, later := range []time.Duration{0, time.Second, Period, 2 * Period} {
		if _, ok := Validate(secret, code, now.Add(later), last); ok {
			t.Errorf("code replayed %v later was accepted", later)
		}
	}
	next := now.Add(Period)
	if _, ok := Validate(secret, TOTP(secret, next), next, last); !ok {
		t.Error("the next step's code was refused")
	}
}

func TestValidateEmptySecret(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	if _, ok := Validate(nil, TOTP(nil, now), now, 0); ok {
		t.Error("Validate accepted a code for an empty secret")
	}
}

func TestSecretEncoding(t *testing.T) {
	t.Parallel()
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != SecretSize {
		t.Fatalf("len(NewSecret()) = %d, want %d", len(secret), SecretSize)
	}
	enc := EncodeSecret(secret)
	if len(enc) != 32 || enc != strings.ToUpper(enc) || strings.Contains(enc, "=") {
		t.Fatalf("EncodeSecret = %q, want 32 upper-case characters without padding", enc)
	}
	grouped := func(s string) string {
		var b strings.Builder
		for i, r := range s {
			if i > 0 && i%4 == 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"as encoded", enc},
		{"lower case", strings.ToLower(enc)},
		{"in groups of four", grouped(strings.ToLower(enc))},
		{"with dashes", strings.ReplaceAll(grouped(enc), " ", "-")},
		{"surrounding whitespace", "\t" + enc + " \n"},
	} {
		got, err := DecodeSecret(tc.in)
		if err != nil {
			t.Errorf("%s: DecodeSecret(%q): %v", tc.name, tc.in, err)
			continue
		}
		if !bytes.Equal(got, secret) {
			t.Errorf("%s: DecodeSecret(%q) = %x, want %x", tc.name, tc.in, got, secret)
		}
	}
}

func TestDecodeSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "12345678901234567890", false},
		{"jbsw y3dp ehpk 3pxp", "Hello!\xde\xad\xbe\xef", false},
		{"MFRGG===", "abc", false},
		{"mfrgg", "abc", false},
		{"", "", true},
		{"  ", "", true},
		{"ABC1", "", true},
		{"A", "", true},
		{"ABC", "", true},
		{"ABCDEF", "", true},
	} {
		got, err := DecodeSecret(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("DecodeSecret(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && string(got) != tc.want {
			t.Errorf("DecodeSecret(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "otp: decode secret") {
			t.Errorf("DecodeSecret(%q) error %q lacks context", tc.in, err)
		}
	}
}

func TestProvisioningURI(t *testing.T) {
	t.Parallel()
	secret := rfcSecret
	for _, tc := range []struct {
		name, issuer, account string
		wantPath              string
		wantRaw               string
	}{
		{"plain", "Roster", "ana@example.com", "/Roster:ana@example.com",
			"otpauth://totp/Roster:ana@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Roster&algorithm=SHA1&digits=6&period=30"},
		{"spaces", "Acme Support", "Ana María", "/Acme Support:Ana María",
			"otpauth://totp/Acme%20Support:Ana%20Mar%C3%ADa?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Support&algorithm=SHA1&digits=6&period=30"},
		{"reserved characters", "A&B/C:D", "x?y#z+w", "/A&B/C:D:x?y#z+w",
			"otpauth://totp/A&B%2FC%3AD:x%3Fy%23z%2Bw?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=A%26B%2FC%3AD&algorithm=SHA1&digits=6&period=30"},
		{"no issuer", "", "ana@example.com", "/ana@example.com",
			"otpauth://totp/ana@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=6&period=30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := ProvisioningURI(secret, tc.issuer, tc.account)
			if tc.wantRaw != "" && raw != tc.wantRaw {
				t.Errorf("ProvisioningURI = %s\nwant %s", raw, tc.wantRaw)
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("url.Parse(%q): %v", raw, err)
			}
			if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != tc.wantPath || u.Fragment != "" {
				t.Errorf("parsed %s as scheme %q host %q path %q fragment %q", raw, u.Scheme, u.Host, u.Path, u.Fragment)
			}
			label := strings.TrimPrefix(u.EscapedPath(), "/")
			if n := strings.Count(label, ":"); tc.issuer != "" && n != 1 || tc.issuer == "" && n != 0 {
				t.Errorf("escaped label %q has %d unescaped colons", label, n)
			}
			q := u.Query()
			for key, want := range map[string]string{
				"secret": EncodeSecret(secret), "issuer": tc.issuer,
				"algorithm": "SHA1", "digits": "6", "period": "30",
			} {
				if got := q.Get(key); got != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
			if _, has := q["issuer"]; has != (tc.issuer != "") {
				t.Errorf("issuer parameter present = %v with issuer %q", has, tc.issuer)
			}
			got, err := DecodeSecret(q.Get("secret"))
			if err != nil || !bytes.Equal(got, secret) {
				t.Errorf("secret parameter decodes to %x, %v", got, err)
			}
		})
	}
}
