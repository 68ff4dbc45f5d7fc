package schema

import (
	"net/mail"
	"net/url"
	"regexp"
	"strings"

	"roster/internal/apierr"
	"roster/internal/input"
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

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func phoneNumber(s string) error {
	if !e164.MatchString(s) {
		return apierr.Invalidf("must be a phone number in E.164 format, e.g. +6281234567890")
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

// normalizePhone removes the separators people type in phone numbers.
func normalizePhone(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '(', ')', '.':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
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
