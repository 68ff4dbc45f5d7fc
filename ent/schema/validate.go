package schema

import (
	"net/mail"
	"net/url"
	"strings"
	"time"
	_ "time/tzdata" // time zones are known even where the system has none

	"roster/internal/apierr"
	"roster/internal/input"
	"roster/internal/phone"
)

// singleLine refuses control characters, line breaks and bidirectional
// text controls, as the API refuses them in every single-line input.
func singleLine(s string) error {
	if msg := input.Check(s, false); msg != "" {
		return apierr.Invalidf("%s", msg)
	}
	return nil
}

func required(s string) error {
	if strings.TrimSpace(s) == "" {
		return apierr.Invalidf("is required")
	}
	return nil
}

func emailAddress(s string) error {
	if strings.TrimSpace(s) == "" {
		return apierr.Invalidf("is required")
	}
	if err := singleLine(s); err != nil {
		return err
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return apierr.Invalidf("must be a valid email address")
	}
	return nil
}

func phoneNumber(s string) error {
	if !phone.Valid(s) {
		return apierr.Invalidf("%s", phone.ErrInvalid)
	}
	return nil
}

func countryCode(s string) error {
	if !phone.ValidCountry(s) {
		return apierr.Invalidf("must be an ISO 3166-1 alpha-2 country code, e.g. ID or GB")
	}
	return nil
}

func httpURL(s string) error {
	if err := singleLine(s); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return apierr.Invalidf("must be an http or https URL")
	}
	return nil
}

// text returns a validator for a required single-line text of at most max
// characters.
func text(max int) func(string) error {
	return func(s string) error {
		if err := required(s); err != nil {
			return err
		}
		return maxLen(max)(s)
	}
}

// maxLen returns a validator for a single-line text of at most max
// characters.
func maxLen(max int) func(string) error {
	return func(s string) error {
		if err := singleLine(s); err != nil {
			return err
		}
		if len([]rune(s)) > max {
			return apierr.Invalidf("must be at most %d characters long", max)
		}
		return nil
	}
}

// paragraph returns a validator for a text of at most max characters that
// may span lines: a description.
func paragraph(max int) func(string) error {
	return func(s string) error {
		if msg := input.Check(s, true); msg != "" {
			return apierr.Invalidf("%s", msg)
		}
		if len([]rune(s)) > max {
			return apierr.Invalidf("must be at most %d characters long", max)
		}
		return nil
	}
}

// timeZone accepts an IANA time zone name (UTC, Asia/Jakarta), not
// "Local" nor an empty name, which would mean the server's zone.
func timeZone(s string) error {
	if s == "" || s == "Local" || len(s) > 64 {
		return apierr.Invalidf("must be an IANA time zone, such as Asia/Jakarta or UTC")
	}
	if _, err := time.LoadLocation(s); err != nil {
		return apierr.Invalidf("must be an IANA time zone, such as Asia/Jakarta or UTC")
	}
	return nil
}
