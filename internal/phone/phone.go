// Package phone reads phone numbers the way people type them ("+62
// 812-555-0102", or "0812 555 0102" in the organization's country) into
// E.164, the one form they are stored and compared in, and formats them
// for display.
package phone

import (
	"errors"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// DefaultCountry is the country of an organization that did not choose
// one: numbers typed without a country code are read as numbers of it.
const DefaultCountry = "ID"

// ErrInvalid is the error of a text that is not a phone number.
var ErrInvalid = errors.New("must be a phone number: with its country code (e.g. +62 812-3456-7890), or as dialled in the organization's country")

// ValidCountry reports whether code is an ISO 3166-1 alpha-2 country code
// with phone numbers.
func ValidCountry(code string) bool {
	_, ok := phonenumbers.GetSupportedRegions()[code]
	return ok && code == strings.ToUpper(code)
}

// Normalize reads s, typed with or without its country code, into E.164
// (+628125550102); country is the ISO 3166-1 alpha-2 code of the country
// a number without a country code is dialled in.
func Normalize(s, country string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsFunc(s, unicode.IsLetter) {
		return "", ErrInvalid
	}
	n, err := phonenumbers.Parse(s, country)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", ErrInvalid
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// Valid reports whether s is a valid phone number in E.164.
func Valid(s string) bool {
	if !strings.HasPrefix(s, "+") {
		return false
	}
	e, err := Normalize(s, "")
	return err == nil && e == s
}

// Format writes an E.164 number for people to read, in the international
// format (+62 812-3456-7890); a number it cannot read is returned as is.
func Format(e164 string) string {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return e164
	}
	return phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
}

// SearchDigits returns what to look for, among stored E.164 numbers, for a
// search term that looks like (part of) a phone number however it is
// typed: "+62 812-555", "0812 555 0102" (in country), "(0812) 555". It
// reports false for a term that is not made of digits and the separators
// people type.
func SearchDigits(term, country string) (string, bool) {
	term = strings.TrimSpace(term)
	var digits strings.Builder
	for _, r := range term {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case strings.ContainsRune("+-(). /", r):
		default:
			return "", false
		}
	}
	d := digits.String()
	if len(d) < 3 {
		return "", false
	}
	if e, err := Normalize(term, country); err == nil {
		return e, true
	}
	if strings.HasPrefix(term, "+") {
		return "+" + d, true
	}
	// A national number without its trunk prefix (the 0 of 0812) is how
	// it appears after the country code.
	if trunk := phonenumbers.GetNddPrefixForRegion(country, true); trunk != "" {
		d = strings.TrimPrefix(d, trunk)
	}
	return d, true
}
