package apierr_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/errcode"

	"roster/internal/apierr"
)

// root is the module's folder, from this package's.
const root = "../.."

// TestCodesAreDefinedHere fails when a hand-written Go file outside this
// package spells one of the codes, or something shaped like a new one, as
// a string literal: codes are named through this package only.
func TestCodesAreDefinedHere(t *testing.T) {
	t.Parallel()
	shaped := regexp.MustCompile(`^[A-Z]+(_[A-Z]+)+$`)
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "testdata", ".git", "data":
				return filepath.SkipDir
			}
			if path == filepath.Join(root, "internal", "apierr") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if generated(src) {
			return nil
		}
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			if apierr.Known(apierr.Code(s)) || (shaped.MatchString(s) && near(src, fset, lit)) {
				t.Errorf("%s: error code %q spelled outside internal/apierr", fset.Position(lit.Pos()), s)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func generated(src []byte) bool {
	head := src[:min(len(src), 400)]
	return regexp.MustCompile(`(?m)^// Code generated .* DO NOT EDIT\.$`).Match(head)
}

var codeTalk = regexp.MustCompile(`"code"|errcode|\bCode\b`)

// near reports whether the literal sits on a line that talks about codes
// (a "code" key, errcode, a Code value), where a new code would be made.
func near(src []byte, fset *token.FileSet, lit *ast.BasicLit) bool {
	line := fset.Position(lit.Pos()).Line
	lines := strings.Split(string(src), "\n")
	if line-1 >= len(lines) {
		return false
	}
	return codeTalk.MatchString(lines[line-1])
}

// TestREADMEListsEveryCode compares the README's error table with Codes.
func TestREADMEListsEveryCode(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Errors\n")
	if !ok {
		t.Fatal("README has no Errors section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var listed []apierr.Code
	row := regexp.MustCompile("(?m)^\\| (.*?) \\|")
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		for _, c := range regexp.MustCompile("`([A-Z_]+)`").FindAllStringSubmatch(m[1], -1) {
			listed = append(listed, apierr.Code(c[1]))
		}
	}
	for _, c := range apierr.Codes() {
		if !slices.Contains(listed, c) {
			t.Errorf("README's error table lacks %s", c)
		}
	}
	for _, c := range listed {
		if !apierr.Known(c) {
			t.Errorf("README's error table lists %s, which apierr does not define", c)
		}
	}
}

// TestGQLGenCodes checks the codes gqlgen sets itself are spelled as it
// does.
func TestGQLGenCodes(t *testing.T) {
	t.Parallel()
	if apierr.ParseFailed != errcode.ParseFailed || apierr.ValidationFailed != errcode.ValidationFailed {
		t.Errorf("gqlgen's codes are %s and %s", errcode.ParseFailed, errcode.ValidationFailed)
	}
}

func TestWriteHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		err        *apierr.Error
		body       string
		retryAfter string
	}{
		{"bad request", apierr.New(apierr.BadRequest, "send JSON"),
			`{"errors":[{"extensions":{"code":"BAD_REQUEST"},"message":"send JSON"}]}`, ""},
		{"field", apierr.Input("email", "is required"),
			`{"errors":[{"extensions":{"code":"BAD_USER_INPUT","field":"email"},"message":"email: is required"}]}`, ""},
		{"rate limited rounds up", &apierr.Error{Code: apierr.RateLimited, Message: "wait", RetryAfter: 1500 * time.Millisecond},
			`{"errors":[{"extensions":{"code":"RATE_LIMITED","retryAfter":2},"message":"wait"}]}`, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			apierr.WriteHTTP(w, http.StatusBadRequest, tc.err)
			if got := strings.TrimSpace(w.Body.String()); got != tc.body {
				t.Errorf("body = %s, want %s", got, tc.body)
			}
			if w.Code != http.StatusBadRequest || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
		})
	}
}
