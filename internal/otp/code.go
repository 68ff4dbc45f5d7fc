package otp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// codeSpace is the number of distinct codes: 10^Digits.
const codeSpace = 1_000_000

// rejectFrom is the smallest multiple of codeSpace that does not fit in 32
// bits; 32-bit draws at or above it are discarded so that every code is
// equally likely.
const rejectFrom = (1 << 32) / codeSpace * codeSpace

// NewCode returns a fresh code of Digits random decimal digits, such as
// "042917", to be sent to the user by email. Every code is equally likely.
// Store only HashCode of it.
func NewCode() (code string, err error) {
	return newCode(rand.Reader)
}

// newCode draws a code from r by rejection sampling, which avoids the bias a
// plain modulo would give to the lower codes.
func newCode(r io.Reader) (string, error) {
	var b [4]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("otp: read random code: %w", err)
		}
		if v := binary.BigEndian.Uint32(b[:]); v < rejectFrom {
			return fmt.Sprintf("%0*d", Digits, v%codeSpace), nil
		}
	}
}

// HashCode returns the HMAC-SHA256 of code under the server-side secret, the
// form in which an emailed code is stored. Spaces and dashes in code are
// ignored. Because the hash is keyed, a leaked database alone does not let
// anyone recover codes by trying all 10^6 of them; secret should be at least
// 32 random bytes kept outside the database.
func HashCode(code string, secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(normalize(code)))
	return m.Sum(nil)
}

// CodeMatches reports whether code, as typed by the user (spaces and dashes
// are ignored), is the code whose HashCode under secret is hash. The
// comparison takes the same time wherever the hashes differ.
func CodeMatches(hash []byte, code string, secret []byte) bool {
	code = normalize(code)
	if !wellFormed(code) {
		return false
	}
	return hmac.Equal(hash, HashCode(code, secret))
}
