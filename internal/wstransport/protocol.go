package wstransport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

type protocol uint8

const (
	protoNone protocol = iota
	protoTransportWS
	protoLegacy
)

// Message types of both protocols.
const (
	msgConnectionInit      = "connection_init"
	msgConnectionAck       = "connection_ack"
	msgPing                = "ping"
	msgPong                = "pong"
	msgSubscribe           = "subscribe"
	msgNext                = "next"
	msgError               = "error"
	msgComplete            = "complete"
	msgStart               = "start"                // legacy subscribe
	msgData                = "data"                 // legacy next
	msgStop                = "stop"                 // legacy complete from the client
	msgConnectionError     = "connection_error"     // legacy
	msgConnectionTerminate = "connection_terminate" // legacy
	msgKeepAlive           = "ka"                   // legacy
)

// maxReason is the longest close reason a close frame can carry.
const maxReason = 123

// inMessage is a message from the client.
type inMessage struct {
	ID      *string         `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// subscribePayload is the payload of subscribe and start.
type subscribePayload struct {
	OperationName *string        `json:"operationName"`
	Query         *string        `json:"query"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

var errNotObject = errors.New("payload must be an object")

// isObjectOrNull reports whether a raw payload is absent, null or an object.
func isObjectOrNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null" || raw[0] == '{'
}

// parseSubscribe decodes a subscribe (or start) payload.
func parseSubscribe(raw json.RawMessage) (*graphql.RawParams, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errNotObject
	}
	var p subscribePayload
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decoding payload: %w", err)
	}
	if p.Query == nil {
		return nil, errors.New("payload.query must be a string")
	}
	params := &graphql.RawParams{
		Query:      *p.Query,
		Variables:  p.Variables,
		Extensions: p.Extensions,
	}
	if p.OperationName != nil {
		params.OperationName = *p.OperationName
	}
	return params, nil
}

// quote returns s as a JSON string.
func quote(s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// message builds a server message; id and payload are omitted when empty.
func message(typ, id string, payload []byte) []byte {
	b := make([]byte, 0, 32+len(id)+len(payload))
	b = append(b, '{')
	if id != "" {
		b = append(b, `"id":`...)
		b = append(b, quote(id)...)
		b = append(b, ',')
	}
	b = append(b, `"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if len(payload) > 0 {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	return append(b, '}')
}

// nextPrefix is the start of every result frame of operation id; the result
// payload and a closing brace complete it.
func nextPrefix(p protocol, id string) []byte {
	typ := msgNext
	if p == protoLegacy {
		typ = msgData
	}
	b := make([]byte, 0, 32+len(id))
	b = append(b, `{"id":`...)
	b = append(b, quote(id)...)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	return append(b, `","payload":`...)
}

// encodeResponse encodes one execution result as a next/data payload.
func encodeResponse(resp *graphql.Response) []byte {
	if len(resp.Errors) == 0 && resp.Label == "" && resp.Path == nil && resp.HasNext == nil && len(resp.Extensions) == 0 {
		// The common case: gqlgen's marshalers produce compact JSON, so
		// splice it as is instead of re-validating it through
		// encoding/json. The executor may reuse resp.Data, hence the copy.
		if len(resp.Data) == 0 {
			return []byte(`{"data":null}`)
		}
		b := make([]byte, 0, len(resp.Data)+10)
		b = append(b, `{"data":`...)
		b = append(b, resp.Data...)
		return append(b, '}')
	}
	b, err := json.Marshal(resp)
	if err != nil {
		b, _ = json.Marshal(&graphql.Response{Errors: gqlerror.List{
			{Message: "failed to encode the response: " + err.Error()},
		}})
	}
	return b
}

// encodeErrors encodes the payload of an error message.
func encodeErrors(errs gqlerror.List) []byte {
	if len(errs) == 0 {
		errs = gqlerror.List{{Message: "unknown error"}}
	}
	b, err := json.Marshal(errs)
	if err != nil {
		b, _ = json.Marshal(gqlerror.List{{Message: "failed to encode the errors: " + err.Error()}})
	}
	return b
}

// errorPayload encodes a legacy connection_error payload.
func errorPayload(msg string) []byte {
	b, _ := json.Marshal(&gqlerror.Error{Message: msg})
	return b
}

// truncate shortens a close reason to what a close frame can carry, on a
// UTF-8 boundary.
func truncate(s string) string {
	if len(s) <= maxReason {
		return s
	}
	s = s[:maxReason]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// validCloseCode reports whether code may be sent in a close frame.
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
