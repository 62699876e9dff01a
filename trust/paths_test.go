package trust

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func TestTargetPath(t *testing.T) {
	data := []byte("x")
	both, _ := metadata.TargetFile().FromBytes("dir/a.json", data, "sha512", "sha256")
	only512, _ := metadata.TargetFile().FromBytes("a.json", data, "sha512")
	none := &metadata.TargetFiles{Path: "a.json", Length: 1}
	tests := []struct {
		tf         *metadata.TargetFiles
		consistent bool
		want       string
		err        error
	}{
		{both, true, "targets/dir/2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881.a.json", nil},
		{both, false, "targets/dir/a.json", nil},
		{only512, true, "targets/" + only512.Hashes["sha512"].String() + ".a.json", nil},
		{none, true, "", ErrVerification},
	}
	for _, tt := range tests {
		got, err := targetPath(tt.tf, tt.consistent)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("targetPath(%s, %v) = %q, %v; want %q, %v", tt.tf.Path, tt.consistent, got, err, tt.want, tt.err)
		}
	}
	for _, bad := range []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", `a\b`, "a\x00b"} {
		if err := checkTargetName(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("checkTargetName(%q) = %v", bad, err)
		}
		tf := &metadata.TargetFiles{Path: bad, Hashes: both.Hashes}
		if _, err := targetPath(tf, true); !errors.Is(err, ErrInvalid) {
			t.Errorf("targetPath(%q) = %v", bad, err)
		}
	}
}

func TestDirFiles(t *testing.T) {
	d := t.TempDir()
	os.MkdirAll(filepath.Join(d, "metadata"), 0o700)
	os.WriteFile(filepath.Join(d, "metadata", "timestamp.json"), []byte("12345"), 0o600)
	os.Symlink("/etc/passwd", filepath.Join(d, "metadata", "1.root.json"))
	f := DirFiles(d)
	if b, err := f.ReadFile("metadata/timestamp.json", 5); err != nil || string(b) != "12345" {
		t.Errorf("read: %q %v", b, err)
	}
	for _, tc := range []struct {
		p    string
		max  int64
		want error
	}{
		{"metadata/timestamp.json", 4, ErrTooLarge},
		{"metadata/none.json", 10, ErrNotFound},
		{"../etc/passwd", 10, ErrInvalid},
		{"/etc/passwd", 10, ErrInvalid},
	} {
		if _, err := f.ReadFile(tc.p, tc.max); !errors.Is(err, tc.want) {
			t.Errorf("ReadFile(%s, %d) = %v, want %v", tc.p, tc.max, err, tc.want)
		}
	}
	// A symlink out of the directory is not followed.
	if b, err := f.ReadFile("metadata/1.root.json", 1<<20); err == nil {
		t.Errorf("followed a symlink out of the tree: %d bytes", len(b))
	}
}

// The library is silent unless given a logger.
func TestLogger(t *testing.T) {
	offline(t)
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := OpenStore(t.TempDir(), WithStoreLogger(l))
	if err != nil {
		t.Fatal(err)
	}
	r := newRepo(t, t0)
	r.pin(t, s, "corp")
	accept(t, s, r.bundle(), t0)
	if !strings.Contains(buf.String(), "TUF source matched pin") {
		t.Errorf("log = %q", buf.String())
	}
	var other bytes.Buffer
	ol := slog.New(slog.NewTextHandler(&other, &slog.HandlerOptions{Level: slog.LevelDebug}))
	buf.Reset()
	if _, err := s.Verify(r.bundle(), TimePolicy{Now: t0}, false, WithVerifyLogger(ol)); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 || !strings.Contains(other.String(), "pin=corp") {
		t.Errorf("per-call logger: store log %q, call log %q", buf.String(), other.String())
	}
}
