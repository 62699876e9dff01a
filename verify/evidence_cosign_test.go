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
)

// cosignBinary finds the real cosign `make tools` installs (./tools/cosign)
// or one on PATH.
func cosignBinary(t *testing.T) string {
	t.Helper()
	if p, err := filepath.Abs("../tools/cosign"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("cosign"); err == nil {
		return p
	}
	t.Skip("real cosign not installed (run `make tools`); real-cosign evidence not checked")
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

// TestRealCosign checks what the real cosign v2 writes, signed with a key
// and no transparency log (the only way it signs offline): legacy .sig and
// .att layers, read back from a loopback registry exactly as discovery will.
func TestRealCosign(t *testing.T) {
	bin := cosignBinary(t)
	if testing.Short() {
		t.Skip("short mode")
	}
	dir := t.TempDir()
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
			kind := KindCosignSignature
			if suffix == ".att" {
				kind = KindCosignAttestation
			}
			evs = append(evs, Evidence{Kind: kind, Manifest: ok(m.Digest()).String(), Layer: i, Subject: digest,
				MediaType: string(d.MediaType), Annotations: d.Annotations, Data: data})
		}
		return evs
	}

	t.Run("sign", func(t *testing.T) {
		if out, err := runCosign(t, bin, dir, "sign", "--key", "cosign.key", "--tlog-upload=false", "--yes", "--allow-insecure-registry", imageRef); err != nil {
			t.Fatalf("cosign sign: %v\n%s", err, out)
		}
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
		if out, err := runCosign(t, bin, dir, "attest", "--key", "cosign.key", "--tlog-upload=false", "--yes", "--allow-insecure-registry",
			"--type", "slsaprovenance1", "--predicate", pred, imageRef); err != nil {
			t.Fatalf("cosign attest: %v\n%s", err, out)
		}
		evs := legacy(t, ".att")
		if len(evs) != 1 {
			t.Fatalf("%d attestation layers", len(evs))
		}
		f := Check(evs[0], tm, Options{})
		if f.Status != StatusVerified || f.Signer.Key != "cosign.pub" || f.PredicateType != "https://slsa.dev/provenance/v1" || !contains(f.Covers, digest) {
			t.Fatalf("real cosign attestation: %+v", f)
		}
	})
	t.Run("sign new bundle format", func(t *testing.T) {
		out, err := runCosign(t, bin, dir, "sign", "--new-bundle-format", "--key", "cosign.key", "--tlog-upload=false", "--yes", "--allow-insecure-registry", imageRef)
		if err != nil {
			t.Skipf("cosign sign --new-bundle-format does not work offline here: %v\n%s", err, out)
		}
		pred := filepath.Join(dir, "sbom.spdx.json")
		if err := os.WriteFile(pred, []byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app","packages":[]}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := runCosign(t, bin, dir, "attest", "--new-bundle-format", "--key", "cosign.key", "--tlog-upload=false", "--yes", "--allow-insecure-registry",
			"--type", "spdxjson", "--predicate", pred, imageRef); err != nil {
			t.Fatalf("cosign attest --new-bundle-format: %v\n%s", err, out)
		}
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
			f := Check(Evidence{Kind: KindSigstoreBundle, Manifest: d.Digest.String(), Subject: digest, ArtifactType: mf.ArtifactType,
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
