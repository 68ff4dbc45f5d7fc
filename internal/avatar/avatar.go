// Package avatar keeps the users' avatar images: an uploaded image is
// checked (a decodable JPEG, PNG, GIF or WebP of bounded size), cropped to
// a centred square, scaled to Size×Size, re-encoded as PNG and stored on
// local disk under the hash of its content, so that its URL never changes
// meaning and can be cached for good.
package avatar

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders of the accepted formats
	_ "image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"

	"roster/internal/apierr"
)

// Size is the side of a stored avatar, in pixels.
const Size = 256

// maxPixels bounds the pixels of an accepted image, so that a small file
// that decodes to a huge image is refused before it is decoded.
const maxPixels = 50_000_000

// Path is where the server serves avatars: Path + name.
const Path = "/avatars/"

var validName = regexp.MustCompile(`^[0-9a-f]{64}\.png$`)

// Store keeps avatars in Dir.
type Store struct {
	// Dir is the directory of the files; it is created when missing.
	Dir string
	// MaxBytes is the largest upload accepted.
	MaxBytes int64
	// BaseURL is the server's public URL, which avatar URLs start with.
	BaseURL string
}

// Save checks, re-encodes and stores the image read from r and returns its
// URL. An upload that is too large or not an image is a BAD_USER_INPUT
// error on field.
func (s *Store) Save(r io.Reader, field string) (string, error) {
	raw, err := io.ReadAll(io.LimitReader(r, s.MaxBytes+1))
	if err != nil {
		return "", fmt.Errorf("read upload: %w", err)
	}
	if int64(len(raw)) > s.MaxBytes {
		return "", apierr.Input(field, "the image is larger than %d bytes", s.MaxBytes)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return "", apierr.Input(field, "not an image: send a JPEG, PNG, GIF or WebP file")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return "", apierr.Input(field, "the image must have at most %d pixels", maxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return "", apierr.Input(field, "not an image: send a JPEG, PNG, GIF or WebP file")
	}
	out, err := encode(Thumbnail(img))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(out)
	name := hex.EncodeToString(sum[:]) + ".png"
	if err := s.write(name, out); err != nil {
		return "", err
	}
	return strings.TrimRight(s.BaseURL, "/") + Path + name, nil
}

// Thumbnail crops img to its centred square and scales it to Size×Size.
func Thumbnail(img image.Image) *image.RGBA {
	b := img.Bounds()
	side := min(b.Dx(), b.Dy())
	x0 := b.Min.X + (b.Dx()-side)/2
	y0 := b.Min.Y + (b.Dy()-side)/2
	dst := image.NewRGBA(image.Rect(0, 0, Size, Size))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, image.Rect(x0, y0, x0+side, y0+side), draw.Src, nil)
	return dst
}

func encode(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode avatar: %w", err)
	}
	return buf.Bytes(), nil
}

// write stores data as name, atomically; an existing file of that name
// already holds the same bytes.
func (s *Store) write(name string, data []byte) error {
	path := filepath.Join(s.Dir, name)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("avatar directory: %w", err)
	}
	tmp, err := os.CreateTemp(s.Dir, ".upload-*")
	if err != nil {
		return fmt.Errorf("store avatar: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("store avatar: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store avatar: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("store avatar: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}

// ServeHTTP serves the avatar named by the request's path under Path, as
// an immutable PNG: its name is the hash of its content.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Path)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !validName.MatchString(name) {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(s.Dir, name))
	if errors.Is(err, os.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "avatar unavailable", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.Error(w, "avatar unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	http.ServeContent(w, r, "", st.ModTime(), f)
}
