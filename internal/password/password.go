// Package password owns how passwords are judged and stored: the policy a new
// password must meet, and the one-way hash kept in its place.
package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// DefaultCost is the bcrypt work factor of new hashes unless a Hasher
// says otherwise. Production keeps it: it is what makes a stolen hash
// expensive to guess.
const DefaultCost = 12

// MinLength is the minimum number of characters of a password.
const MinLength = 10

// MaxLength is the maximum number of bytes bcrypt can hash.
const MaxLength = 72

// common lists passwords that are refused whatever their length.
var common = map[string]bool{}

func init() {
	for _, p := range strings.Fields(`
		1234567890 12345678910 123456789a 0123456789 0987654321 1q2w3e4r5t 1qaz2wsx3edc
		qwertyuiop password1 password12 password123 password1234 passw0rd123 iloveyou123
		qwerty1234 qwerty12345 abcdefghij abc1234567 aaaaaaaaaa 1111111111 0000000000
		letmein123 welcome123 welcome1234 administrator admin12345 changeme123 trustno1234
		football123 baseball123 superman123 monkey12345 dragon12345 sunshine123 princess123
		starwars123 whatever123 computer123 qwertyuiop1 zaq12wsxcde asdfghjkl1 asdfghjkl;
		1234qwerty 123qweasdzxc q1w2e3r4t5 p@ssw0rd123 p@ssword123 password!1 Password123
	`) {
		common[strings.ToLower(p)] = true
	}
}

// Check returns why pw is not acceptable for the account with the given
// email, or nil when it is.
func Check(pw, email string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinLength:
		return errors.New("must be at least 10 characters long")
	case len(pw) > MaxLength:
		return errors.New("must be at most 72 bytes long")
	case strings.EqualFold(strings.TrimSpace(pw), strings.TrimSpace(email)):
		return errors.New("must not be the email address")
	case common[strings.ToLower(pw)]:
		return errors.New("is too common")
	}
	return nil
}

// Hasher makes and checks password hashes. Its zero value hashes at
// DefaultCost; tests give it bcrypt.MinCost.
type Hasher struct {
	// Cost is the bcrypt work factor of new hashes; DefaultCost when 0.
	Cost int
}

func (h Hasher) cost() int {
	if h.Cost == 0 {
		return DefaultCost
	}
	return h.Cost
}

// Hash returns the bcrypt hash of pw.
func (h Hasher) Hash(pw string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(pw), h.cost())
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Verify reports whether pw matches hash. An empty hash (an account without
// a password, or no account at all) never matches, but costs as much time
// as comparing with a hash this Hasher made.
func (h Hasher) Verify(hash, pw string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummy(h.cost()), []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// dummies holds, by cost, a hash compared against when there is no
// account, so that an unknown email costs as much time as a wrong password.
var dummies sync.Map

func dummy(cost int) []byte {
	if h, ok := dummies.Load(cost); ok {
		return h.([]byte)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("not a password of anyone"), cost)
	h2, _ := dummies.LoadOrStore(cost, h)
	return h2.([]byte)
}

type prehashedKey struct{}

// WithPrehashed returns a context in which hash, made by Hasher.Hash, is stored
// as it is: the code that hashed it has checked the password already. It
// lets a caller hash before taking a lock. It must never carry a value
// from a client.
func WithPrehashed(ctx context.Context, hash string) context.Context {
	return context.WithValue(ctx, prehashedKey{}, hash)
}

// IsPrehashed reports whether pw is the hash ctx was given by WithPrehashed.
func IsPrehashed(ctx context.Context, pw string) bool {
	h, ok := ctx.Value(prehashedKey{}).(string)
	return ok && h != "" && h == pw
}
