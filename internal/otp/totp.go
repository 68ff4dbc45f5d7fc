package otp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SecretSize is the length in bytes of the secrets NewSecret returns: the
// 160 bits RFC 4226 recommends for HMAC-SHA1.
const SecretSize = 20

// Period is the time step of TOTP codes.
const Period = 30 * time.Second

// Skew is how many time steps before and after the current one Validate
// accepts, to allow for clocks that are slightly off.
const Skew = 1

// b32 is base32 (RFC 4648) without padding, the encoding of secrets in
// provisioning URIs and in the manual-entry field of authenticator apps.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a fresh random TOTP secret of SecretSize bytes, to be
// stored for the user (encrypted at rest) and shown to them once through
// ProvisioningURI or EncodeSecret.
func NewSecret() (secret []byte, err error) {
	secret = make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("otp: read random secret: %w", err)
	}
	return secret, nil
}

// EncodeSecret returns secret in upper-case base32 without padding, the form
// users type into an authenticator app.
func EncodeSecret(secret []byte) string {
	return b32.EncodeToString(secret)
}

// DecodeSecret is the inverse of EncodeSecret. It ignores spaces, dashes,
// trailing padding and letter case, so "jbsw y3dp-ehpk 3pxp" decodes.
func DecodeSecret(s string) ([]byte, error) {
	s = strings.TrimRight(strings.ToUpper(normalize(s)), "=")
	if s == "" {
		return nil, errors.New("otp: decode secret: empty")
	}
	if n := len(s) % 8; n == 1 || n == 3 || n == 6 {
		// No whole number of bytes encodes to these lengths.
		return nil, fmt.Errorf("otp: decode secret: invalid length %d", len(s))
	}
	secret, err := b32.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("otp: decode secret: %w", err)
	}
	return secret, nil
}

// ProvisioningURI returns the otpauth:// URI of secret in the Key URI Format
// understood by authenticator apps, usually shown as a QR code:
//
//	otpauth://totp/Issuer:account?secret=…&issuer=Issuer&algorithm=SHA1&digits=6&period=30
//
// The label and parameters are percent-encoded: spaces as %20, which every
// app reads, plus signs as %2B, and colons inside issuer or account as %3A so
// the label stays unambiguous. With an empty issuer the label is the account
// alone and the issuer parameter is left out.
func ProvisioningURI(secret []byte, issuer, account string) string {
	label := escapeLabel(account)
	if issuer != "" {
		label = escapeLabel(issuer) + ":" + label
	}
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	b.WriteString(label)
	b.WriteString("?secret=")
	b.WriteString(EncodeSecret(secret))
	if issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(strings.ReplaceAll(url.QueryEscape(issuer), "+", "%20"))
	}
	b.WriteString("&algorithm=SHA1&digits=")
	b.WriteString(strconv.Itoa(Digits))
	b.WriteString("&period=")
	b.WriteString(strconv.Itoa(int(Period / time.Second)))
	return b.String()
}

// labelEscaper finishes what url.PathEscape leaves: the colon separates
// issuer from account, and some apps read a plus sign as a space.
var labelEscaper = strings.NewReplacer(":", "%3A", "+", "%2B")

// escapeLabel percent-encodes one part of a provisioning URI label.
func escapeLabel(s string) string {
	return labelEscaper.Replace(url.PathEscape(s))
}

// Step returns the TOTP time step that t falls in: the number of whole
// Periods since the Unix epoch.
func Step(t time.Time) int64 {
	s := t.Unix()
	p := int64(Period / time.Second)
	q := s / p
	if s%p < 0 {
		q--
	}
	return q
}

// TOTP returns the Digits-digit code of secret at time t (RFC 6238 with
// HMAC-SHA1 and a 30-second period).
func TOTP(secret []byte, t time.Time) string {
	return hotp(secret, uint64(Step(t)), Digits)
}

// Validate reports whether code, as typed by the user (spaces and dashes are
// ignored), is the TOTP code of secret at t or one step (Skew) before or
// after it, and returns the step it matched.
//
// lastStep is the step returned by the user's previous successful
// validation, or 0 if there was none. Codes of that step or earlier are
// refused, so an observed code cannot be replayed; on success the caller must
// store the returned step as the new lastStep before accepting the login.
// When a code happens to match several steps the latest one is returned,
// which also closes the window for replaying it.
//
// Each candidate code is compared in constant time, and every candidate is
// compared whether or not an earlier one matched. An empty secret never
// validates.
func Validate(secret []byte, code string, t time.Time, lastStep int64) (step int64, ok bool) {
	code = normalize(code)
	if len(secret) == 0 || !wellFormed(code) {
		return 0, false
	}
	now := Step(t)
	for s := now - Skew; s <= now+Skew; s++ {
		if s <= lastStep {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(hotp(secret, uint64(s), Digits)), []byte(code)) == 1 {
			step, ok = s, true
		}
	}
	return step, ok
}

// pow10 holds 10^n for the digit counts hotp supports.
var pow10 = [...]uint32{1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000}

// hotp returns the HOTP value (RFC 4226) of key and counter with the given
// number of digits, from 1 to 9, zero-padded.
func hotp(key []byte, counter uint64, digits int) string {
	if digits < 1 || digits >= len(pow10) {
		panic(fmt.Sprintf("otp: unsupported number of digits %d", digits))
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", digits, v%pow10[digits])
}
