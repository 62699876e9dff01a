package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// writeSet writes the same small bundle (three images, ~60 KiB) plain or
// split into dir/name.
func writeSet(t *testing.T, path string, fetch Fetcher, src *source, opts ...WriterOption) error {
	t.Helper()
	w, err := Create(path, opts...)
	must(t, err)
	defer w.Abort()
	for i, seed := range []int64{11, 12, 13} {
		_ = seed
		img := seededImage(t, int64(i))
		w.AddIndex(withRef(src.putImage(t, w, img), fmt.Sprintf("localhost:5000/img%d:v1", i)))
	}
	if fetch == nil {
		fetch = src.fetch
	}
	return w.Commit(context.Background(), fetch)
}

// seededImage returns the same image for the same n within one test
// process (random images are cached by n).
var seeded = map[int64]v1.Image{}

func seededImage(t *testing.T, n int64) v1.Image {
	if img, ok := seeded[n]; ok {
		return img
	}
	img, err := random.Image(7000, 3)
	must(t, err)
	seeded[n] = img
	return img
}

func readAllParts(t *testing.T, path string) []byte {
	t.Helper()
	names, err := filepath.Glob(path + ".[0-9][0-9][0-9]")
	must(t, err)
	slices.Sort(names)
	var all []byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		must(t, err)
		all = append(all, b...)
	}
	return all
}

func TestSplitConcatenatesToPlainTar(t *testing.T) {
	dir := t.TempDir()
	src := newSource()
	plain := filepath.Join(dir, "plain.tar")
	must(t, writeSet(t, plain, nil, src))
	split := filepath.Join(dir, "split.tar")
	must(t, writeSet(t, split, nil, src, WithSplit(MinPartSize*2, 2)))

	want, err := os.ReadFile(plain)
	must(t, err)
	if got := readAllParts(t, split); !bytes.Equal(got, want) {
		t.Fatalf("the data parts concatenate to %d bytes that differ from the plain tar (%d bytes)", len(got), len(want))
	}
	if _, err := os.Stat(split); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a split export left a plain file at %s: %v", split, err)
	}
	for _, p := range []string{split + ".p00", split + ".p01", PartsPath(split)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	// Open reads the parts in place and verifies everything.
	r, err := Open(split)
	must(t, err)
	defer r.Close()
	st := r.Parts()
	if st == nil || st.DataParts < 3 || st.ParityParts != 2 || len(st.Damaged) != 0 || len(st.Repaired) != 0 {
		t.Fatalf("parts status %+v", st)
	}
	must(t, r.VerifyBlobs(context.Background(), nil))
	if _, err := r.Graph(); err != nil {
		t.Fatal(err)
	}
}

func TestSplitRepairAndRefusal(t *testing.T) {
	dir := t.TempDir()
	src := newSource()
	path := filepath.Join(dir, "b.tar")
	must(t, writeSet(t, path, nil, src, WithSplit(MinPartSize*2, 2)))
	orig := readAllParts(t, path)

	corrupt := func(name string) {
		b, err := os.ReadFile(name)
		must(t, err)
		b[len(b)/2] ^= 0xff
		must(t, os.WriteFile(name, b, 0o644))
	}
	// One part lost, one corrupted: two parity parts rebuild both.
	must(t, os.Remove(path+".001"))
	corrupt(path + ".003")
	r, err := Open(path)
	must(t, err)
	st := r.Parts()
	if !slices.Equal(st.Repaired, []string{"b.tar.001", "b.tar.003"}) || len(st.Damaged) != 2 {
		t.Fatalf("repaired %v, damaged %+v; want b.tar.001 and b.tar.003", st.Repaired, st.Damaged)
	}
	must(t, r.VerifyBlobs(context.Background(), nil))
	got, err := io.ReadAll(io.NewSectionReader(r.f, 0, r.size))
	must(t, err)
	if !bytes.Equal(got, orig) {
		t.Fatal("the repaired archive differs from the original")
	}
	must(t, r.Close())

	// Only a parity part damaged: nothing to rebuild, reported.
	dir2 := t.TempDir()
	path2 := filepath.Join(dir2, "c.tar")
	must(t, writeSet(t, path2, nil, src, WithSplit(MinPartSize*2, 1)))
	must(t, os.Remove(path2+".p00"))
	r2, err := Open(path2)
	must(t, err)
	if st := r2.Parts(); len(st.Damaged) != 1 || st.Damaged[0].Name != "c.tar.p00" || len(st.Repaired) != 0 {
		t.Errorf("parity part lost: status %+v", st)
	}
	must(t, r2.VerifyBlobs(context.Background(), nil))
	r2.Close()

	// A third damaged part (a parity part) is more than parity can rebuild:
	// refused, naming every damaged part.
	corrupt(path + ".p00")
	_, err = Open(path)
	if !errors.Is(err, ErrPartsDamaged) || !errors.Is(err, ErrInvalidBundle) {
		t.Fatalf("Open with 3 damaged parts and 2 parity: %v, want ErrPartsDamaged", err)
	}
	for _, n := range []string{"b.tar.001 (missing)", "b.tar.003", "b.tar.p00"} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error does not name %s: %v", n, err)
		}
	}
}

func TestSplitWithoutParityRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	src := newSource()
	path := filepath.Join(dir, "b.tar")
	must(t, writeSet(t, path, nil, src, WithSplit(MinPartSize*4, 0)))
	must(t, os.Truncate(path+".000", 100))
	if _, err := Open(path); !errors.Is(err, ErrPartsDamaged) || !strings.Contains(err.Error(), "b.tar.000 (100 bytes") {
		t.Fatalf("Open with a truncated part and no parity: %v", err)
	}
}

func TestSplitTamperedManifest(t *testing.T) {
	dir := t.TempDir()
	src := newSource()
	path := filepath.Join(dir, "b.tar")
	must(t, writeSet(t, path, nil, src, WithSplit(MinPartSize*2, 1)))
	raw, err := os.ReadFile(PartsPath(path))
	must(t, err)
	var good Parts
	must(t, json.Unmarshal(raw, &good))

	for _, tc := range []struct {
		name   string
		change func(p *Parts)
		want   error
	}{
		{"whole digest", func(p *Parts) { p.Digest = good.Data[0].Digest }, ErrPartsManifest},
		{"part digest (parity rebuilds the true part, which disagrees)", func(p *Parts) { p.Data[1].Digest = good.Data[0].Digest }, ErrPartsDamaged},
		{"part name escapes", func(p *Parts) { p.Data[0].Name = "../b.tar.000" }, ErrPartsManifest},
		{"parts reordered", func(p *Parts) { p.Data[0], p.Data[1] = p.Data[1], p.Data[0] }, ErrPartsManifest},
		{"size", func(p *Parts) { p.Size += 512 }, ErrPartsManifest},
		{"parity algorithm", func(p *Parts) { p.Parity.Algorithm = "xor" }, ErrPartsManifest},
		{"unknown field", nil, ErrPartsManifest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Parts
			must(t, json.Unmarshal(raw, &p))
			var b []byte
			if tc.change != nil {
				tc.change(&p)
				b, err = json.Marshal(p)
				must(t, err)
			} else {
				b = bytes.Replace(raw, []byte(`{"schemaVersion"`), []byte(`{"extra":1,"schemaVersion"`), 1)
			}
			must(t, os.WriteFile(PartsPath(path), b, 0o644))
			if _, err := Open(path); !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
		})
	}
}

// failOn is a Fetcher that fails for good on one blob.
func failOn(src *source, bad v1.Hash) Fetcher {
	return func(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
		if d.Digest == bad {
			return nil, errors.New("link down")
		}
		return src.fetch(ctx, d)
	}
}

func TestSplitResume(t *testing.T) {
	dir := t.TempDir()
	src := newSource()
	path := filepath.Join(dir, "b.tar")
	plain := filepath.Join(dir, "plain.tar")
	must(t, writeSet(t, plain, nil, src))
	want, err := os.ReadFile(plain)
	must(t, err)

	// The first run fails on the last layer in digest order (written after
	// the others with concurrency 1).
	var layers []v1.Hash
	for h := range src.layers {
		layers = append(layers, h)
	}
	slices.SortFunc(layers, func(a, b v1.Hash) int { return strings.Compare(a.Hex, b.Hex) })
	bad := layers[len(layers)-1]
	err = writeSet(t, path, failOn(src, bad), src, WithSplit(MinPartSize*2, 1), WithConcurrency(1))
	if err == nil {
		t.Fatal("the interrupted export succeeded")
	}
	if _, err := os.Stat(PartsPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an interrupted export wrote a parts manifest")
	}
	if _, err := os.Stat(filepath.Join(dir, ".b.tar.resume.json")); err != nil {
		t.Fatalf("no resume journal: %v", err)
	}

	// Corrupt one kept blob in the partial parts: it is re-checked and fetched again.
	r, err := Open(plain)
	must(t, err)
	victim := layers[0]
	s := r.blobs[victim]
	r.Close()
	part := int(s.off / (MinPartSize * 2))
	name := filepath.Join(dir, fmt.Sprintf(".b.tar.%03d.partial", part))
	b, err := os.ReadFile(name)
	must(t, err)
	b[s.off-int64(part)*MinPartSize*2] ^= 1
	must(t, os.WriteFile(name, b, 0o644))

	src.calls = map[v1.Hash]int{}
	must(t, writeSet(t, path, nil, src, WithSplit(MinPartSize*2, 1), WithConcurrency(1)))
	for h, n := range src.calls {
		if h != bad && h != victim && n > 0 {
			t.Errorf("blob %s written by the first run was fetched again", h)
		}
	}
	if src.calls[bad] != 1 || src.calls[victim] != 1 {
		t.Errorf("fetched the missing blob %d times and the corrupted one %d times, want 1 and 1", src.calls[bad], src.calls[victim])
	}
	if got := readAllParts(t, path); !bytes.Equal(got, want) {
		t.Fatal("the resumed export differs from a plain export")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	r, err = Open(path)
	must(t, err)
	must(t, r.VerifyBlobs(context.Background(), nil))
	r.Close()
}

func TestSplitOptions(t *testing.T) {
	dir := t.TempDir()
	for _, opts := range [][]WriterOption{
		{WithSplit(100, 0)},
		{WithSplit(MinPartSize, -1)},
		{WithSplit(MinPartSize, MaxParityParts+1)},
		{WithSplit(0, 1)},
	} {
		if _, err := Create(filepath.Join(dir, "x.tar"), opts...); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("Create: %v, want ErrInvalidOption", err)
		}
	}
}

func FuzzParseParts(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":1,"mediaType":"application/vnd.airlock.parts.v1+json","partSize":4096,"size":10,"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","parts":[{"name":"b.tar.000","size":10,"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseParts(data, "b.tar")
		if err != nil {
			if !errors.Is(err, ErrPartsManifest) {
				t.Fatalf("error %v does not wrap ErrPartsManifest", err)
			}
			return
		}
		if p.Size <= 0 || len(p.Data) == 0 {
			t.Fatalf("accepted %+v", p)
		}
	})
}
