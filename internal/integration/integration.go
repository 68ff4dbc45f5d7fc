// Package integration describes the channel types the product integrates
// with: which settings each takes, in which format, and which credentials
// connecting it needs.
package integration

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"roster/internal/apierr"
	"roster/internal/phone"
)

// Kind is the format of a setting's value.
type Kind int

// The formats a setting can have.
const (
	Text Kind = iota
	Email
	Phone
	URL
	Handle
	Bool
)

// Setting describes one key of a channel type's settings.
type Setting struct {
	Key      string
	Kind     Kind
	Required bool
}

// Spec is what a channel type takes.
type Spec struct {
	Settings []Setting
	// Credentials lists the secret keys that must be present before the
	// channel can be connected.
	Credentials []string
}

// Specs maps each channel type (as named in the API) to what it takes.
var Specs = map[string]Spec{
	"WHATSAPP": {
		Settings:    []Setting{{"phoneNumber", Phone, true}, {"businessAccountId", Text, false}, {"phoneNumberId", Text, false}},
		Credentials: []string{"accessToken"},
	},
	"FACEBOOK": {
		Settings:    []Setting{{"pageId", Text, true}, {"pageName", Text, false}},
		Credentials: []string{"pageAccessToken"},
	},
	"INSTAGRAM": {
		Settings:    []Setting{{"accountId", Text, true}, {"username", Handle, false}},
		Credentials: []string{"accessToken"},
	},
	"EMAIL": {
		Settings: []Setting{
			{"address", Email, true}, {"senderName", Text, false},
			{"imapHost", Text, false}, {"smtpHost", Text, false}, {"username", Text, false},
		},
		Credentials: []string{"password"},
	},
	"TELEGRAM": {
		Settings:    []Setting{{"botUsername", Handle, true}},
		Credentials: []string{"botToken"},
	},
	"TWITTER": {
		Settings:    []Setting{{"handle", Handle, true}},
		Credentials: []string{"accessToken", "accessTokenSecret"},
	},
	"LINE": {
		Settings:    []Setting{{"channelId", Text, true}, {"basicId", Text, false}},
		Credentials: []string{"channelSecret", "channelAccessToken"},
	},
	"LIVECHAT": {
		Settings: []Setting{{"greeting", Text, false}, {"offlineMessage", Text, false}},
	},
	"WEBCHAT": {
		Settings: []Setting{{"websiteUrl", URL, true}, {"greeting", Text, false}, {"themeColor", Text, false}, {"showAgentAvatar", Bool, false}},
	},
	"CRM": {
		Settings:    []Setting{{"provider", Text, true}, {"baseUrl", URL, false}},
		Credentials: []string{"apiKey"},
	},
}

// MaxValueLength bounds every setting and credential value.
const MaxValueLength = 2048

var (
	handle = regexp.MustCompile(`^@?[A-Za-z0-9_.]{1,64}$`)
)

// HasPhone reports whether settings of a channel of type typ hold a phone
// number.
func HasPhone(typ string, settings map[string]any) bool {
	for _, s := range Specs[typ].Settings {
		if _, ok := settings[s.Key].(string); ok && s.Kind == Phone {
			return true
		}
	}
	return false
}

// NormalizePhones returns settings with the phone numbers of a channel of
// type typ read as people type them (in country when without a country
// code) into E.164; a number that cannot be read is left for
// ValidateSettings to refuse.
func NormalizePhones(typ string, settings map[string]any, country string) map[string]any {
	out := make(map[string]any, len(settings))
	for k, v := range settings {
		out[k] = v
	}
	for _, s := range Specs[typ].Settings {
		if v, ok := out[s.Key].(string); ok && s.Kind == Phone {
			if e164, err := phone.Normalize(v, country); err == nil {
				out[s.Key] = e164
			}
		}
	}
	return out
}

// ValidateSettings checks settings against the spec of channel type typ.
// Errors name the offending key as "settings.<key>".
func ValidateSettings(typ string, settings map[string]any) error {
	spec, ok := Specs[typ]
	if !ok {
		return apierr.Input("type", "unknown channel type %q", typ)
	}
	known := map[string]Setting{}
	for _, s := range spec.Settings {
		known[s.Key] = s
		v, present := settings[s.Key]
		if !present || v == nil {
			if s.Required {
				return apierr.Input("settings."+s.Key, "is required for %s channels", typ)
			}
			continue
		}
		if err := check(s, v); err != nil {
			return apierr.Input("settings."+s.Key, "%s", err)
		}
	}
	for _, k := range sortedKeys(settings) {
		if _, ok := known[k]; !ok {
			return apierr.Input("settings."+k, "is not a setting of %s channels (expected one of: %s)", typ, strings.Join(keysOf(spec.Settings), ", "))
		}
	}
	return nil
}

// ValidateCredentials checks that credentials holds only non-empty strings
// of bounded length.
func ValidateCredentials(credentials map[string]any) error {
	for _, k := range sortedKeys(credentials) {
		s, ok := credentials[k].(string)
		if !ok || strings.TrimSpace(s) == "" {
			return apierr.Input("credentials."+k, "must be a non-empty string")
		}
		if len(s) > MaxValueLength {
			return apierr.Input("credentials."+k, "must be at most %d bytes", MaxValueLength)
		}
	}
	return nil
}

// MissingCredentials returns the credential keys channel type typ needs to
// connect that credentials lacks.
func MissingCredentials(typ string, credentials map[string]any) []string {
	var missing []string
	for _, k := range Specs[typ].Credentials {
		if s, _ := credentials[k].(string); s == "" {
			missing = append(missing, k)
		}
	}
	return missing
}

func check(s Setting, v any) error {
	if s.Kind == Bool {
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("must be a boolean")
		}
		return nil
	}
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("must be a string")
	}
	if len(str) > MaxValueLength {
		return fmt.Errorf("must be at most %d bytes", MaxValueLength)
	}
	if strings.TrimSpace(str) == "" {
		if s.Required {
			return fmt.Errorf("must not be empty")
		}
		return nil
	}
	switch s.Kind {
	case Email:
		if a, err := mail.ParseAddress(str); err != nil || a.Address != str {
			return fmt.Errorf("must be an email address")
		}
	case Phone:
		if !phone.Valid(str) {
			return phone.ErrInvalid
		}
	case URL:
		if u, err := url.Parse(str); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("must be an http or https URL")
		}
	case Handle:
		if !handle.MatchString(str) {
			return fmt.Errorf("must be a handle of letters, digits, '_' and '.'")
		}
	}
	return nil
}

func keysOf(ss []Setting) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Key
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return slices.Clip(keys)
}
