package registry

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/internal/testenv"
)

// TestRealRegistryAndCosign discovers what real cosign wrote into a real
// distribution registry (no referrers API: Sigstore bundles go to the
// fallback tag with artifactType "empty"), mirrors it with this package into
// a second real registry, and lets cosign verify the copy.
func TestRealRegistryAndCosign(t *testing.T) {
	if !testenv.Required() {
		t.Skip("slow (real registry and cosign): runs with AIRLOCK_E2E=1 (make test)")
	}
	testenv.Tool(t, "cosign")
	src, dst := testenv.StartRegistry(t), testenv.StartRegistry(t)
	dir := t.TempDir()
	env := []string{"COSIGN_PASSWORD=", "COSIGN_YES=true", "HOME=" + dir, "SIGSTORE_NO_CACHE=1", "TUF_ROOT=" + filepath.Join(dir, "tuf")}
	testenv.Run(t, dir, env, "cosign", "generate-key-pair")
	key, pub := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	pred := filepath.Join(dir, "pred.json")
	if err := os.WriteFile(pred, []byte(`{"buildDefinition":{"buildType":"x"},"runDetails":{"builder":{"id":"b"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}

	idx, imgs := multiArch(t)
	repo, err := name.NewRepository(src.Host + "/acme/multi")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(repo.Tag("v1"), idx); err != nil {
		t.Fatal(err)
	}
	idxDesc, armDesc := descOf(t, idx), descOf(t, imgs[1])
	cosign := func(args ...string) {
		t.Helper()
		base := []string{"--key", key, "--tlog-upload=false", "--allow-insecure-registry", "--allow-http-registry", "-y"}
		testenv.Run(t, dir, env, "cosign", append(args[:1:1], append(base, args[1:]...)...)...)
	}
	cosign("sign", repo.Digest(idxDesc.Digest.String()).String())
	cosign("sign", "--new-bundle-format", repo.Digest(idxDesc.Digest.String()).String())
	cosign("attest", "--type", "slsaprovenance1", "--predicate", pred, repo.Digest(armDesc.Digest.String()).String())

	ctx := context.Background()
	c := testClient(WithInsecureRegistries(src.Host, dst.Host))
	d, err := c.Discover(ctx, repo.Tag("v1"), DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkNodes(t, d)
	want := map[string]int{
		"cosign-signature/legacy-tag": 1, "sigstore-bundle/fallback-tag": 1,
		"cosign-attestation/legacy-tag": 1, "buildkit-attestation/in-index": 2,
	}
	got := kinds(d)
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d, want %d (all %v)", k, got[k], n, got)
		}
	}
	if b := findAttached(d, idxDesc.Digest, artifact.KindSigstoreBundle); len(b) != 1 || b[0].Manifest.ArtifactType != MediaTypeSigstoreBundle03 || !slices.Contains(b[0].PredicateTypes, "https://sigstore.dev/cosign/sign/v1") {
		t.Errorf("bundle = %+v", b)
	}
	if a := findAttached(d, armDesc.Digest, artifact.KindCosignAttestation); len(a) != 1 || !slices.Contains(a[0].PredicateTypes, "https://slsa.dev/provenance/v1") {
		t.Errorf("attestation = %+v", a)
	}

	target, err := name.NewRepository(dst.Host + "/mirror/multi")
	if err != nil {
		t.Fatal(err)
	}
	mirror(t, c, d, target, "v1")
	back, err := c.Discover(ctx, target.Tag("v1"), DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Root.Digest != idxDesc.Digest || len(attSet(back)) != len(attSet(d)) {
		t.Fatalf("mirror differs: %v vs %v", kinds(back), kinds(d))
	}
	emptyRoot := filepath.Join(dir, "empty-trusted-root.json")
	if err := os.WriteFile(emptyRoot, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func(args ...string) {
		t.Helper()
		base := []string{"--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", "--trusted-root", emptyRoot}
		testenv.Run(t, dir, env, "cosign", append(args[:1:1], append(base, args[1:]...)...)...)
	}
	verify("verify", target.Digest(idxDesc.Digest.String()).String())
	verify("verify", "--new-bundle-format", target.Digest(idxDesc.Digest.String()).String())
	verify("verify-attestation", "--type", "slsaprovenance1", target.Digest(armDesc.Digest.String()).String())
}
