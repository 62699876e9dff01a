package verify

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/airlock-oci/airlock/artifact"
)

// cosignBinary finds a real cosign `make tools` installs (./tools/cosign for
// v2, ./tools/cosign3 for v3) or one on PATH under the same name. Under
// AIRLOCK_E2E=1 (make test) a missing one fails the test.
func cosignBinary(t *testing.T, tool string) string {
	t.Helper()
	if p, err := filepath.Abs("../tools/" + tool); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(tool); err == nil {
		return p
	}
	if os.Getenv("AIRLOCK_E2E") == "1" {
		t.Fatalf("real %s not installed: run `make test`, which installs it", tool)
	}
	t.Skipf("real %s not installed (run `make tools`); real-cosign evidence not checked", tool)
	return ""
}

func runCosign(t *testing.T, bin, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=", "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, "tuf"), "COSIGN_EXPERIMENTAL=0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cosignMajor is a cosign release and the flags that make it write each
// format with a key and no transparency log (the only way it signs offline).
type cosignMajor struct {
	tool string
	// legacy: .sig and .att tags.
	legacy []string
	// bundle: Sigstore bundles as OCI referrers; dir holds the files the
	// flags name (signing-config.json, empty-trusted-root.json).
	bundle func(dir string) []string
}

var cosignMajors = []cosignMajor{
	{
		tool:   "cosign", // v2.6.5: legacy by default
		legacy: []string{"--tlog-upload=false"},
		bundle: func(string) []string { return []string{"--new-bundle-format", "--tlog-upload=false"} },
	},
	{
		// v3.1.3: bundles and a signing config by default. Offline that is a
		// signing config naming no log (v3 refuses --tlog-upload=false with
		// a signing config); the legacy format needs both turned off.
		tool:   "cosign3",
		legacy: []string{"--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false"},
		bundle: func(dir string) []string {
			return []string{"--signing-config", filepath.Join(dir, "signing-config.json"), "--trusted-root", filepath.Join(dir, "empty-trusted-root.json")}
		},
	},
}

// offlineSigningConfig names no Fulcio, transparency log or timestamp
// authority: cosign v3 then signs with a key and needs no network.
const offlineSigningConfig = `{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json","caUrls":[],"oidcUrls":[],"rekorTlogUrls":[],"tsaUrls":[],"rekorTlogConfig":{"selector":"ANY"},"tsaConfig":{"selector":"ANY"}}`

// TestRealCosign checks what real cosign v2 and v3 write, signed with a key
// and no transparency log: legacy .sig and .att layers and Sigstore bundle
// referrers, read back from a loopback registry with the OCI 1.1 referrers
// API exactly as discovery will.
func TestRealCosign(t *testing.T) {
	for _, m := range cosignMajors {
		t.Run(m.tool, func(t *testing.T) { testRealCosign(t, m) })
	}
}

func testRealCosign(t *testing.T, m cosignMajor) {
	bin := cosignBinary(t, m.tool)
	if testing.Short() {
		t.Skip("short mode")
	}
	dir := t.TempDir()
	for f, data := range map[string]string{
		"signing-config.json":     offlineSigningConfig,
		"empty-trusted-root.json": `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cosign := func(t *testing.T, format []string, args ...string) {
		t.Helper()
		full := append(append(args[:1:1], "--key", "cosign.key", "--yes", "--allow-insecure-registry"), format...)
		if out, err := runCosign(t, bin, dir, append(full, args[1:]...)...); err != nil {
			t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := runCosign(t, bin, dir, "generate-key-pair"); err != nil {
		t.Fatalf("generate-key-pair: %v\n%s", err, out)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(ok(os.ReadFile(filepath.Join(dir, "cosign.pub"))))
	if err != nil {
		t.Fatal(err)
	}
	tm := &TrustMaterial{Keys: []Key{{Name: "cosign.pub", Public: pub}}}

	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img := ok(random.Image(256, 1))
	ref := ok(name.ParseReference(host + "/team/app:v1"))
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	digest := ok(img.Digest()).String()
	imageRef := host + "/team/app@" + digest
	repo := ref.Context()

	legacy := func(t *testing.T, suffix string) []Evidence {
		t.Helper()
		tag := repo.Tag(strings.Replace(digest, ":", "-", 1) + suffix)
		m, err := remote.Image(tag)
		if err != nil {
			t.Fatalf("reading %s: %v", tag, err)
		}
		mf := ok(m.Manifest())
		var evs []Evidence
		for i, d := range mf.Layers {
			l := ok(m.LayerByDigest(d.Digest))
			rc := ok(l.Compressed())
			data := ok(io.ReadAll(rc))
			rc.Close()
			kind := artifact.KindCosignSignature
			if suffix == ".att" {
				kind = artifact.KindCosignAttestation
			}
			evs = append(evs, Evidence{Kind: kind, Manifest: ok(m.Digest()).String(), Layer: i, Subject: digest,
				MediaType: string(d.MediaType), Annotations: d.Annotations, Data: data})
		}
		return evs
	}

	t.Run("sign", func(t *testing.T) {
		cosign(t, m.legacy, "sign", imageRef)
		evs := legacy(t, ".sig")
		if len(evs) != 1 {
			t.Fatalf("%d signature layers", len(evs))
		}
		f := Check(evs[0], tm, Options{})
		if f.Status != StatusVerified || f.Signer == nil || f.Signer.Key != "cosign.pub" || !contains(f.Covers, digest) ||
			!strings.Contains(f.Reason, "no transparency log vouches for this signature") {
			t.Fatalf("real cosign signature: %+v", f)
		}
		other := evs[0]
		other.Subject = digestOf("not this image")
		if f := Check(other, tm, Options{}); f.Status != StatusFailed {
			t.Errorf("real signature accepted for another digest: %+v", f)
		}
	})
	t.Run("attest", func(t *testing.T) {
		pred := filepath.Join(dir, "provenance.json")
		if err := os.WriteFile(pred, []byte(`{"buildDefinition":{"buildType":"https://example/build/v1","externalParameters":{}},"runDetails":{"builder":{"id":"https://builder.example"}}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		cosign(t, m.legacy, "attest", "--type", "slsaprovenance1", "--predicate", pred, imageRef)
		evs := legacy(t, ".att")
		if len(evs) != 1 {
			t.Fatalf("%d attestation layers", len(evs))
		}
		f := Check(evs[0], tm, Options{})
		if f.Status != StatusVerified || f.Signer.Key != "cosign.pub" || f.PredicateType != "https://slsa.dev/provenance/v1" || !contains(f.Covers, digest) {
			t.Fatalf("real cosign attestation: %+v", f)
		}
	})
	t.Run("bundle format", func(t *testing.T) {
		cosign(t, m.bundle(dir), "sign", imageRef)
		pred := filepath.Join(dir, "sbom.spdx.json")
		if err := os.WriteFile(pred, []byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app","packages":[]}`), 0o600); err != nil {
			t.Fatal(err)
		}
		cosign(t, m.bundle(dir), "attest", "--type", "spdxjson", "--predicate", pred, imageRef)
		preds := map[string]bool{}
		idx, err := remote.Referrers(repo.Digest(digest))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range ok(idx.IndexManifest()).Manifests {
			m := ok(remote.Image(repo.Digest(d.Digest.String())))
			mf := ok(m.Manifest())
			if mf.ArtifactType != "application/vnd.dev.sigstore.bundle.v0.3+json" {
				continue
			}
			l := ok(m.LayerByDigest(mf.Layers[0].Digest))
			rc := ok(l.Compressed())
			data := ok(io.ReadAll(rc))
			rc.Close()
			n++
			f := Check(Evidence{Kind: artifact.KindSigstoreBundle, Manifest: d.Digest.String(), Subject: digest, ArtifactType: mf.ArtifactType,
				MediaType: string(mf.Layers[0].MediaType), Annotations: mf.Layers[0].Annotations, Data: data}, tm, Options{})
			if f.Status != StatusVerified || f.Signer.Key != "cosign.pub" || !contains(f.Covers, digest) {
				t.Errorf("real cosign bundle: %+v", f)
			}
			preds[f.PredicateType] = true
		}
		if n != 2 || !preds["https://sigstore.dev/cosign/sign/v1"] || !preds["https://spdx.dev/Document"] {
			t.Fatalf("want the signature and the SPDX attestation as bundle referrers, got %d: %v", n, preds)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		evs := legacy(t, ".sig")
		e := newEnv(t)
		f := Check(evs[0], &TrustMaterial{Keys: []Key{{Name: "other.pub", Public: &e.otherKey.PublicKey}}}, Options{})
		if f.Status != StatusFailed {
			t.Fatalf("verified with the wrong key: %+v", f)
		}
	})
}
