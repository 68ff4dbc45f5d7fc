package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"roster/internal/fixture"
)

var resetLink = regexp.MustCompile(`reset-password\?token=(\S+)`)

const (
	requestReset = `mutation($e: String!) { requestPasswordReset(email: $e) }`
	resetMut     = `mutation($t: String!, $p: String!) { resetPassword(token: $t, password: $p) }`
)

// rawDo posts an operation and returns the raw response body.
func (c *client) rawDo(t testing.TB, query string, variables vars) []byte {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": variables})
	req, _ := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return raw
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"}, "ROSTER_PUBLIC_URL", "https://app.example.com")
		acme, globex := w.Orgs[0], w.Orgs[1]
		box := &outbox{client: w.Client}
		anon := srv.client("")
		agent := acme.Agent
		laptop := srv.login(t, agent.Email, fixture.Password)

		// The same answer, byte for byte, whether the email has an account
		// or not.
		known := anon.rawDo(t, requestReset, vars{"e": strings.ToUpper(agent.Email)})
		unknown := anon.rawDo(t, requestReset, vars{"e": "nobody@acme.test"})
		if !bytes.Equal(known, unknown) || !bytes.Contains(known, []byte(`"requestPasswordReset":true`)) {
			t.Fatalf("known email answered %s, unknown %s", known, unknown)
		}
		anon.do(t, requestReset, vars{"e": "not an email"}).wantError(t, "BAD_USER_INPUT", "email")
		box.last(t, "nobody@acme.test", regexp.MustCompile(`(has none here)`))
		token, err := url.QueryUnescape(box.last(t, agent.Email, resetLink))
		if err != nil {
			t.Fatal(err)
		}

		anon.do(t, resetMut, vars{"t": token, "p": "short"}).wantError(t, "BAD_USER_INPUT", "password")
		anon.do(t, resetMut, vars{"t": "rst_not-a-reset-link", "p": "a brand new passphrase"}).wantError(t, "BAD_USER_INPUT", "token")
		var ok struct{ ResetPassword bool }
		anon.do(t, resetMut, vars{"t": token, "p": "a brand new passphrase"}).decode(t, &ok)
		if !ok.ResetPassword {
			t.Fatal("resetPassword answered false")
		}
		// Single use.
		anon.do(t, resetMut, vars{"t": token, "p": "yet another passphrase"}).wantError(t, "BAD_USER_INPUT", "token")
		// Every session of the user ended; another organization's users
		// keep theirs.
		for name, c := range map[string]*client{"fixture session": srv.as(agent), "laptop": laptop} {
			if r := c.do(t, `{ me { id } }`, nil); len(r.Errors) == 0 || r.Errors[0].Extensions.Code != "UNAUTHENTICATED" {
				t.Errorf("%s still works after the reset: %s", name, r.Data)
			}
		}
		mustMe(t, srv.as(globex.Agent))
		mustMe(t, srv.as(acme.Admin))
		anon.do(t, loginMutation, vars{"i": vars{"email": agent.Email, "password": fixture.Password}}).wantError(t, "UNAUTHENTICATED", "")
		srv.login(t, agent.Email, "a brand new passphrase")

		// The mail goes out (to the log, without SMTP), without its token.
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(srv.logs.String(), "Reset your password"); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the reset mail never reached the log")
			}
		}
		if logs := srv.logs.String(); strings.Contains(logs, token) || strings.Contains(logs, url.QueryEscape(token)) {
			t.Error("the log holds the reset token")
		}

		// Per email: 3 requests an hour, then refused, known or not.
		for _, email := range []string{acme.Supervisor.Email, "ghost@acme.test"} {
			var codes []string
			for range 4 {
				r := anon.do(t, requestReset, vars{"e": email})
				if len(r.Errors) > 0 {
					codes = append(codes, r.Errors[0].Extensions.Code)
				} else {
					codes = append(codes, "ok")
				}
			}
			if got := strings.Join(codes, ","); got != "ok,ok,ok,RATE_LIMITED" {
				t.Errorf("requests for %s: %s", email, got)
			}
		}
	})
}

func TestUpdateMe(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		for name, c := range transports(t, srv, srv.as(acme.Agent)) {
			t.Run(name, func(t *testing.T) {
				var got struct {
					UpdateMe struct {
						DisplayName, FirstName string
						Phone                  *string
					}
				}
				c.do(t, `mutation { updateMe(input: {displayName: "Ag `+name+`", firstName: "Agnes", phone: "+62 812-3456-7890"}) { displayName firstName phone } }`, nil).decode(t, &got)
				if got.UpdateMe.DisplayName != "Ag "+name || got.UpdateMe.FirstName != "Agnes" || got.UpdateMe.Phone == nil || *got.UpdateMe.Phone != "+6281234567890" {
					t.Errorf("after updateMe: %+v", got.UpdateMe)
				}
				c.do(t, `mutation { updateMe(input: {phone: null}) { phone } }`, nil).decode(t, &got)
				if got.UpdateMe.Phone != nil {
					t.Errorf("phone not removed: %v", *got.UpdateMe.Phone)
				}
				c.do(t, `mutation { updateMe(input: {phone: "call me"}) { phone } }`, nil).wantError(t, "BAD_USER_INPUT", "phone")
				c.do(t, `mutation { updateMe(input: {displayName: null}) { id } }`, nil).wantError(t, "BAD_USER_INPUT", "displayName")
				// Not role, status or divisions: updateMe has no such
				// fields, and updateUser refuses them to users about
				// themselves.
				c.do(t, `mutation { updateMe(input: {roleID: "1"}) { id } }`, nil).wantError(t, "GRAPHQL_VALIDATION_FAILED", "")
				me := strconv.Itoa(acme.Agent.ID)
				for _, in := range []string{
					`{roleID: "` + strconv.Itoa(acme.Roles["ADMIN"]) + `"}`,
					`{divisionIDs: []}`,
					`{clearDivisions: true}`,
					`{email: "agent.new@acme.test"}`,
				} {
					r := c.do(t, `mutation { updateUser(id: "`+me+`", input: `+in+`) { id } }`, nil)
					if len(r.Errors) == 0 || r.Errors[0].Extensions.Code != "FORBIDDEN" {
						t.Errorf("updateUser of self with %s: %s %+v", in, r.Data, r.Errors)
					}
				}
			})
		}
		// Another organization's user is untouched, and the anonymous
		// cannot call it.
		var g struct{ Me struct{ DisplayName string } }
		srv.as(globex.Agent).do(t, `{ me { displayName } }`, nil).decode(t, &g)
		if strings.HasPrefix(g.Me.DisplayName, "Ag ") {
			t.Errorf("globex's agent changed: %s", g.Me.DisplayName)
		}
		srv.client("").do(t, `mutation { updateMe(input: {displayName: "X"}) { id } }`, nil).wantError(t, "UNAUTHENTICATED", "")
	})
}

func TestUpdateOrganization(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"})
		acme, globex := w.Orgs[0], w.Orgs[1]
		const mut = `mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { id name timeZone } }`
		for name, c := range transports(t, srv, srv.as(acme.Admin)) {
			var got struct {
				UpdateOrganization struct{ ID, Name, TimeZone string }
			}
			c.do(t, mut, vars{"i": vars{"name": "Acme " + name, "timeZone": "Asia/Jakarta"}}).decode(t, &got)
			if got.UpdateOrganization.Name != "Acme "+name || got.UpdateOrganization.TimeZone != "Asia/Jakarta" {
				t.Errorf("%s: %+v", name, got.UpdateOrganization)
			}
			for _, tz := range []string{"Mars/Olympus_Mons", "Local", "", "../../etc/passwd"} {
				c.do(t, mut, vars{"i": vars{"timeZone": tz}}).wantError(t, "BAD_USER_INPUT", "timeZone")
			}
			c.do(t, mut, vars{"i": vars{"name": ""}}).wantError(t, "BAD_USER_INPUT", "name")
		}
		for _, u := range []*fixture.User{acme.Supervisor, acme.Agent, globex.Agent} {
			srv.as(u).do(t, mut, vars{"i": vars{"name": "Taken over"}}).wantError(t, "FORBIDDEN", "")
		}
		srv.client("").do(t, mut, vars{"i": vars{"name": "Taken over"}}).wantError(t, "UNAUTHENTICATED", "")
		// Globex's admin renames Globex only.
		var g struct{ UpdateOrganization struct{ ID string } }
		srv.as(globex.Admin).do(t, mut, vars{"i": vars{"name": "Globex Two"}}).decode(t, &g)
		var a struct {
			Organization struct{ Name, TimeZone string }
		}
		srv.as(acme.Agent).do(t, `{ organization { name timeZone } }`, nil).decode(t, &a)
		if a.Organization.Name != "Acme websocket" && a.Organization.Name != "Acme http" || a.Organization.TimeZone != "Asia/Jakarta" {
			t.Errorf("acme after globex's rename: %+v", a.Organization)
		}
	})
}

// upload sends a GraphQL multipart request (one file, as variable $file)
// and returns the response; preflight adds the header that makes browsers
// send a CORS preflight.
func (c *client) upload(t testing.TB, query string, variables vars, file []byte, preflight bool) (*response, int) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if variables == nil {
		variables = vars{}
	}
	variables["file"] = nil
	ops, _ := json.Marshal(map[string]any{"query": query, "variables": variables})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0": ["variables.file"]}`)
	fw, _ := mw.CreateFormFile("0", "avatar.bin")
	_, _ = fw.Write(file)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.url, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if preflight {
		req.Header.Set("GraphQL-Preflight", "1")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r response
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("decode %s (%s): %v", raw, resp.Status, err)
	}
	return &r, resp.StatusCode
}

// testImage returns a w×h PNG: red on the left half, blue on the right.
func testImage(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{255, 0, 0, 255}
			if x >= w/2 {
				c = color.RGBA{0, 0, 255, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

func TestAvatarUpload(t *testing.T) {
	t.Parallel()
	fixture.ForEachDB(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		srv, w := startWorld(t, dbURL, []string{"Acme", "Globex"}, "ROSTER_AVATAR_DIR", dir, "ROSTER_AVATAR_MAX_BYTES", "65536", "ROSTER_PUBLIC_URL", "https://app.example.com")
		acme, globex := w.Orgs[0], w.Orgs[1]
		agent := srv.as(acme.Agent)
		const mine = `mutation($file: Upload!) { uploadMyAvatar(file: $file) { id avatarURL } }`

		var got struct {
			UploadMyAvatar struct{ ID, AvatarURL string }
		}
		r, _ := agent.upload(t, mine, nil, testImage(300, 200), true)
		r.decode(t, &got)
		name, ok := strings.CutPrefix(got.UploadMyAvatar.AvatarURL, "https://app.example.com/avatars/")
		if !ok || !regexp.MustCompile(`^[0-9a-f]{64}\.png$`).MatchString(name) {
			t.Fatalf("avatarURL = %q", got.UploadMyAvatar.AvatarURL)
		}
		resp, err := http.Get(srv.url + "/avatars/" + name)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET avatar: %s %v", resp.Status, resp.Header)
		}
		img, err := png.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		// A centred square of a 300×200 image, half red and half blue:
		// red on the left, blue on the right, 256×256.
		if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
			t.Errorf("thumbnail is %v", b)
		}
		if r, _, b, _ := img.At(10, 128).RGBA(); r>>8 < 200 || b>>8 > 50 {
			t.Errorf("left of the thumbnail is not red")
		}
		if r, _, b, _ := img.At(245, 128).RGBA(); b>>8 < 200 || r>>8 > 50 {
			t.Errorf("right of the thumbnail is not blue")
		}
		for _, bad := range []string{"../" + name, "x.png", strings.ToUpper(name)} {
			if resp, err := http.Get(srv.url + "/avatars/" + bad); err == nil {
				resp.Body.Close()
				if resp.StatusCode != 404 {
					t.Errorf("GET /avatars/%s: %s", bad, resp.Status)
				}
			}
		}

		cases := []struct {
			name string
			file []byte
		}{
			{"not an image", []byte("<html><script>alert(1)</script></html>")},
			{"a truncated PNG", testImage(40, 40)[:60]},
			{"over the size limit", append(testImage(10, 10), make([]byte, 70000)...)},
		}
		for _, tc := range cases {
			r, _ := agent.upload(t, mine, nil, tc.file, true)
			r.wantError(t, "BAD_USER_INPUT", "file")
		}
		// A multipart request without the preflight header is refused
		// before anything runs: a form of another site could send it.
		if r, status := agent.upload(t, mine, nil, testImage(20, 20), false); status != http.StatusBadRequest || len(r.Errors) == 0 {
			t.Errorf("upload without preflight header: %d %+v", status, r.Errors)
		}
		// Others' avatars: MANAGE_USERS, in the viewer's organization.
		const theirs = `mutation($id: ID!, $file: Upload!) { uploadUserAvatar(id: $id, file: $file) { id avatarURL } }`
		r, _ = agent.upload(t, theirs, vars{"id": strconv.Itoa(acme.Supervisor.ID)}, testImage(20, 20), true)
		r.wantError(t, "FORBIDDEN", "")
		r, _ = srv.as(acme.Admin).upload(t, theirs, vars{"id": strconv.Itoa(globex.Agent.ID)}, testImage(20, 20), true)
		r.wantError(t, "NOT_FOUND", "")
		var their struct{ UploadUserAvatar struct{ AvatarURL string } }
		r, _ = srv.as(acme.Admin).upload(t, theirs, vars{"id": strconv.Itoa(acme.Supervisor.ID)}, testImage(64, 64), true)
		r.decode(t, &their)
		if their.UploadUserAvatar.AvatarURL == "" || their.UploadUserAvatar.AvatarURL == got.UploadMyAvatar.AvatarURL {
			t.Errorf("supervisor's avatar: %q", their.UploadUserAvatar.AvatarURL)
		}
	})
}

func TestPageOfMailLinks(t *testing.T) {
	t.Parallel()
	srv := startServer(t, fixture.SQLiteURL(t))
	for _, path := range []string{"/accept-invitation?token=rst_x", "/reset-password?token=rst_x", "/account/account.js"} {
		resp, err := http.Get(srv.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s: %s %v", path, resp.Status, resp.Header)
		}
		if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
			t.Errorf("%s loads something from elsewhere", path)
		}
	}
}
