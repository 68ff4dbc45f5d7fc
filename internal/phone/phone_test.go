package phone

import "testing"

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, country, want string
		ok                bool
	}{
		{"+62 812-555-0102", "ID", "+628125550102", true},
		{"+62 (812) 555 0102", "US", "+628125550102", true},
		{"0812 555 0102", "ID", "+628125550102", true},
		{"0812-5550-102", "ID", "+628125550102", true},
		{"+6281234567890", "ID", "+6281234567890", true},
		{"(415) 555-2671", "US", "+14155552671", true},
		{"020 7946 0018", "GB", "+442079460018", true},
		{"0812 555 0102", "US", "", false},
		{"12345", "ID", "", false},
		{"+62 12", "ID", "", false},
		{"call me", "ID", "", false},
		{"0812 555 0102 x", "ID", "", false},
		{"", "ID", "", false},
	} {
		got, err := Normalize(tc.in, tc.country)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Normalize(%q, %s) = %q, %v; want %q, ok %v", tc.in, tc.country, got, err, tc.want, tc.ok)
		}
	}
}

func TestValidFormatCountry(t *testing.T) {
	t.Parallel()
	if !Valid("+628125550102") || Valid("628125550102") || Valid("+62 812-555-0102") || Valid("+62812") {
		t.Error("Valid accepts or refuses the wrong numbers")
	}
	if got := Format("+628125550102"); got != "+62 812-5550-102" {
		t.Errorf("Format = %q", got)
	}
	if !ValidCountry("ID") || !ValidCountry("GB") || ValidCountry("id") || ValidCountry("XX") || ValidCountry("") {
		t.Error("ValidCountry accepts or refuses the wrong codes")
	}
}

func TestSearchDigits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		term, want string
		ok         bool
	}{
		{"+62 812-555-0102", "+628125550102", true},
		{"0812 555 0102", "+628125550102", true},
		{"0812 555", "812555", true},
		{"(0812) 555", "812555", true},
		{"+62 812", "+62812", true},
		{"555-01", "55501", true},
		{"ana", "", false},
		{"12", "", false},
	} {
		got, ok := SearchDigits(tc.term, "ID")
		if ok != tc.ok || got != tc.want {
			t.Errorf("SearchDigits(%q) = %q, %v; want %q, %v", tc.term, got, ok, tc.want, tc.ok)
		}
	}
}
