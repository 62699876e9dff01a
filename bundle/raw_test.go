package bundle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
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

func TestVerifySome(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.tar")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := w.Put("application/octet-stream", []byte("first blob"))
	b, _ := w.Put("application/octet-stream", []byte("second blob"))
	m, _ := w.PutArtifact("application/x-test", []File{{Name: "a", Data: []byte("first blob")}, {Name: "b", Data: []byte("second blob")}}, nil)
	w.AddIndex(m)
	if err := w.Commit(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	// Change one byte of the second blob in place.
	data, _ := os.ReadFile(path)
	i := bytes.Index(data, []byte("second blob"))
	data[i] = 'S'
	os.WriteFile(path, data, 0o644)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.VerifySome(context.Background(), []v1.Hash{a.Digest}, nil); err != nil {
		t.Errorf("intact blob: %v", err)
	}
	if err := r.VerifySome(context.Background(), []v1.Hash{b.Digest}, nil); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("changed blob: %v", err)
	}
	if err := r.VerifySome(context.Background(), []v1.Hash{{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown blob: %v", err)
	}
}

// A Fetcher that says it retried already is not called again.
func TestFetchFinalNotRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.tar")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("layer")
	h, n, _ := v1.SHA256(bytes.NewReader(data))
	desc := v1.Descriptor{MediaType: "application/octet-stream", Size: n, Digest: h}
	if err := w.Reserve(desc); err != nil {
		t.Fatal(err)
	}
	m, _ := w.PutArtifact("application/x-test", nil, nil)
	w.AddIndex(m)
	calls := 0
	err = w.Commit(context.Background(), func(context.Context, v1.Descriptor) (io.ReadCloser, error) {
		calls++
		return nil, errors.New("registry said 500 four times")
	})
	if err == nil || calls != 1 {
		t.Fatalf("err = %v after %d calls, want an error after 1", err, calls)
	}
	if _, serr := os.Stat(path); serr == nil {
		t.Fatal("a failed commit left the bundle")
	}
}
