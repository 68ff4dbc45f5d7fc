package realtime

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"testing"

	"roster/ent"
	"roster/internal/pubsub"
)

// TestEncodeObjectEvent: an event travels as its JSON when it fits in a
// message, compressed when only that fits, and else without its row (the
// receiver reads it); what travels decodes to the event sent.
func TestEncodeObjectEvent(t *testing.T) {
	t.Parallel()
	// A channel with settings of 4 × 2,000 characters (the most an EMAIL
	// channel takes): hexadecimal ones compress below the limit of a
	// message, random base64 ones do not.
	channel := func(encode func([]byte) string) json.RawMessage {
		settings := map[string]any{"address": "support@acme.test"}
		for _, k := range []string{"senderName", "imapHost", "smtpHost", "username"} {
			b := make([]byte, 1500)
			_, _ = rand.Read(b)
			settings[k] = encode(b)[:2000]
		}
		row, err := json.Marshal(&ent.Channel{ID: 7, Name: "Mailbox <support>", Settings: settings, Version: 3})
		if err != nil {
			t.Fatal(err)
		}
		return row
	}
	for _, tc := range []struct {
		name              string
		row               json.RawMessage
		compressed, large bool
	}{
		{name: "small", row: json.RawMessage(`{"id":7,"name":"Sales <EU>","version":2}`)},
		{name: "compressed", row: channel(hex.EncodeToString), compressed: true},
		{name: "large", row: channel(base64.StdEncoding.EncodeToString), large: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := objectEvent{Org: 1, ID: 7, Kind: ObjectUpdated, Version: 3, Row: tc.row, At: 1}
			payload, err := encodeObjectEvent(topicChannelChanges, ev)
			if err != nil {
				t.Fatal(err)
			}
			broker := pubsub.NewMemory()
			defer broker.Close()
			if err := broker.Publish(t.Context(), topicChannelChanges, payload); err != nil {
				t.Fatalf("the payload does not fit in a message: %v", err)
			}
			if gz := bytes.HasPrefix(payload, []byte{0x1f, 0x8b}); gz != tc.compressed {
				t.Errorf("compressed: %v, want %v", gz, tc.compressed)
			}
			got, err := decodeObjectEvent(payload)
			if err != nil {
				t.Fatal(err)
			}
			want := ev
			if tc.large {
				want.Row, want.Large = nil, true
			}
			if got.Large != want.Large || got.Org != want.Org || got.ID != want.ID || got.Kind != want.Kind || got.Version != want.Version ||
				got.At != want.At || !jsonEqual(t, got.Row, want.Row) {
				t.Errorf("decoded %+v, want %+v", got, want)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		t.Fatalf("not JSON: %s / %s", a, b)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}
