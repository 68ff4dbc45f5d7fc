package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"roster/internal/fixture"
)

// TestApolloUploadClient uploads an avatar the way a web app does, with
// the npm apollo-upload-client (Apollo Client's UploadHttpLink and a
// GraphQL multipart request), and checks that the thumbnail is served.
func TestApolloUploadClient(t *testing.T) {
	t.Parallel()
	srv, w := startWorld(t, fixture.SQLiteURL(t), []string{"Acme", "Globex"}, "ROSTER_AVATAR_DIR", t.TempDir())
	acme, globex := w.Orgs[0], w.Orgs[1]
	file := filepath.Join(t.TempDir(), "me.png")
	if err := os.WriteFile(file, testImage(120, 80), 0o600); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join(jsClientDir, "upload.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	avatar := regexp.MustCompile(`/avatars/[0-9a-f]{64}\.png$`)

	t.Run("own avatar", func(t *testing.T) {
		out := runNode(t, script, srv.url+"/graphql", acme.Agent.Token,
			`mutation($file: Upload!) { uploadMyAvatar(file: $file) { id avatarURL } }`, file)
		if len(out) != 1 || out[0]["event"] != "result" {
			t.Fatalf("client printed %v", out)
		}
		if errs, _ := out[0]["errors"].([]any); len(errs) > 0 {
			t.Fatalf("errors: %v", errs)
		}
		data, _ := out[0]["data"].(map[string]any)
		got, _ := data["uploadMyAvatar"].(map[string]any)
		u, _ := got["avatarURL"].(string)
		if !avatar.MatchString(u) {
			t.Fatalf("avatarURL = %q", u)
		}
		resp, err := http.Get(srv.url + avatar.FindString(u))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("GET %s: %s %s", u, resp.Status, resp.Header.Get("Content-Type"))
		}
	})

	t.Run("another organization's user", func(t *testing.T) {
		out := runNode(t, script, srv.url+"/graphql", acme.Admin.Token,
			`mutation($file: Upload!) { uploadUserAvatar(id: "`+strconv.Itoa(globex.Agent.ID)+`", file: $file) { id avatarURL } }`, file)
		if len(out) != 1 || out[0]["event"] != "result" {
			t.Fatalf("client printed %v", out)
		}
		errs, _ := out[0]["errors"].([]any)
		if len(errs) != 1 || !strings.Contains(fmt.Sprint(errs[0]), "not found") {
			t.Fatalf("uploading another organization's user's avatar: want not found, got %v", out[0])
		}
		var after struct {
			Me struct{ AvatarURL *string }
		}
		srv.as(globex.Agent).do(t, `{ me { avatarURL } }`, nil).decode(t, &after)
		if after.Me.AvatarURL != nil {
			t.Fatalf("Globex's agent got an avatar: %s", *after.Me.AvatarURL)
		}
	})
}
