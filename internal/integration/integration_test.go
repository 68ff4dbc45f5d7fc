package integration

import (
	"errors"
	"testing"

	"roster/internal/apierr"
)

func TestValidateSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ      string
		settings map[string]any
		field    string // the field of the expected error; "" for none
	}{
		{"EMAIL", map[string]any{"address": "support@example.com"}, ""},
		{"EMAIL", map[string]any{}, "settings.address"},
		{"EMAIL", map[string]any{"address": "Support <support@example.com>"}, "settings.address"},
		{"EMAIL", map[string]any{"address": "support@example.com", "colour": "red"}, "settings.colour"},
		{"WHATSAPP", map[string]any{"phoneNumber": "+6281234567890"}, ""},
		{"WHATSAPP", map[string]any{"phoneNumber": "081234567890"}, "settings.phoneNumber"},
		{"WHATSAPP", map[string]any{"phoneNumber": 6281234567890.0}, "settings.phoneNumber"},
		{"WEBCHAT", map[string]any{"websiteUrl": "https://shop.example.com", "showAgentAvatar": true}, ""},
		{"WEBCHAT", map[string]any{"websiteUrl": "javascript:alert(1)"}, "settings.websiteUrl"},
		{"WEBCHAT", map[string]any{"websiteUrl": "https://shop.example.com", "showAgentAvatar": "yes"}, "settings.showAgentAvatar"},
		{"TELEGRAM", map[string]any{"botUsername": "@roster_bot"}, ""},
		{"TELEGRAM", map[string]any{"botUsername": "not a handle"}, "settings.botUsername"},
		{"LIVECHAT", map[string]any{}, ""},
		{"LIVECHAT", nil, ""},
		{"CRM", map[string]any{"provider": "  "}, "settings.provider"},
		{"PIGEON", map[string]any{}, "type"},
	} {
		err := ValidateSettings(tc.typ, tc.settings)
		var e *apierr.Error
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s %v: unexpected error %v", tc.typ, tc.settings, err)
		case tc.field != "" && (!errors.As(err, &e) || e.Field != tc.field || e.Code != apierr.BadUserInput):
			t.Errorf("%s %v: error %v, want BAD_USER_INPUT on %s", tc.typ, tc.settings, err, tc.field)
		}
	}
}

func TestEveryTypeHasASpec(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"WHATSAPP", "FACEBOOK", "INSTAGRAM", "EMAIL", "TELEGRAM", "TWITTER", "LINE", "LIVECHAT", "WEBCHAT", "CRM"} {
		if _, ok := Specs[typ]; !ok {
			t.Errorf("no spec for %s", typ)
		}
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	if err := ValidateCredentials(map[string]any{"accessToken": "x"}); err != nil {
		t.Errorf("valid credentials refused: %v", err)
	}
	for _, bad := range []map[string]any{{"accessToken": ""}, {"accessToken": 5.0}, {"accessToken": nil}} {
		if err := ValidateCredentials(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if got := MissingCredentials("LINE", map[string]any{"channelSecret": "s"}); len(got) != 1 || got[0] != "channelAccessToken" {
		t.Errorf("missing LINE credentials = %v", got)
	}
	if got := MissingCredentials("LIVECHAT", nil); len(got) != 0 {
		t.Errorf("LIVECHAT needs no credentials, got %v", got)
	}
}
