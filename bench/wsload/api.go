package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// apiClient calls roster's GraphQL API over HTTP.
type apiClient struct {
	url   string
	http  *http.Client
	token string
}

func newAPIClient(url string) *apiClient {
	return &apiClient{url: url, http: &http.Client{Timeout: time.Minute}}
}

// gqlError is an error of a GraphQL response.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) String() string {
	s := e.Message
	if c, ok := e.Extensions["code"]; ok {
		s = fmt.Sprintf("[%v] %s", c, s)
	}
	if len(e.Path) > 0 {
		s += fmt.Sprintf(" (at %v)", e.Path)
	}
	return s
}

// call runs a GraphQL operation named op with vars and decodes its data
// into out. Errors in the response are returned whole.
func (c *apiClient) call(ctx context.Context, op, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"operationName": op, "query": query, "variables": vars})
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", op, err)
	}
	return c.post(ctx, op, body, out)
}

// post sends an encoded GraphQL request and decodes its data into out.
func (c *apiClient) post(ctx context.Context, op string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: status %d, decode response: %w", op, resp.StatusCode, err)
	}
	if len(r.Errors) > 0 {
		msgs := make([]string, len(r.Errors))
		for i, e := range r.Errors {
			msgs[i] = e.String()
		}
		return fmt.Errorf("roster failed %s (status %d): %s", op, resp.StatusCode, strings.Join(msgs, "; "))
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", op, resp.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			return fmt.Errorf("%s: decode data: %w", op, err)
		}
	}
	return nil
}

// login logs in and keeps the token for the next calls.
func (c *apiClient) login(ctx context.Context, email, password string) error {
	var out struct {
		Login struct {
			Token string `json:"token"`
		} `json:"login"`
	}
	err := c.call(ctx, "Login", `mutation Login($i: LoginInput!) { login(input: $i) { token } }`,
		map[string]any{"i": map[string]any{"email": email, "password": password}}, &out)
	if err != nil {
		return err
	}
	if out.Login.Token == "" {
		return errors.New("login returned no token")
	}
	c.token = out.Login.Token
	return nil
}

// createAgent creates an ACTIVE user with the Agent role and the given
// email and password, and returns its ID.
func (c *apiClient) createAgent(ctx context.Context, email, password string) (string, error) {
	var roles struct {
		Roles struct {
			Edges []struct {
				Node struct {
					ID string `json:"id"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"roles"`
	}
	if err := c.call(ctx, "AgentRole", `query AgentRole { roles(where: {builtin: AGENT}) { edges { node { id } } } }`, nil, &roles); err != nil {
		return "", err
	}
	if len(roles.Roles.Edges) == 0 {
		return "", errors.New("the organization has no Agent role")
	}
	var out struct {
		CreateUser struct {
			ID string `json:"id"`
		} `json:"createUser"`
	}
	input := map[string]any{
		"firstName": "Status",
		"lastName":  "Changer",
		"email":     email,
		"password":  password,
		"roleID":    roles.Roles.Edges[0].Node.ID,
	}
	err := c.call(ctx, "CreateUser", `mutation CreateUser($i: CreateUserInput!) { createUser(input: $i) { id } }`,
		map[string]any{"i": input}, &out)
	if err != nil {
		return "", err
	}
	if out.CreateUser.ID == "" {
		return "", errors.New("createUser returned no id")
	}
	return out.CreateUser.ID, nil
}

// availabilityRequests are the encoded setMyAvailability mutations, made
// once so that the time from taking the timestamp to sending is short.
var availabilityRequests = [2][]byte{
	[]byte(`{"operationName":"SetAvailability","query":"mutation SetAvailability { setMyAvailability(availability: BUSY) { version } }"}`),
	[]byte(`{"operationName":"SetAvailability","query":"mutation SetAvailability { setMyAvailability(availability: AWAY) { version } }"}`),
}

// setAvailability sets the viewer's availability to BUSY when busy, else
// to AWAY, and returns when the request was sent and the user's version
// after the change.
func (c *apiClient) setAvailability(ctx context.Context, busy bool) (sent time.Time, version int, err error) {
	body := availabilityRequests[1]
	if busy {
		body = availabilityRequests[0]
	}
	var out struct {
		SetMyAvailability struct {
			Version int `json:"version"`
		} `json:"setMyAvailability"`
	}
	sent = time.Now()
	if err := c.post(ctx, "SetAvailability", body, &out); err != nil {
		return sent, 0, err
	}
	if out.SetMyAvailability.Version <= 0 {
		return sent, 0, errors.New("setMyAvailability returned no version")
	}
	return sent, out.SetMyAvailability.Version, nil
}
