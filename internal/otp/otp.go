// Package otp owns the one-time codes of multi-factor authentication: the
// six-digit codes sent by email, kept only as keyed hashes, and the
// time-based codes (TOTP, RFC 6238) of authenticator apps, with their shared
// secrets, provisioning URIs and replay-safe validation.
package otp

import (
	"strings"
	"unicode"
)

// Digits is the number of decimal digits of every code this package issues
// or accepts.
const Digits = 6

// normalize removes the spaces and dashes a user may type inside a code, as in
// "123 456" or "123-456".
func normalize(code string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, code)
}

// wellFormed reports whether code is exactly Digits ASCII decimal digits.
func wellFormed(code string) bool {
	if len(code) != Digits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}
