package airlock_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/trust"
)

// The whole round trip as a library: export on the connected side, verify
// offline and import on the air-gapped side.
func Example() {
	ctx := context.Background()
	w, err := demo.NewWorld(ctx, demo.Options{}) // a vendor registry, a virtual Sigstore, a TUF repository
	if err != nil {
		panic(err)
	}
	defer w.Close()
	dir, _ := os.MkdirTemp("", "airlock-example-")
	defer os.RemoveAll(dir)

	// Connected side.
	bundlePath := filepath.Join(dir, "bundle.tar")
	res, err := airlock.Export(ctx, bundlePath, []string{w.Image},
		airlock.WithTUF(trust.Source{Name: "vendor", URL: w.TUF.URL, Root: w.TUFRoot}))
	if err != nil {
		panic(err)
	}
	fmt.Println("exported", len(res.Images), "image with", res.Images[0].Artifacts)

	// Air-gapped side: pin the vendor's TUF root once, then verify and import.
	store, _ := trust.OpenStore(filepath.Join(dir, "trust"))
	if err := store.Init("vendor", w.TUFRoot, "example"); err != nil {
		panic(err)
	}
	policy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policy, []byte(demo.Policy), 0o644)
	opts := []airlock.Option{airlock.WithPolicyFile(policy), airlock.WithTrustDir(filepath.Join(dir, "trust"))}
	rep, err := airlock.Verify(ctx, bundlePath, opts...)
	if err != nil {
		panic(err)
	}
	fmt.Println("verdict:", rep.Verdict)
	imp, err := airlock.Import(ctx, bundlePath, w.TargetHost()+"/mirror", opts...)
	if err != nil {
		panic(err)
	}
	fmt.Println("imported with", len(imp.Images[0].Referrers), "referrers and", len(imp.Images[0].Tags), "tags")
	// Output:
	// exported 1 image with map[cosign-attestation:1 cosign-signature:2 sigstore-bundle:2]
	// verdict: pass
	// imported with 2 referrers and 4 tags
}

func ExampleMapReference() {
	src, _ := bundle.ParseName("nginx:1.27")
	prefix, _ := name.NewRepository("registry.internal/mirror")
	for _, dropHost := range []bool{false, true} {
		r, _ := airlock.MapReference(src, prefix, dropHost)
		fmt.Println(r.Name())
	}
	// Output:
	// registry.internal/mirror/docker.io/library/nginx
	// registry.internal/mirror/library/nginx
}
