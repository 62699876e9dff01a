package airlock

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/airlock-oci/airlock/internal/sign"
	"github.com/airlock-oci/airlock/verify"
)

// Memory must not grow with the number of images beyond the inventory
// itself: what a verification keeps while it runs (the reader's index, the
// content graph, the reconciled images, the report) is a few KiB of
// metadata per image, never the blobs or the evidence it read. The test
// verifies catalogues of n and 4n signed images (each with a legacy
// signature, a legacy attestation and a Sigstore-bundle signature, and a
// 128 KiB layer of its own) and bounds the heap kept per extra image. Heap
// in use after a collection is a count of bytes, not a timing: it does not
// depend on the machine's load.
func TestVerifyMemoryPerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and verifies a catalogue of 96 images")
	}
	const n, ownLayer = 24, 128 << 10
	// What a verification may keep per image. Measured: about 20 KiB (the
	// parsed manifests, the graph's nodes, the report's findings). Keeping
	// one image's layer, or its evidence payloads, exceeds it.
	const bound = 48 << 10

	ctx := context.Background()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "cat.pub")
	refs, err := sign.PushCatalogue(ctx, host, 4*n, 64<<10, 1, ownLayer, 4, keyFile)
	if err != nil {
		t.Fatal(err)
	}

	bundles := map[int]string{}
	for _, k := range []int{n, 4 * n} {
		bundles[k] = filepath.Join(dir, fmt.Sprintf("cat-%d.tar", k))
		if _, err := Export(ctx, bundles[k], refs[:k], WithoutTUF(), WithInsecureRegistries(host)); err != nil {
			t.Fatalf("export of %d images: %v", k, err)
		}
	}
	pol, err := verify.PolicyFromFlags(verify.Flags{Key: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	o, err := newOptions([]Option{WithPolicy(pol, "flags"), WithTrustDir(filepath.Join(dir, "trust"))})
	if err != nil {
		t.Fatal(err)
	}
	kept := func(path string) (int64, *verified) {
		before := liveHeap()
		v, err := o.verifyBundle(ctx, path, false)
		if err != nil {
			t.Fatal(err)
		}
		if v.err() != nil {
			t.Fatalf("%s did not pass: %v", path, v.err())
		}
		if err := v.report.WriteJSON(io.Discard); err != nil {
			t.Fatal(err)
		}
		after := liveHeap()
		v.reader.Close()
		return after - before, v
	}
	kept(bundles[n]) // lazily initialised packages (protobuf, sigstore) settle first
	small, vs := kept(bundles[n])
	large, vl := kept(bundles[4*n])
	per := (large - small) / (3 * n)
	t.Logf("heap kept by a verification: %d images %d KiB, %d images %d KiB: %d bytes per extra image (bound %d)", n, small>>10, 4*n, large>>10, per, bound)
	if per > bound {
		t.Errorf("a verification keeps %d bytes per image, over %d: something per image (blobs, evidence payloads, parsed trust material?) is retained", per, bound)
	}
	if len(vs.report.Images) != n || len(vl.report.Images) != 4*n {
		t.Fatalf("reports judged %d and %d images, want %d and %d", len(vs.report.Images), len(vl.report.Images), n, 4*n)
	}
	for _, img := range vl.report.Images {
		if img.Verdict != verify.VerdictPass || len(img.Findings) != 3 {
			t.Fatalf("%s: verdict %s with %d findings, want pass with 3", img.Reference, img.Verdict, len(img.Findings))
		}
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
