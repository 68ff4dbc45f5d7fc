package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// seedWorkers is how many users are created at the same time.
const seedWorkers = 4

// divisionNames are the divisions created.
var divisionNames = []string{"Sales", "Support", "Billing", "Onboarding", "Partnerships"}

var firstNames = []string{"Ayu", "Budi", "Citra", "Dewi", "Eko", "Fajar", "Gita", "Hadi", "Indah", "Joko",
	"Kartika", "Lestari", "Made", "Nur", "Oka", "Putri", "Rizky", "Sari", "Tono", "Wulan"}

var lastNames = []string{"Santoso", "Wijaya", "Pratama", "Saputra", "Hidayat", "Nugroho", "Kusuma", "Halim",
	"Gunawan", "Setiawan", "Siregar", "Lubis", "Hutapea", "Tanjung", "Wibowo", "Susanto", "Purnama"}

// apiClient calls roster's GraphQL API.
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
	if f, ok := e.Extensions["field"]; ok {
		s += fmt.Sprintf(" (field %v)", f)
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

// seed creates the divisions and n users, spread over the organization's
// roles and over one to three divisions each. The users get no password,
// so they stay INVITED and their creation does not wait for password
// hashing.
func seed(ctx context.Context, c *apiClient, n int) error {
	divisions := make([]string, len(divisionNames))
	for i, name := range divisionNames {
		var out struct {
			CreateDivision struct {
				ID string `json:"id"`
			} `json:"createDivision"`
		}
		err := c.call(ctx, "CreateDivision", `mutation CreateDivision($i: CreateDivisionInput!) { createDivision(input: $i) { id } }`,
			map[string]any{"i": map[string]any{"name": name}}, &out)
		if err != nil {
			return err
		}
		divisions[i] = out.CreateDivision.ID
	}

	var roles struct {
		Roles struct {
			Edges []struct {
				Node struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"roles"`
	}
	if err := c.call(ctx, "Roles", `query Roles { roles { edges { node { id name } } } }`, nil, &roles); err != nil {
		return err
	}
	if len(roles.Roles.Edges) == 0 {
		return errors.New("the organization has no roles")
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range seedWorkers {
		wg.Go(func() {
			for i := range next {
				first, last := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]
				var ids []string
				for j := range 1 + i%3 {
					ids = append(ids, divisions[(i+j)%len(divisions)])
				}
				input := map[string]any{
					"firstName":   first,
					"lastName":    last,
					"email":       fmt.Sprintf("%s.%s.%d@bench.example.com", strings.ToLower(first), strings.ToLower(last), i),
					"roleID":      roles.Roles.Edges[i%len(roles.Roles.Edges)].Node.ID,
					"divisionIDs": ids,
				}
				err := c.call(ctx, "CreateUser", `mutation CreateUser($i: CreateUserInput!) { createUser(input: $i) { id } }`,
					map[string]any{"i": input}, nil)
				if err != nil {
					cancel(fmt.Errorf("create user %d: %w", i, err))
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
