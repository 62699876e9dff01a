package bundle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// FuzzOpen feeds arbitrary bytes to Open and, when they open, to every
// reading method: nothing may panic, and every failure must be a bundle
// error. Seeds are whole archives of several KiB, so minimising a new input
// takes a while: run with -fuzzminimizetime=5s.
func FuzzOpen(f *testing.F) {
	// A small but complete bundle: image, artifact, inventory.
	path := filepath.Join(f.TempDir(), "seed.tar")
	src := newSource()
	w, err := Create(path)
	must(f, err)
	w.AddIndex(withRef(src.putImage(f, w, randomImage(f, 64, 1)), "r/a:1"))
	_, err = w.PutInventory(sampleInventory())
	must(f, err)
	must(f, w.Commit(context.Background(), src.fetch))
	good, err := os.ReadFile(path)
	must(f, err)
	f.Add(good)
	f.Add(base(f))
	f.Add(base(f, reg("../x", []byte("x"))))
	f.Add(good[:len(good)/2])
	dir := f.TempDir()
	limits := Limits{MaxEntries: 64, MaxIndexSize: 1 << 16, MaxManifestSize: 1 << 16, MaxInventorySize: 1 << 16, MaxDepth: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(p, WithLimits(limits))
		if err != nil {
			if !errors.Is(err, ErrInvalidBundle) {
				t.Fatalf("Open error does not wrap ErrInvalidBundle: %v", err)
			}
			return
		}
		defer r.Close()
		if _, err := r.Graph(); err != nil && !errors.Is(err, ErrInvalidBundle) {
			t.Fatalf("Graph error does not wrap ErrInvalidBundle: %v", err)
		}
		if _, err := r.Inventory(); err != nil && !errors.Is(err, ErrInvalidBundle) && !errors.Is(err, ErrNotFound) {
			t.Fatalf("Inventory error: %v", err)
		}
		if err := r.VerifyBlobs(context.Background(), nil); err != nil && !errors.Is(err, ErrInvalidBundle) {
			t.Fatalf("VerifyBlobs error does not wrap ErrInvalidBundle: %v", err)
		}
	})
}

// FuzzInventory: ParseInventory never panics, and what it accepts encodes
// and parses back to an accepted inventory.
func FuzzInventory(f *testing.F) {
	good, err := sampleInventory().Marshal()
	must(f, err)
	f.Add(good)
	f.Add([]byte(`{"schemaVersion":1,"mediaType":"application/vnd.airlock.inventory.v1+json"}`))
	f.Add([]byte(`{"schemaVersion":1,"mediaType":"application/vnd.airlock.inventory.v1+json","trust":[{"name":"x","kind":"tuf","manifest":"sha256:","files":[{"path":"../a"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := ParseInventory(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, err := inv.Marshal()
		if err != nil {
			t.Fatalf("accepted inventory does not marshal: %v", err)
		}
		if _, err := ParseInventory(again); err != nil {
			t.Fatalf("re-encoded inventory refused: %v", err)
		}
	})
}

// FuzzManifestParse: manifest and index parsing never panics, and anything
// accepted has only well-formed sha256 descriptors.
func FuzzManifestParse(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}`), uint8(0))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"a/b","size":1,"digest":"sha512:aa"}]}`), uint8(1))
	mts := []types.MediaType{types.OCIManifestSchema1, types.OCIImageIndex, types.DockerManifestSchema2, types.DockerManifestList}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		mt := mts[int(which)%len(mts)]
		p, err := parseNode(mt, data)
		if err != nil {
			if !errors.Is(err, ErrInvalidBundle) {
				t.Fatalf("parse error does not wrap ErrInvalidBundle: %v", err)
			}
			return
		}
		for _, c := range p.children() {
			if err := checkHash(c.desc.Digest); err != nil || c.desc.Size < 0 {
				t.Fatalf("accepted a bad descriptor %+v", c.desc)
			}
		}
	})
}
