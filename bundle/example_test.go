package bundle_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/airlock-oci/airlock/bundle"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Write a bundle with one small artifact and the inventory, then read it back.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bundle.tar")

	w, err := bundle.Create(path)
	if err != nil {
		panic(err)
	}
	pem := []byte("-----BEGIN PUBLIC KEY-----\n...")
	key, _ := w.PutArtifact(bundle.ArtifactTypePublicKey,
		[]bundle.File{{Name: "key.pub", MediaType: "application/x-pem-file", Data: pem}}, nil)
	key.Annotations = map[string]string{bundle.AnnotationRole: bundle.RoleTrust}
	w.AddIndex(key)

	inv := bundle.NewInventory(bundle.Exporter{Name: "airlock", Version: "v0.1.0"})
	inv.Trust = []bundle.TrustSource{{Name: "release-key", Kind: bundle.TrustKindPublicKey, Manifest: key.Digest.String(),
		Files: []bundle.TrustFile{{Path: "key.pub", Digest: digestOf(pem), Size: int64(len(pem))}}}}
	if _, err := w.PutInventory(inv); err != nil {
		panic(err)
	}
	if err := w.Commit(context.Background(), nil); err != nil {
		panic(err)
	}

	r, err := bundle.Open(path)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	for _, d := range r.Index().Manifests {
		fmt.Println(d.Annotations[bundle.AnnotationRole], d.ArtifactType)
	}
	got, err := r.Inventory()
	if err != nil {
		panic(err)
	}
	fmt.Println(got.Trust[0].Name, got.Trust[0].Kind)
	fmt.Println(r.VerifyBlobs(context.Background(), nil))
	// Output:
	// trust application/vnd.airlock.trust.public-key.v1
	// inventory application/vnd.airlock.inventory.v1+json
	// release-key public-key
	// <nil>
}

// A large blob is reserved and streamed at Commit by the Fetcher, which
// usually reads from a registry; here from memory.
func ExampleWriter_Reserve() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bundle.tar")
	layer := bytes.Repeat([]byte("layer "), 1000)
	h, size, _ := v1.SHA256(bytes.NewReader(layer))

	w, _ := bundle.Create(path, bundle.WithConcurrency(8))
	if err := w.Reserve(v1.Descriptor{MediaType: types.OCILayer, Size: size, Digest: h}); err != nil {
		panic(err)
	}
	fetch := func(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layer)), nil
	}
	if err := w.Commit(context.Background(), fetch); err != nil {
		panic(err)
	}

	r, _ := bundle.Open(path)
	defer r.Close()
	n, ok := r.Stat(h)
	fmt.Println(n, ok)
	g, _ := r.Graph()
	fmt.Println(len(g.Orphans), "orphan") // nothing in index.json points at it
	// Output:
	// 6000 true
	// 1 orphan
}

func digestOf(b []byte) string {
	h, _, _ := v1.SHA256(bytes.NewReader(b))
	return h.String()
}
