package bundle

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestUnsafeRawBlob(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.tar")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.Put("application/octet-stream", []byte("raw bytes"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := w.PutArtifact("application/x-test", []File{{Name: "f", Data: []byte("raw bytes")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.AddIndex(m)
	if err := w.Commit(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("bundle mode %v (%v), want 0644", st.Mode(), err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rc, err := r.UnsafeRawBlob(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	if string(got) != "raw bytes" {
		t.Fatalf("got %q", got)
	}
	if _, err := r.UnsafeRawBlob(v1.Hash{Algorithm: "sha256", Hex: d.Digest.Hex[:63] + "0"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
}
