package registry

import (
	"context"
	"maps"
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

// TestRealCosign3ReferrersAPI discovers what real cosign v3 writes into a
// registry that has the OCI 1.1 referrers API (v3 then writes no fallback
// tag): Sigstore bundles by default, its experimental OCI 1.1 signature
// referrer, legacy tags, and signatures kept in another repository
// (COSIGN_REPOSITORY); mirrors it into a second registry with the API and
// lets cosign v3 verify the copy there.
func TestRealCosign3ReferrersAPI(t *testing.T) {
	if !testenv.Required() {
		t.Skip("slow (real cosign): runs with AIRLOCK_E2E=1 (make test)")
	}
	testenv.Tool(t, "cosign3")
	reg := newTestRegistry(t, true)
	dir := t.TempDir()
	env := []string{"COSIGN_PASSWORD=", "COSIGN_YES=true", "HOME=" + dir, "SIGSTORE_NO_CACHE=1", "TUF_ROOT=" + filepath.Join(dir, "tuf")}
	testenv.Run(t, dir, env, "cosign3", "generate-key-pair")
	for f, data := range map[string]string{
		"pred.json":               `{"buildDefinition":{"buildType":"x"},"runDetails":{"builder":{"id":"b"}}}`,
		"empty-trusted-root.json": `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`,
		"signing-config.json":     `{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json","caUrls":[],"oidcUrls":[],"rekorTlogUrls":[],"tsaUrls":[],"rekorTlogConfig":{"selector":"ANY"},"tsaConfig":{"selector":"ANY"}}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	defaults := []string{"--signing-config", filepath.Join(dir, "signing-config.json"), "--trusted-root", filepath.Join(dir, "empty-trusted-root.json")}
	legacy := []string{"--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false"}
	cosign := func(env []string, format []string, args ...string) {
		t.Helper()
		base := append([]string{"--key", filepath.Join(dir, "cosign.key"), "--allow-insecure-registry", "--allow-http-registry", "-y"}, format...)
		testenv.Run(t, dir, env, "cosign3", append(args[:1:1], append(base, args[1:]...)...)...)
	}

	idx, imgs := multiArch(t)
	repo := reg.repo("acme/app")
	if err := remote.WriteIndex(repo.Tag("v1"), idx); err != nil {
		t.Fatal(err)
	}
	idxDesc, armDesc := descOf(t, idx), descOf(t, imgs[1])
	idxRef, armRef := repo.Digest(idxDesc.Digest.String()).String(), repo.Digest(armDesc.Digest.String()).String()
	cosign(env, defaults, "sign", idxRef)
	cosign(env, defaults, "attest", "--type", "slsaprovenance1", "--predicate", filepath.Join(dir, "pred.json"), armRef)
	cosign(append(env, "COSIGN_EXPERIMENTAL=1"), legacy, "sign", "--registry-referrers-mode=oci-1-1", armRef)
	// Signatures kept in another repository.
	sigRepo := reg.repo("acme/signatures")
	cosign(append(env, "COSIGN_REPOSITORY="+sigRepo.String()), defaults, "sign", armRef)
	cosign(append(env, "COSIGN_REPOSITORY="+sigRepo.String()), legacy, "sign", idxRef)

	c := testClient(WithInsecureRegistries(reg.host))
	d, err := c.Discover(context.Background(), repo.Tag("v1"), DiscoverOptions{SignaturesFrom: []name.Repository{sigRepo}})
	if err != nil {
		t.Fatal(err)
	}
	checkNodes(t, d)
	want := map[string]int{
		"sigstore-bundle/referrers-api":  3, // sign on the index, attest and sign (other repository) on arm64
		"cosign-signature/referrers-api": 1, // the experimental OCI 1.1 signature
		"cosign-signature/legacy-tag":    1, // legacy signature in the other repository
		"buildkit-attestation/in-index":  2,
	}
	if got := kinds(d); !maps.Equal(got, want) {
		t.Errorf("discovered %v, want %v", got, want)
	}
	bundles := findAttached(d, armDesc.Digest, artifact.KindSigstoreBundle)
	var preds []string
	for _, b := range bundles {
		if b.Manifest.ArtifactType != MediaTypeSigstoreBundle03 {
			t.Errorf("bundle %s artifact type %q", b.Manifest.Digest, b.Manifest.ArtifactType)
		}
		preds = append(preds, b.PredicateTypes...)
	}
	slices.Sort(preds)
	if !slices.Equal(preds, []string{"https://sigstore.dev/cosign/sign/v1", "https://slsa.dev/provenance/v1"}) {
		t.Errorf("arm64 bundles carry predicate types %v", preds)
	}
	for _, s := range findAttached(d, armDesc.Digest, artifact.KindCosignSignature) {
		if s.Manifest.ArtifactType != "application/vnd.dev.cosign.artifact.sig.v1+json" {
			t.Errorf("OCI 1.1 signature artifact type %q", s.Manifest.ArtifactType)
		}
	}

	// The copy in a registry with the referrers API verifies with cosign v3
	// as a user runs it (its defaults), and with a wrong key it does not.
	dst := newTestRegistry(t, true)
	target := dst.repo("mirror/app")
	mirror(t, c, d, target, "v1")
	back, err := c.Discover(context.Background(), target.Tag("v1"), DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Root.Digest != idxDesc.Digest || !slices.Equal(attSet(back), attSet(d)) {
		t.Fatalf("mirror differs: %v vs %v", kinds(back), kinds(d))
	}
	verify := func(pub string, args ...string) error {
		base := []string{"--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry"}
		_, err := testenv.RunErr(dir, env, testenv.Tool(t, "cosign3"), append(args[:1:1], append(base, args[1:]...)...)...)
		return err
	}
	pub := filepath.Join(dir, "cosign.pub")
	for _, args := range [][]string{
		{"verify", target.Digest(idxDesc.Digest.String()).String()},
		{"verify", target.Digest(armDesc.Digest.String()).String()},
		{"verify-attestation", "--type", "slsaprovenance1", target.Digest(armDesc.Digest.String()).String()},
	} {
		if err := verify(pub, args...); err != nil {
			t.Errorf("cosign v3 %v on the copy: %v", args, err)
		}
	}
	otherDir := t.TempDir()
	testenv.Run(t, otherDir, env, "cosign3", "generate-key-pair")
	if err := verify(filepath.Join(otherDir, "cosign.pub"), "verify", target.Digest(armDesc.Digest.String()).String()); err == nil {
		t.Error("cosign v3 verify of the copy passes with another key")
	}
}
