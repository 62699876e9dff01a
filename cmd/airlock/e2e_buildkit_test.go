package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/internal/testenv"
)

const buildxBuilder = "https://github.com/docker/buildx@v0.17.0"

// buildxIndex is an image index shaped as `docker buildx build --provenance`
// pushes it: one linux/amd64 image and, beside it, an attestation manifest
// (platform unknown/unknown, vnd.docker.reference.type:
// attestation-manifest) whose one in-toto layer holds an SLSA v0.2
// provenance statement about the platform manifest.
func buildxIndex(t *testing.T, builder string) (v1.ImageIndex, v1.Image) {
	t.Helper()
	img := ociImage(t, "amd64", 16<<10, 1)
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	st, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": "https://slsa.dev/provenance/v0.2",
		"subject":       []any{map[string]any{"name": "pkg:docker/acme/bk@v1?platform=linux%2Famd64", "digest": map[string]string{"sha256": d.Hex}}},
		"predicate": map[string]any{
			"builder":   map[string]any{"id": builder},
			"buildType": "https://mobyproject.org/buildkit@v1",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	att, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "unknown", Architecture: "unknown", RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		t.Fatal(err)
	}
	att = mutate.ConfigMediaType(mutate.MediaType(att, types.OCIManifestSchema1), types.OCIConfigJSON)
	att, err = mutate.Append(att, mutate.Addendum{
		Layer:       static.NewLayer(st, "application/vnd.in-toto+json"),
		Annotations: map[string]string{"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ii := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	ii = mutate.AppendManifests(ii,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": d.String()},
		}})
	return ii, img
}

// TestE2EBuildKitProvenanceCoveredByIndexSignature: provenance BuildKit put
// inside an index counts when real cosign signed that index with the
// policy's key, and only then: not with another key, not when the index is
// unsigned, not when the statement was changed (which changes the index
// digest, so the signature, moved onto the new index, no longer holds).
func TestE2EBuildKitProvenanceCoveredByIndexSignature(t *testing.T) {
	testenv.Tool(t, "cosign")
	reg := testenv.StartRegistry(t)
	dir := t.TempDir()
	env := []string{"COSIGN_PASSWORD=", "COSIGN_YES=true", "HOME=" + dir, "SIGSTORE_NO_CACHE=1", "TUF_ROOT=" + filepath.Join(dir, "tuf")}
	testenv.Run(t, dir, env, "cosign", "generate-key-pair")
	if err := os.Mkdir(filepath.Join(dir, "other"), 0o700); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, filepath.Join(dir, "other"), env, "cosign", "generate-key-pair")

	push := func(repo string, ii v1.ImageIndex) (string, v1.Hash) {
		ref, err := name.ParseReference(reg.Host+"/"+repo+":v1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(ref, ii); err != nil {
			t.Fatal(err)
		}
		d, err := ii.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return ref.Name(), d
	}
	sign := func(repo string, d v1.Hash) {
		testenv.Run(t, dir, env, "cosign", "sign", "--key", filepath.Join(dir, "cosign.key"), "--tlog-upload=false",
			"--allow-insecure-registry", "--allow-http-registry", "-y", reg.Host+"/"+repo+"@"+d.String())
	}

	signedIdx, _ := buildxIndex(t, buildxBuilder)
	signed, signedDig := push("acme/bk-signed", signedIdx)
	sign("acme/bk-signed", signedDig)

	unsignedIdx, _ := buildxIndex(t, buildxBuilder)
	unsigned, _ := push("acme/bk-unsigned", unsignedIdx)

	// Tampered: same build, statement rewritten to name another builder,
	// and the signature of the original index copied onto the new one.
	tamperedIdx, _ := buildxIndex(t, buildxBuilder)
	tampered, tamperedDig := push("acme/bk-tampered", tamperedIdx)
	sign("acme/bk-tampered", tamperedDig)
	evilIdx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex))
	{
		im, err := tamperedIdx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		plat, err := tamperedIdx.Image(im.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		st := `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[{"name":"x","digest":{"sha256":"` + im.Manifests[0].Digest.Hex + `"}}],"predicate":{"builder":{"id":"` + buildxBuilder + `"},"buildType":"https://evil.example/tampered"}}`
		att, err := mutate.Append(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), mutate.Addendum{
			Layer: static.NewLayer([]byte(st), "application/vnd.in-toto+json"), Annotations: map[string]string{"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"},
		})
		if err != nil {
			t.Fatal(err)
		}
		evilIdx = mutate.AppendManifests(evilIdx,
			mutate.IndexAddendum{Add: plat, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
			mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
				Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": im.Manifests[0].Digest.String()}}})
	}
	_, evilDig := push("acme/bk-tampered", evilIdx)
	{
		repo, err := name.NewRepository(reg.Host+"/acme/bk-tampered", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := remote.Image(repo.Tag("sha256-" + tamperedDig.Hex + ".sig"))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(repo.Tag("sha256-"+evilDig.Hex+".sig"), sig); err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(repo.Tag("v1"), evilIdx); err != nil {
			t.Fatal(err)
		}
	}

	bundlePath := filepath.Join(dir, "bundle.tar")
	exportNoTUF(t, reg.Host, bundlePath, signed, unsigned, tampered)
	policy := func(key, builder string) string {
		p := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(key+builder)+".yaml")
		doc := `apiVersion: airlock.dev/v1
kind: Policy
rules:
  - name: buildx
    images: ["**"]
    signers: [{key: ` + key + `}]
    attestations:
      - name: provenance
        predicateType: https://slsa.dev/provenance/v0.2
        condition: predicate.builder.id == "` + builder + `" && predicate.buildType == "https://mobyproject.org/buildkit@v1"
`
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	type result struct {
		Verdict string
		Rules   []struct {
			Requirement string
			Satisfied   bool
			Reason      string
		}
	}
	verdicts := func(pol string) map[string]result {
		stdout, stderr, code := airlockRun(t, "verify", "--format", "json", "--trust-dir", filepath.Join(dir, "trust"), "--policy", pol, bundlePath)
		if code == exitError || code == exitIntegrity {
			t.Fatalf("verify exit %d: %s", code, stderr)
		}
		var rep struct {
			Images []struct {
				Reference string
				result
			}
		}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("report: %v\n%s", err, stdout)
		}
		out := map[string]result{}
		for _, im := range rep.Images {
			out[im.Reference] = im.result
		}
		return out
	}
	provenance := func(r result) (bool, string) {
		for _, rr := range r.Rules {
			if rr.Requirement == "attestation provenance" {
				return rr.Satisfied, rr.Reason
			}
		}
		return false, "no provenance requirement"
	}

	right := verdicts(policy("cosign.pub", buildxBuilder))
	if r := right[signed]; r.Verdict != "pass" {
		t.Fatalf("signed index, right key and builder: %+v", r)
	} else if _, why := provenance(r); !strings.Contains(why, "covered by the index signature of key cosign.pub") {
		t.Errorf("provenance reason %q does not name the index signature", why)
	}
	for ref, want := range map[string]string{
		unsigned: "no verified signature on the image index",
		tampered: "subject mismatch: the signed payload is for docker-manifest-digest sha256:" + tamperedDig.Hex,
	} {
		r := right[ref]
		ok, why := provenance(r)
		if r.Verdict == "pass" || ok || !strings.Contains(why, want) {
			t.Errorf("%s: verdict %s, provenance %v %q, want refused (%q)", ref, r.Verdict, ok, why, want)
		}
	}
	if r := verdicts(policy("other/cosign.pub", buildxBuilder))[signed]; r.Verdict == "pass" {
		t.Errorf("signed index passed a policy naming another key: %+v", r)
	} else if ok, why := provenance(r); ok || !strings.Contains(why, "no signature on the image index sha256:"+signedDig.Hex[:12]+" by an allowed signer vouches for it (cosign-signature") {
		t.Errorf("wrong key: provenance %v %q", ok, why)
	}
	if r := verdicts(policy("cosign.pub", "https://evil.example/builder"))[signed]; r.Verdict == "pass" {
		t.Errorf("signed index passed a policy naming another builder: %+v", r)
	}
}
