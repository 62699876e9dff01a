package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// source is a set of images whose layers a Fetcher can stream.
type source struct {
	mu     sync.Mutex
	layers map[v1.Hash]v1.Layer
	calls  map[v1.Hash]int
}

func newSource() *source {
	return &source{layers: make(map[v1.Hash]v1.Layer), calls: make(map[v1.Hash]int)}
}

func (s *source) fetch(_ context.Context, d v1.Descriptor) (io.ReadCloser, error) {
	s.mu.Lock()
	s.calls[d.Digest]++
	l, ok := s.layers[d.Digest]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no layer %s in test source", d.Digest)
	}
	return l.Compressed()
}

// putImage stores img's manifest and config and reserves its layers.
func (s *source) putImage(t testing.TB, w *Writer, img v1.Image) v1.Descriptor {
	t.Helper()
	m, err := img.Manifest()
	must(t, err)
	cfg, err := img.RawConfigFile()
	must(t, err)
	_, err = w.Put(m.Config.MediaType, cfg)
	must(t, err)
	layers, err := img.Layers()
	must(t, err)
	for i, l := range layers {
		h, err := l.Digest()
		must(t, err)
		s.mu.Lock()
		s.layers[h] = l
		s.mu.Unlock()
		must(t, w.Reserve(m.Layers[i]))
	}
	raw, err := img.RawManifest()
	must(t, err)
	mt, err := img.MediaType()
	must(t, err)
	d, err := w.Put(mt, raw)
	must(t, err)
	return d
}

// putIndex stores an index and every image in it.
func (s *source) putIndex(t testing.TB, w *Writer, idx v1.ImageIndex) v1.Descriptor {
	t.Helper()
	im, err := idx.IndexManifest()
	must(t, err)
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		must(t, err)
		s.putImage(t, w, img)
	}
	raw, err := idx.RawManifest()
	must(t, err)
	d, err := w.Put(types.OCIImageIndex, raw)
	must(t, err)
	return d
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func randomImage(t testing.TB, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	must(t, err)
	return img
}

func withRef(d v1.Descriptor, ref string) v1.Descriptor {
	d.Annotations = map[string]string{AnnotationRefName: ref, AnnotationImageName: ref, AnnotationRole: RoleImage}
	return d
}

// tarEntry is one hand-built tar entry.
type tarEntry struct {
	hdr  tar.Header
	data []byte
}

func reg(name string, data []byte) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))}, data: data}
}

func dir(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

// buildTar writes entries with archive/tar, closing the archive.
func buildTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		must(t, tw.WriteHeader(&h))
		if len(e.data) > 0 {
			_, err := tw.Write(e.data)
			must(t, err)
		}
	}
	must(t, tw.Close())
	return buf.Bytes()
}

func writeFile(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bundle.tar")
	must(t, os.WriteFile(p, data, 0o644))
	return p
}

// extract unpacks a bundle written by this package (trusted, test only).
func extract(t testing.TB, path, dst string) {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		must(t, err)
		p := filepath.Join(dst, hdr.Name)
		if hdr.Typeflag == tar.TypeDir {
			must(t, os.MkdirAll(p, 0o755))
			continue
		}
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		data, err := io.ReadAll(tr)
		must(t, err)
		must(t, os.WriteFile(p, data, 0o644))
	}
}

// tarNames lists the entry names of a tar file.
func tarNames(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names
		}
		must(t, err)
		names = append(names, hdr.Name)
	}
}

// dirEntries lists a directory's names.
func dirEntries(t testing.TB, d string) []string {
	t.Helper()
	es, err := os.ReadDir(d)
	must(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
