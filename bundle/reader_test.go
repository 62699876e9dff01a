package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var ociLayout = []byte(`{"imageLayoutVersion":"1.0.0"}`)

func hexOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func blobEntry(b []byte) tarEntry { return reg("blobs/sha256/"+hexOf(b), b) }

func indexJSON(t testing.TB, ds ...v1.Descriptor) []byte {
	t.Helper()
	if ds == nil {
		ds = []v1.Descriptor{}
	}
	b, err := marshalJSON(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: ds})
	must(t, err)
	return b
}

func desc(mt types.MediaType, b []byte) v1.Descriptor {
	return v1.Descriptor{MediaType: mt, Size: int64(len(b)), Digest: v1.Hash{Algorithm: "sha256", Hex: hexOf(b)}}
}

// base is a valid minimal layout to which a case adds entries.
func base(t testing.TB, extra ...tarEntry) []byte {
	t.Helper()
	es := []tarEntry{reg("oci-layout", ociLayout), reg("index.json", indexJSON(t)), dir("blobs/"), dir("blobs/sha256/")}
	return buildTar(t, append(es, extra...)...)
}

func TestOpenHostile(t *testing.T) {
	layer := []byte("layer content")
	hex64 := hexOf(layer)
	valid := base(t, blobEntry(layer))
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}`)

	tests := []struct {
		name   string
		data   []byte
		limits *Limits
		want   error
	}{
		{"valid", valid, nil, nil},
		{"leading dot slash accepted", buildTar(t, dir("./"), reg("./oci-layout", ociLayout), reg("./index.json", indexJSON(t)), dir("./blobs/"), dir("./blobs/sha256/")), nil, nil},
		{"path traversal", base(t, reg("../evil", []byte("x"))), nil, ErrUnsafeEntry},
		{"traversal inside blobs", base(t, reg("blobs/sha256/../../../etc/passwd", []byte("x"))), nil, ErrUnsafeEntry},
		{"absolute path", base(t, reg("/etc/passwd", []byte("x"))), nil, ErrUnsafeEntry},
		{"symlink", base(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "blobs/sha256/" + hex64, Linkname: "/etc/shadow"}}), nil, ErrUnsafeEntry},
		{"hardlink", base(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "blobs/sha256/" + hex64, Linkname: "index.json"}}), nil, ErrUnsafeEntry},
		{"char device", base(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "blobs/sha256/" + hex64, Devmajor: 1, Devminor: 3}}), nil, ErrUnsafeEntry},
		{"block device", base(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeBlock, Name: "blobs/sha256/" + hex64, Devmajor: 8}}), nil, ErrUnsafeEntry},
		{"fifo", base(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "blobs/sha256/" + hex64}}), nil, ErrUnsafeEntry},
		{"global pax header", base(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "g", PAXRecords: map[string]string{"comment": "x"}}}), nil, ErrUnsafeEntry},
		{"file outside layout", base(t, reg("README", []byte("hi"))), nil, ErrUnsafeEntry},
		{"directory outside layout", base(t, dir("blobs/sha256/sub/")), nil, ErrUnsafeEntry},
		{"upper-case hex", base(t, reg("blobs/sha256/"+strings.ToUpper(hex64), layer)), nil, ErrUnsafeEntry},
		{"short hex", base(t, reg("blobs/sha256/abc", layer)), nil, ErrUnsafeEntry},
		{"sha512 blob", base(t, reg("blobs/sha512/"+strings.Repeat("a", 128), layer)), nil, ErrUnsupportedAlgorithm},
		{"duplicate index.json", base(t, reg("index.json", indexJSON(t))), nil, ErrDuplicateEntry},
		{"duplicate blob", base(t, blobEntry(layer), blobEntry(layer)), nil, ErrDuplicateEntry},
		{"duplicate via dot slash", base(t, reg("./oci-layout", ociLayout)), nil, ErrDuplicateEntry},
		{"truncated inside data", func() []byte { b := base(t, blobEntry(bytes.Repeat([]byte("x"), 4096))); return b[:len(b)-1024-2000] }(), nil, ErrTruncated},
		{"truncated inside padding", valid[:len(valid)-1024-300], nil, ErrTruncated},
		{"truncated inside header", valid[:3*512+100], nil, ErrTruncated},
		{"missing end marker", valid[:len(valid)-1024], nil, ErrTruncated},
		{"empty file", nil, nil, ErrTruncated},
		{"garbage", bytes.Repeat([]byte("garbage!"), 200), nil, ErrInvalidBundle},
		{"no oci-layout", buildTar(t, reg("index.json", indexJSON(t))), nil, ErrIncomplete},
		{"no index.json", buildTar(t, reg("oci-layout", ociLayout)), nil, ErrIncomplete},
		{"wrong layout version", buildTar(t, reg("oci-layout", []byte(`{"imageLayoutVersion":"2.0.0"}`)), reg("index.json", indexJSON(t))), nil, ErrMalformed},
		{"malformed index.json", buildTar(t, reg("oci-layout", ociLayout), reg("index.json", []byte(`{"schemaVersion":2,"manifests":[`))), nil, ErrMalformed},
		{"index.json wrong schema", buildTar(t, reg("oci-layout", ociLayout), reg("index.json", []byte(`{"schemaVersion":1,"manifests":[]}`))), nil, ErrMalformed},
		{"index.json sha512 digest", buildTar(t, reg("oci-layout", ociLayout), reg("index.json", []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"a/b","size":1,"digest":"sha512:`+strings.Repeat("a", 128)+`"}]}`))), nil, ErrUnsupportedAlgorithm},
		{"oversized index.json", valid, &Limits{MaxEntries: 100, MaxIndexSize: 10, MaxManifestSize: 100, MaxInventorySize: 100, MaxDepth: 4}, ErrTooLarge},
		{"too many entries", valid, &Limits{MaxEntries: 3, MaxIndexSize: 1 << 20, MaxManifestSize: 100, MaxInventorySize: 100, MaxDepth: 4}, ErrTooLarge},
		{"dangling index entry", buildTar(t, reg("oci-layout", ociLayout), reg("index.json", indexJSON(t, desc(types.OCIManifestSchema1, manifest)))), nil, ErrDanglingDescriptor},
		{"index entry size mismatch", buildTar(t, reg("oci-layout", ociLayout), blobEntry(manifest), reg("index.json", indexJSON(t, v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 3, Digest: desc("", manifest).Digest}))), nil, ErrSizeMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []ReaderOption
			if tt.limits != nil {
				opts = append(opts, WithLimits(*tt.limits))
			}
			r, err := Open(writeFile(t, tt.data), opts...)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				r.Close()
				return
			}
			if err == nil {
				r.Close()
				t.Fatalf("Open accepted a bundle that should fail with %v", tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open error %q, want %v", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidBundle) {
				t.Errorf("error %q does not wrap ErrInvalidBundle", err)
			}
		})
	}
}

// paxEntry hand-builds a PAX extended header entry ('x'), which
// archive/tar's Writer will not write with arbitrary (GNU sparse) keys.
func paxEntry(t testing.TB, records map[string]string) []byte {
	t.Helper()
	var data string
	for _, k := range slices.Sorted(maps.Keys(records)) {
		rec := k + "=" + records[k] + "\n"
		n := len(rec) + 1
		n += len(strconv.Itoa(n + len(strconv.Itoa(n))))
		data += strconv.Itoa(n) + " " + rec
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "PaxHeaders/x", Mode: 0o644, Size: int64(len(data)), Format: tar.FormatUSTAR}))
	_, err := tw.Write([]byte(data))
	must(t, err)
	must(t, tw.Flush())
	b := buf.Bytes()
	b[156] = tar.TypeXHeader
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func TestOpenPAX(t *testing.T) {
	layer := []byte("a blob behind a PAX header")
	name := "blobs/sha256/" + hexOf(layer)
	t.Run("PAX records keep offsets right", func(t *testing.T) {
		e := reg(name, layer)
		e.hdr.PAXRecords = map[string]string{"comment": strings.Repeat("long comment ", 100)}
		e.hdr.Format = tar.FormatPAX
		r, err := Open(writeFile(t, base(t, e)))
		must(t, err)
		defer r.Close()
		got, err := r.ReadBlob(v1.Hash{Algorithm: "sha256", Hex: hexOf(layer)}, 1024)
		must(t, err)
		if !bytes.Equal(got, layer) {
			t.Errorf("ReadBlob = %q", got)
		}
		must(t, r.VerifyBlobs(context.Background(), nil))
	})
	t.Run("GNU sparse refused", func(t *testing.T) {
		pax := paxEntry(t, map[string]string{
			"GNU.sparse.major": "0", "GNU.sparse.minor": "1", "GNU.sparse.name": name,
			"GNU.sparse.size": fmt.Sprint(len(layer)), "GNU.sparse.numblocks": "1", "GNU.sparse.map": fmt.Sprintf("0,%d", len(layer)),
		})
		valid := base(t)
		head := valid[:len(valid)-1024]
		rest := buildTar(t, reg("x", layer))
		data := append(append(append([]byte{}, head...), pax...), rest...)
		_, err := Open(writeFile(t, data))
		if !errors.Is(err, ErrUnsafeEntry) || !strings.Contains(err.Error(), "sparse") {
			t.Fatalf("Open: %v, want ErrUnsafeEntry for a sparse file", err)
		}
	})
}

func TestOpenNotRegular(t *testing.T) {
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrInvalidBundle) {
		t.Errorf("Open(directory): %v, want ErrInvalidBundle", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing): %v, want os.ErrNotExist", err)
	}
}

// writeTestBundle writes a bundle with one multi-layer image and returns its path.
func writeTestBundle(t testing.TB) (string, v1.Image) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "b.tar")
	src := newSource()
	w, err := Create(dst)
	must(t, err)
	img := randomImage(t, 64<<10, 3)
	w.AddIndex(withRef(src.putImage(t, w, img), "r/a:1"))
	must(t, w.Commit(context.Background(), src.fetch))
	return dst, img
}

// flipByte flips one byte at the middle of blob h's content in the file.
func flipByte(t testing.TB, path string, r *Reader, h v1.Hash) {
	t.Helper()
	s := r.blobs[h]
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, s.off+s.size/2)
	must(t, err)
	b[0] ^= 0x40
	_, err = f.WriteAt(b, s.off+s.size/2)
	must(t, err)
}

func TestVerifyBlobsCatchesFlippedByte(t *testing.T) {
	path, img := writeTestBundle(t)
	r, err := Open(path)
	must(t, err)
	defer r.Close()
	var last, total int64
	must(t, r.VerifyBlobs(context.Background(), func(d, tot int64) { last, total = d, tot }))
	if last != total || total == 0 {
		t.Errorf("progress ended at %d of %d", last, total)
	}

	layers, _ := img.Layers()
	h, _ := layers[1].Digest()
	flipByte(t, path, r, h)

	err = r.VerifyBlobs(context.Background(), nil)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), h.String()) {
		t.Fatalf("VerifyBlobs: %v, want ErrDigestMismatch naming %s", err, h)
	}
	// Blob's stream reports it before EOF.
	rc, err := r.Blob(h)
	must(t, err)
	_, err = io.ReadAll(rc)
	if !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("Blob read: %v, want ErrDigestMismatch", err)
	}
	if _, err := r.ReadBlob(h, 1<<20); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("ReadBlob: %v, want ErrDigestMismatch", err)
	}
	// The other blobs still read fine.
	h0, _ := layers[0].Digest()
	rc, err = r.Blob(h0)
	must(t, err)
	_, err = io.ReadAll(rc)
	must(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.VerifyBlobs(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("VerifyBlobs with cancelled ctx: %v", err)
	}
}

func TestGraphTamperedManifest(t *testing.T) {
	path, img := writeTestBundle(t)
	r, err := Open(path)
	must(t, err)
	h, _ := img.Digest()
	flipByte(t, path, r, h)
	r.Close()
	r, err = Open(path)
	must(t, err)
	defer r.Close()
	if _, err := r.Graph(); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("Graph: %v, want ErrDigestMismatch", err)
	}
}

func TestReadBlobLimits(t *testing.T) {
	path, img := writeTestBundle(t)
	r, err := Open(path)
	must(t, err)
	defer r.Close()
	layers, _ := img.Layers()
	h, _ := layers[0].Digest()
	if _, err := r.ReadBlob(h, 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadBlob over max: %v, want ErrTooLarge", err)
	}
	missing := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	if _, err := r.ReadBlob(missing, 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadBlob missing: %v, want ErrNotFound", err)
	}
	if _, err := r.Blob(missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("Blob missing: %v, want ErrNotFound", err)
	}
	m, err := img.Digest()
	must(t, err)
	a, err := r.ReadBlob(m, 1<<20)
	must(t, err)
	a[0] = 'X' // the caller's copy: must not poison the cache
	b, err := r.ReadBlob(m, 1<<20)
	must(t, err)
	if b[0] != '{' {
		t.Error("ReadBlob returned the cached slice itself")
	}
}

// graphBundle builds a bundle by hand: entries are blobs, roots index.json.
func graphBundle(t testing.TB, roots []v1.Descriptor, blobs ...[]byte) string {
	t.Helper()
	es := []tarEntry{reg("oci-layout", ociLayout), reg("index.json", indexJSON(t, roots...))}
	for _, b := range blobs {
		es = append(es, blobEntry(b))
	}
	return writeFile(t, buildTar(t, es...))
}

func manifestJSON(t testing.TB, cfg v1.Descriptor, layers []v1.Descriptor, subject *v1.Descriptor) []byte {
	t.Helper()
	if layers == nil {
		layers = []v1.Descriptor{}
	}
	b, err := marshalJSON(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cfg, Layers: layers, Subject: subject})
	must(t, err)
	return b
}

func TestGraph(t *testing.T) {
	cfg := EmptyJSON
	cfgD := desc(types.OCIEmptyJSON, cfg)
	layer := []byte("a layer")
	layerD := desc(types.OCILayer, layer)
	img := manifestJSON(t, cfgD, []v1.Descriptor{layerD}, nil)
	imgD := desc(types.OCIManifestSchema1, img)
	sig := manifestJSON(t, cfgD, []v1.Descriptor{desc("application/vnd.dev.cosign.simplesigning.v1+json", []byte("sig"))}, &imgD)
	sigD := desc(types.OCIManifestSchema1, sig)
	orphan := []byte("nobody points here")

	t.Run("valid with subject and orphan", func(t *testing.T) {
		r, err := Open(graphBundle(t, []v1.Descriptor{imgD, sigD}, cfg, layer, img, sig, []byte("sig"), orphan))
		must(t, err)
		defer r.Close()
		g, err := r.Graph()
		must(t, err)
		if len(g.Orphans) != 1 || g.Orphans[0].Hex != hexOf(orphan) {
			t.Errorf("orphans %v, want the one orphan", g.Orphans)
		}
		n := g.Nodes[imgD.Digest]
		if !n.Root || n.Manifest == nil || len(n.Parents) != 1 || n.Parents[0].Kind != ChildSubject || n.Parents[0].Parent != sigD.Digest {
			t.Errorf("image node %+v: want a root with the signature as subject parent", n)
		}
		if g.Nodes[cfgD.Digest].Depth != 2 {
			t.Errorf("config depth %d, want 2", g.Nodes[cfgD.Digest].Depth)
		}
	})

	tests := []struct {
		name   string
		path   func(t *testing.T) string
		limits *Limits
		want   error
	}{
		{"dangling layer", func(t *testing.T) string { return graphBundle(t, []v1.Descriptor{imgD}, cfg, img) }, nil, ErrDanglingDescriptor},
		{"dangling subject", func(t *testing.T) string { return graphBundle(t, []v1.Descriptor{sigD}, cfg, sig, []byte("sig")) }, nil, ErrDanglingDescriptor},
		{"layer size mismatch", func(t *testing.T) string {
			bad := layerD
			bad.Size++
			m := manifestJSON(t, cfgD, []v1.Descriptor{bad}, nil)
			return graphBundle(t, []v1.Descriptor{desc(types.OCIManifestSchema1, m)}, cfg, layer, m)
		}, nil, ErrSizeMismatch},
		{"malformed manifest", func(t *testing.T) string {
			m := []byte(`{"schemaVersion":2,"config":`)
			return graphBundle(t, []v1.Descriptor{desc(types.OCIManifestSchema1, m)}, m)
		}, nil, ErrMalformed},
		{"manifest media type confusion", func(t *testing.T) string {
			return graphBundle(t, []v1.Descriptor{desc(types.OCIImageIndex, img)}, cfg, layer, img)
		}, nil, ErrMalformed},
		{"oversized manifest", func(t *testing.T) string { return graphBundle(t, []v1.Descriptor{imgD}, cfg, layer, img) },
			&Limits{MaxEntries: 100, MaxIndexSize: 1 << 20, MaxManifestSize: 16, MaxInventorySize: 100, MaxDepth: 4}, ErrTooLarge},
		{"too deep", func(t *testing.T) string {
			blobs := [][]byte{cfg, layer, img}
			child := imgD
			for i := 0; i < 5; i++ {
				idx, err := marshalJSON(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{child},
					Annotations: map[string]string{"n": fmt.Sprint(i)}})
				must(t, err)
				blobs = append(blobs, idx)
				child = desc(types.OCIImageIndex, idx)
			}
			return graphBundle(t, []v1.Descriptor{child}, blobs...)
		}, &Limits{MaxEntries: 100, MaxIndexSize: 1 << 20, MaxManifestSize: 1 << 20, MaxInventorySize: 100, MaxDepth: 4}, ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []ReaderOption
			if tt.limits != nil {
				opts = append(opts, WithLimits(*tt.limits))
			}
			r, err := Open(tt.path(t), opts...)
			must(t, err)
			defer r.Close()
			if _, err := r.Graph(); !errors.Is(err, tt.want) {
				t.Fatalf("Graph: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBlobCacheBounded(t *testing.T) {
	c := newBlobCache(100)
	h := func(i int) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%064d", i)} }
	for i := 0; i < 10; i++ {
		c.put(h(i), make([]byte, 20))
	}
	if c.used > 100 {
		t.Errorf("cache holds %d bytes, budget 100", c.used)
	}
	if _, ok := c.get(h(0)); ok {
		t.Error("oldest entry not evicted")
	}
	if _, ok := c.get(h(9)); !ok {
		t.Error("newest entry evicted")
	}
	c.put(h(99), make([]byte, 26)) // over a quarter of the budget: not cached
	if _, ok := c.get(h(99)); ok {
		t.Error("big blob cached")
	}
}

// The graph walk's verified manifests are served from the cache: after
// Graph, the manifest bytes on disk are no longer read.
func TestGraphUsesCache(t *testing.T) {
	path, img := writeTestBundle(t)
	r, err := Open(path)
	must(t, err)
	defer r.Close()
	_, err = r.Graph()
	must(t, err)
	h, _ := img.Digest()
	flipByte(t, path, r, h)
	if _, err := r.ReadManifest(h); err != nil {
		t.Errorf("ReadManifest after Graph read the disk again: %v", err)
	}
	r2, err := Open(path, WithCacheSize(0))
	must(t, err)
	defer r2.Close()
	if _, err := r2.ReadManifest(h); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("uncached ReadManifest of a tampered manifest: %v", err)
	}
}

// ReadBlobOnce verifies like ReadBlob but keeps nothing: after it, the
// bytes on disk are read (and checked) again.
func TestReadBlobOnceNotCached(t *testing.T) {
	path, img := writeTestBundle(t)
	r, err := Open(path)
	must(t, err)
	defer r.Close()
	layers, _ := img.Layers()
	h, _ := layers[0].Digest()
	a, err := r.ReadBlobOnce(h, 1<<30)
	must(t, err)
	if n, _ := r.Stat(h); int64(len(a)) != n {
		t.Fatalf("ReadBlobOnce returned %d bytes of %d", len(a), n)
	}
	flipByte(t, path, r, h)
	if _, err := r.ReadBlobOnce(h, 1<<30); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("ReadBlobOnce of a tampered blob: %v, want ErrDigestMismatch", err)
	}
	if _, err := r.ReadBlob(h, 1<<30); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("ReadBlob after ReadBlobOnce was served from a cache: %v, want ErrDigestMismatch", err)
	}
}

func TestInventoryTooLarge(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "b.tar")
	w, err := Create(dst)
	must(t, err)
	_, err = w.PutInventory(sampleInventory())
	must(t, err)
	must(t, w.Commit(context.Background(), nil))
	l := DefaultLimits()
	l.MaxInventorySize = 100
	r, err := Open(dst, WithLimits(l))
	must(t, err)
	defer r.Close()
	if _, err := r.Inventory(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Inventory over its limit: %v, want ErrTooLarge", err)
	}
}
