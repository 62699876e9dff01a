package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestRoundTrip(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "out.tar")
	src := newSource()
	var progress []Progress
	w, err := Create(dst, WithProgress(func(p Progress) { progress = append(progress, p) }))
	must(t, err)

	single := randomImage(t, 2048, 3)
	singleDesc := withRef(src.putImage(t, w, single), "localhost:5000/single:v1")
	w.AddIndex(singleDesc)

	idx, err := random.Index(1024, 2, 3)
	must(t, err)
	idxDesc := withRef(src.putIndex(t, w, idx), "localhost:5000/multi:v2")
	w.AddIndex(idxDesc)
	w.AddIndex(idxDesc) // exact duplicate: dropped

	must(t, w.Commit(context.Background(), src.fetch))

	// Every reserved blob was fetched exactly once.
	for h, n := range src.calls {
		if n != 1 {
			t.Errorf("blob %s fetched %d times", h, n)
		}
	}
	if len(progress) == 0 {
		t.Fatal("no progress reported")
	}
	last := progress[len(progress)-1]
	if last.Done != last.Total || last.BlobsDone != last.Blobs || last.Blobs != len(src.layers) {
		t.Errorf("final progress %+v, want all %d blobs done", last, len(src.layers))
	}

	// The tar order is the documented one.
	names := tarNames(t, dst)
	if want := []string{"oci-layout", "index.json", "blobs/", "blobs/sha256/"}; !slices.Equal(names[:4], want) {
		t.Errorf("first entries %v, want %v", names[:4], want)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("entry %s written twice", n)
		}
		seen[n] = true
	}

	r, err := Open(dst)
	must(t, err)
	defer r.Close()
	got := r.Index().Manifests
	if len(got) != 2 || got[0].Digest != singleDesc.Digest || got[1].Digest != idxDesc.Digest {
		t.Fatalf("index.json entries %v, want single then multi", got)
	}
	if got[1].Annotations[AnnotationRefName] != "localhost:5000/multi:v2" {
		t.Errorf("ref name annotation lost: %v", got[1].Annotations)
	}
	must(t, r.VerifyBlobs(context.Background(), nil))
	g, err := r.Graph()
	must(t, err)
	if len(g.Orphans) != 0 {
		t.Errorf("orphans %v", g.Orphans)
	}
	// 1 + 3 layers + config for single; index + 3*(manifest+config+2 layers).
	if want := 5 + 1 + 3*4; len(g.Nodes) != want {
		t.Errorf("graph has %d nodes, want %d", len(g.Nodes), want)
	}
	// Content read back equals the source.
	layers, err := single.Layers()
	must(t, err)
	h, err := layers[0].Digest()
	must(t, err)
	rc, err := r.Blob(h)
	must(t, err)
	gotBytes, err := io.ReadAll(rc)
	must(t, err)
	lrc, err := layers[0].Compressed()
	must(t, err)
	wantBytes, err := io.ReadAll(lrc)
	must(t, err)
	if !bytes.Equal(gotBytes, wantBytes) {
		t.Error("layer content differs after the round trip")
	}

	// An independent reader: ggcr's layout package and validate.
	dir := t.TempDir()
	extract(t, dst, dir)
	lp, err := layout.FromPath(dir)
	must(t, err)
	ii, err := lp.ImageIndex()
	must(t, err)
	must(t, validate.Index(ii))
}

func TestSharedBlobsStoredOnce(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "out.tar")
	src := newSource()
	w, err := Create(dst)
	must(t, err)
	base := randomImage(t, 4096, 2)
	extra, err := random.Layer(1024, types.DockerLayer)
	must(t, err)
	derived, err := mutate.AppendLayers(base, extra)
	must(t, err)
	w.AddIndex(withRef(src.putImage(t, w, base), "r/base:1"))
	w.AddIndex(withRef(src.putImage(t, w, derived), "r/derived:1"))
	w.AddIndex(withRef(src.putImage(t, w, base), "r/base:alias"))
	must(t, w.Commit(context.Background(), src.fetch))

	for h, n := range src.calls {
		if n != 1 {
			t.Errorf("blob %s fetched %d times, want once", h, n)
		}
	}
	names := tarNames(t, dst)
	baseLayers, _ := base.Layers()
	for _, l := range baseLayers {
		h, _ := l.Digest()
		count := 0
		for _, n := range names {
			if n == "blobs/sha256/"+h.Hex {
				count++
			}
		}
		if count != 1 {
			t.Errorf("shared layer %s stored %d times", h, count)
		}
	}
	r, err := Open(dst)
	must(t, err)
	defer r.Close()
	if n := len(r.Index().Manifests); n != 3 {
		t.Errorf("%d index entries, want 3 (same manifest under two names)", n)
	}
	g, err := r.Graph()
	must(t, err)
	h, _ := baseLayers[0].Digest()
	if n := len(g.Nodes[h].Parents); n != 2 {
		t.Errorf("shared layer has %d parents, want 2", n)
	}
}

func TestDeterministic(t *testing.T) {
	img := randomImage(t, 1000, 2)
	write := func() []byte {
		dst := filepath.Join(t.TempDir(), "out.tar")
		src := newSource()
		w, err := Create(dst, WithConcurrency(3))
		must(t, err)
		w.AddIndex(withRef(src.putImage(t, w, img), "r/a:1"))
		_, err = w.PutInventory(NewInventory(Exporter{Name: "airlock", Version: "test", Time: time.Unix(1700000000, 0).UTC()}))
		must(t, err)
		must(t, w.Commit(context.Background(), src.fetch))
		b, err := os.ReadFile(dst)
		must(t, err)
		return b
	}
	if a, b := write(), write(); !bytes.Equal(a, b) {
		t.Error("two writes of the same input differ")
	}
}

// flakySource breaks the first n fetches of every blob, after writing half of it.
type flakySource struct {
	*source
	failures int
	mu       sync.Mutex
	tries    map[v1.Hash]int
}

func (f *flakySource) fetch(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
	f.mu.Lock()
	f.tries[d.Digest]++
	n := f.tries[d.Digest]
	f.mu.Unlock()
	rc, err := f.source.fetch(ctx, d)
	if err != nil || n > f.failures {
		return rc, err
	}
	return &failingReader{rc: rc, left: d.Size / 2}, nil
}

type failingReader struct {
	rc   io.ReadCloser
	left int64
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errors.New("connection reset by test")
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.rc.Read(p)
	f.left -= int64(n)
	return n, err
}

func (f *failingReader) Close() error { return f.rc.Close() }

// The Writer calls the Fetcher once per blob: retrying or resuming a
// stream that breaks is the Fetcher's job (the registry client's blob
// streams resume themselves), so a stream that breaks fails the commit at
// once with ErrFetch and leaves nothing behind.
func TestFetcherCalledOnce(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "out.tar")
	fs := &flakySource{source: newSource(), failures: 1, tries: map[v1.Hash]int{}}
	w, err := Create(dst, WithConcurrency(1))
	must(t, err)
	// Layers over 1 MiB: large blobs stream WithConcurrency at a time (small
	// ones, in a wider pool of their own, would all be in flight at once).
	w.AddIndex(withRef(fs.putImage(t, w, randomImage(t, smallStreamSize+4096, 3)), "r/a:1"))
	err = w.Commit(context.Background(), fs.fetch)
	if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "connection reset by test") {
		t.Fatalf("Commit error %v, want ErrFetch naming the Fetcher's failure", err)
	}
	if len(fs.tries) != 1 {
		t.Errorf("%d blobs fetched, want the commit to stop at the first failure", len(fs.tries))
	}
	for h, n := range fs.tries {
		if n != 1 {
			t.Errorf("blob %s fetched %d times, want 1", h, n)
		}
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("failed commit left %v behind", names)
	}
}

func TestCommitFailures(t *testing.T) {
	img := randomImage(t, 3000, 2)
	layers, _ := img.Layers()
	content := func(d v1.Descriptor) []byte {
		for _, l := range layers {
			if h, _ := l.Digest(); h == d.Digest {
				rc, _ := l.Compressed()
				b, _ := io.ReadAll(rc)
				return b
			}
		}
		return nil
	}
	tests := []struct {
		name  string
		fetch Fetcher
		want  error
	}{
		{"permanent failure", func(context.Context, v1.Descriptor) (io.ReadCloser, error) {
			return nil, errors.New("registry says 500")
		}, ErrFetch},
		{"digest mismatch", func(_ context.Context, d v1.Descriptor) (io.ReadCloser, error) {
			b := content(d)
			b[len(b)/2] ^= 1
			return io.NopCloser(bytes.NewReader(b)), nil
		}, ErrDigestMismatch},
		{"short content", func(_ context.Context, d v1.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(content(d)[:d.Size-1])), nil
		}, ErrSizeMismatch},
		{"long content", func(_ context.Context, d v1.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(append(content(d), 0))), nil
		}, ErrSizeMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "out.tar")
			w, err := Create(dst)
			must(t, err)
			w.AddIndex(withRef(newSource().putImage(t, w, img), "r/a:1"))
			err = w.Commit(context.Background(), tt.fetch)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Commit error %v, want %v", err, tt.want)
			}
			if names := dirEntries(t, dir); len(names) != 0 {
				t.Errorf("failed export left %v behind", names)
			}
		})
	}
}

func TestCommitCancel(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "out.tar")
	w, err := Create(dst)
	must(t, err)
	w.AddIndex(withRef(newSource().putImage(t, w, randomImage(t, 3000, 4)), "r/a:1"))
	ctx, cancel := context.WithCancel(context.Background())
	var started atomic.Int32
	fetch := func(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
		if started.Add(1) == 1 {
			cancel()
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	err = w.Commit(ctx, fetch)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit error %v, want context.Canceled", err)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("cancelled export left %v behind", names)
	}
}

func TestWriterRefusals(t *testing.T) {
	t.Run("dangling index entry", func(t *testing.T) {
		dir := t.TempDir()
		w, err := Create(filepath.Join(dir, "out.tar"))
		must(t, err)
		w.AddIndex(v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 2, Digest: EmptyDescriptor().Digest})
		err = w.Commit(context.Background(), nil)
		if !errors.Is(err, ErrDanglingDescriptor) {
			t.Fatalf("got %v, want ErrDanglingDescriptor", err)
		}
		if names := dirEntries(t, dir); len(names) != 0 {
			t.Errorf("left %v behind", names)
		}
	})
	t.Run("manifest naming a missing layer", func(t *testing.T) {
		w, err := Create(filepath.Join(t.TempDir(), "out.tar"))
		must(t, err)
		img := randomImage(t, 100, 1)
		raw, _ := img.RawManifest()
		cfg, _ := img.RawConfigFile()
		_, _ = w.Put(types.OCIConfigJSON, cfg)
		d, err := w.Put(types.DockerManifestSchema2, raw)
		must(t, err)
		w.AddIndex(d)
		if err := w.Commit(context.Background(), nil); !errors.Is(err, ErrDanglingDescriptor) {
			t.Fatalf("got %v, want ErrDanglingDescriptor", err)
		}
	})
	t.Run("reserve size conflict", func(t *testing.T) {
		w, err := Create(filepath.Join(t.TempDir(), "out.tar"))
		must(t, err)
		defer w.Abort()
		d, err := w.Put("text/plain", []byte("hello"))
		must(t, err)
		d.Size = 6
		if err := w.Reserve(d); !errors.Is(err, ErrSizeMismatch) {
			t.Fatalf("got %v, want ErrSizeMismatch", err)
		}
	})
	t.Run("reserve sha512", func(t *testing.T) {
		w, err := Create(filepath.Join(t.TempDir(), "out.tar"))
		must(t, err)
		defer w.Abort()
		err = w.Reserve(v1.Descriptor{Size: 1, Digest: v1.Hash{Algorithm: "sha512", Hex: strings.Repeat("a", 128)}})
		if !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Fatalf("got %v, want ErrUnsupportedAlgorithm", err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		if _, err := Create(filepath.Join(t.TempDir(), "x"), WithConcurrency(0)); !errors.Is(err, ErrInvalidOption) {
			t.Fatalf("got %v, want ErrInvalidOption", err)
		}
	})
	t.Run("abort removes temp and ends writer", func(t *testing.T) {
		dir := t.TempDir()
		w, err := Create(filepath.Join(dir, "out.tar"))
		must(t, err)
		if len(dirEntries(t, dir)) != 1 {
			t.Fatal("no temporary file created")
		}
		must(t, w.Abort())
		if names := dirEntries(t, dir); len(names) != 0 {
			t.Errorf("Abort left %v", names)
		}
		if err := w.Commit(context.Background(), nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Commit after Abort: %v, want ErrClosed", err)
		}
	})
}

func TestEmptyBundle(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "out.tar")
	w, err := Create(dst)
	must(t, err)
	must(t, w.Commit(context.Background(), nil))
	r, err := Open(dst)
	must(t, err)
	defer r.Close()
	if len(r.Index().Manifests) != 0 {
		t.Error("empty bundle has index entries")
	}
	if _, err := r.Inventory(); !errors.Is(err, ErrNotFound) {
		t.Errorf("Inventory on empty bundle: %v, want ErrNotFound", err)
	}
}

// A blob of 8 GiB or more does not fit a USTAR size field: its header gets
// a PAX record, and the precomputed offsets account for the longer header.
func TestLayoutLargeBlob(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "out.tar"))
	must(t, err)
	defer w.Abort()
	big := v1.Descriptor{MediaType: types.OCILayer, Size: 9 << 30, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}}
	must(t, w.Reserve(big))
	entries, total, err := w.layout(w.small, w.reserved, nil)
	must(t, err)
	last := entries[len(entries)-1]
	var buf bytes.Buffer
	header, err := w.header(last, &buf)
	must(t, err)
	if len(header) <= blockSize || len(header)%blockSize != 0 || len(header) != last.hdr.n {
		t.Fatalf("header of the 9 GiB blob is %d bytes (laid out as %d), want several whole blocks", len(header), last.hdr.n)
	}
	hdr, err := tar.NewReader(bytes.NewReader(header)).Next()
	must(t, err)
	if hdr.Size != big.Size || hdr.Name != "blobs/sha256/"+big.Digest.Hex {
		t.Errorf("header reads back as %s size %d", hdr.Name, hdr.Size)
	}
	if last.dataOff != last.offset+int64(len(header)) || total != last.dataOff+big.Size+2*blockSize {
		t.Errorf("offsets: header %d data %d total %d", last.offset, last.dataOff, total)
	}
}

// Small blobs stream beside large ones, not queued behind them: with
// concurrency 1, every large blob's fetch waits until the small ones are
// written, which only works when they run in a pool of their own.
func TestSmallBlobsStreamBesideLarge(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "out.tar")
	w, err := Create(dst, WithConcurrency(1))
	must(t, err)
	defer w.Abort()
	content := map[v1.Hash][]byte{}
	var blobs []v1.Descriptor
	reserve := func(size int) {
		b := bytes.Repeat([]byte{byte(len(blobs) + 1)}, size)
		h, n, err := v1.SHA256(bytes.NewReader(b))
		must(t, err)
		d := v1.Descriptor{MediaType: types.OCILayer, Size: n, Digest: h}
		content[h] = b
		blobs = append(blobs, d)
		must(t, w.Reserve(d))
	}
	for range 2 {
		reserve(smallStreamSize + 1)
	}
	for range 3 {
		reserve(100)
	}
	img := map[string]any{"schemaVersion": 2, "mediaType": types.OCIManifestSchema1,
		"config": v1.Descriptor{MediaType: types.OCIConfigJSON, Size: 2, Digest: mustPut(t, w, types.OCIConfigJSON, []byte("{}"))},
		"layers": blobs}
	raw, err := json.Marshal(img)
	must(t, err)
	d, err := w.Put(types.OCIManifestSchema1, raw)
	must(t, err)
	w.AddIndex(withRef(d, "r/a:1"))

	var mu sync.Mutex
	smallDone := 0
	allSmall := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fetch := func(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
		if d.Size > smallStreamSize {
			select {
			case <-allSmall:
			case <-ctx.Done():
				return nil, fmt.Errorf("large blob %s waited for the small ones in vain: %w", d.Digest, ctx.Err())
			}
		} else {
			mu.Lock()
			if smallDone++; smallDone == 3 {
				close(allSmall)
			}
			mu.Unlock()
		}
		return io.NopCloser(bytes.NewReader(content[d.Digest])), nil
	}
	must(t, w.Commit(ctx, fetch))
	r, err := Open(dst)
	must(t, err)
	defer r.Close()
	must(t, r.VerifyBlobs(context.Background(), nil))
}

func mustPut(t *testing.T, w *Writer, mt types.MediaType, data []byte) v1.Hash {
	t.Helper()
	d, err := w.Put(mt, data)
	must(t, err)
	return d.Digest
}

// Put keeps a small blob's content out of memory until Commit (a
// catalogue's manifests and signatures add up), leaves no file beside the
// bundle while it waits, and Commit writes every blob back byte for byte.
func TestWriterKeepsSmallBlobsOutOfMemory(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "out.tar")
	w, err := Create(dst)
	must(t, err)
	const n, size = 2000, 4 << 10
	blob := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("%08d", i)), size/8) }
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	var descs []v1.Descriptor
	for i := range n {
		d, err := w.Put("application/octet-stream", blob(i))
		must(t, err)
		descs = append(descs, d)
	}
	if grew := int64(heap()) - int64(before); grew > n*size/8 {
		t.Errorf("the heap grew by %d bytes for %d bytes of small blobs: their content is held in memory", grew, n*size)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 {
		t.Errorf("beside the bundle while it is written: %v (%v); want only its temporary file", entries, err)
	}
	must(t, w.Commit(context.Background(), nil))
	r, err := Open(dst)
	must(t, err)
	defer r.Close()
	for i, d := range descs {
		got, err := r.ReadBlob(d.Digest, size)
		if err != nil || !bytes.Equal(got, blob(i)) {
			t.Fatalf("blob %d read back: %v", i, err)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 || entries[0].Name() != "out.tar" {
		t.Errorf("after Commit: %v (%v); want only the bundle", entries, err)
	}
}

// A spill file that cannot be written or read back fails Put or Commit
// with an error naming the blob or the bundle, and leaves nothing behind.
func TestWriterSpillFailures(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(filepath.Join(dir, "put.tar"))
	must(t, err)
	w.spill.f.Close() // as a full or failing disk would
	if _, err := w.Put("application/octet-stream", []byte("x")); err == nil || !strings.Contains(err.Error(), "storing blob sha256:") {
		t.Errorf("Put to a broken spill file: %v", err)
	}
	must(t, w.Abort())

	for name, mt := range map[string]types.MediaType{"blob": "application/octet-stream", "manifest": types.OCIManifestSchema1} {
		dst := filepath.Join(dir, name+".tar")
		w, err := Create(dst)
		must(t, err)
		data := []byte("x")
		if mt == types.OCIManifestSchema1 {
			cfg, err := w.Put(types.OCIConfigJSON, []byte("{}"))
			must(t, err)
			data, err = json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: mt, Config: cfg})
			must(t, err)
		}
		d, err := w.Put(mt, data)
		must(t, err)
		w.AddIndex(d)
		w.spill.f.Close()
		if err := w.Commit(context.Background(), nil); err == nil || !strings.Contains(err.Error(), filepath.Base(dst)) {
			t.Errorf("%s: Commit with its spill file broken: %v", name, err)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("left behind: %v (%v)", entries, err)
	}
}
