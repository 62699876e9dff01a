package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/airlock-oci/airlock/internal/testenv"
)

// airlockRun runs the CLI in-process and returns stdout, stderr and the exit code.
func airlockRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"airlock"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// cosignWorld is a real distribution registry holding images signed and
// attested by real cosign with a key pair, in both formats.
type cosignWorld struct {
	reg      *testenv.Registry
	dir      string
	key, pub string
	env      []string
	// app: single-platform; signed legacy and --new-bundle-format, attested both ways.
	app    string
	appDig v1.Hash
	// legacy: single-platform, legacy signature and attestation only.
	legacy    string
	legacyDig v1.Hash
	// multi: a two-platform index, signed (legacy) on the index.
	multi    string
	multiDig v1.Hash
}

const provenancePredicate = `{"buildDefinition":{"buildType":"https://airlock.example/build/v1","externalParameters":{"repository":"https://git.example/acme/app"}},"runDetails":{"builder":{"id":"https://ci.example/builder@v1"}}}`

func newCosignWorld(t *testing.T) *cosignWorld {
	t.Helper()
	testenv.Tool(t, "cosign")
	w := &cosignWorld{reg: testenv.StartRegistry(t), dir: t.TempDir()}
	w.env = []string{"COSIGN_PASSWORD=", "COSIGN_YES=true", "HOME=" + w.dir, "SIGSTORE_NO_CACHE=1", "TUF_ROOT=" + filepath.Join(w.dir, "tuf")}
	testenv.Run(t, w.dir, w.env, "cosign", "generate-key-pair")
	w.key, w.pub = filepath.Join(w.dir, "cosign.key"), filepath.Join(w.dir, "cosign.pub")
	pred := filepath.Join(w.dir, "provenance.json")
	if err := os.WriteFile(pred, []byte(provenancePredicate), 0o600); err != nil {
		t.Fatal(err)
	}

	push := func(repo string, idx bool) (string, v1.Hash) {
		ref, err := name.ParseReference(w.reg.Host+"/"+repo+":v1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if idx {
			var ii v1.ImageIndex = empty.Index
			for _, arch := range []string{"amd64", "arm64"} {
				img, _ := random.Image(64<<10, 2)
				ii = mutate.AppendManifests(ii, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
			}
			if err := remote.WriteIndex(ref, ii); err != nil {
				t.Fatal(err)
			}
			d, _ := ii.Digest()
			return ref.Name(), d
		}
		img, err := random.Image(128<<10, 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return ref.Name(), d
	}
	cosign := func(args ...string) {
		base := []string{"--key", w.key, "--tlog-upload=false", "--allow-insecure-registry", "--allow-http-registry", "-y"}
		testenv.Run(t, w.dir, w.env, "cosign", append(args[:1:1], append(base, args[1:]...)...)...)
	}
	w.app, w.appDig = push("acme/app", false)
	appRef := w.reg.Host + "/acme/app@" + w.appDig.String()
	cosign("sign", appRef)
	cosign("sign", "--new-bundle-format", appRef)
	cosign("attest", "--type", "slsaprovenance1", "--predicate", pred, appRef)
	cosign("attest", "--new-bundle-format", "--type", "slsaprovenance1", "--predicate", pred, appRef)

	w.legacy, w.legacyDig = push("acme/legacy", false)
	legacyRef := w.reg.Host + "/acme/legacy@" + w.legacyDig.String()
	cosign("sign", legacyRef)
	cosign("attest", "--type", "slsaprovenance", "--predicate", filepath.Join(w.dir, "provenance.json"), legacyRef)

	w.multi, w.multiDig = push("acme/multi", true)
	cosign("sign", w.reg.Host+"/acme/multi@"+w.multiDig.String())
	return w
}

// inventoryOf reads the inventory through the CLI's JSON inspect output.
func inspectJSON(t *testing.T, bundlePath string) map[string]any {
	t.Helper()
	out, errOut, code := airlockRun(t, "inspect", "-o", "json", bundlePath)
	if code != 0 {
		t.Fatalf("inspect exit %d: %s", code, errOut)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("inspect -o json: %v\n%s", err, out)
	}
	return v
}

func TestE2EExportReadByPeers(t *testing.T) {
	w := newCosignWorld(t)
	testenv.Tool(t, "skopeo")
	out := filepath.Join(t.TempDir(), "bundle.tar")
	stdout, stderr, code := airlockRun(t, "export", "--no-tuf", "--insecure-registry", w.reg.Host, "-o", out, w.app, w.legacy, w.multi)
	if code != 0 {
		t.Fatalf("export exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	// The inventory lists every cosign artifact: for app a legacy .sig, a
	// legacy .att and two Sigstore bundles (found through the fallback tag:
	// distribution has no referrers API).
	inv := inspectJSON(t, out)
	kinds := map[string]map[string]int{}
	for _, im := range inv["images"].([]any) {
		m := im.(map[string]any)
		k := map[string]int{}
		for _, a := range m["artifacts"].([]any) {
			am := a.(map[string]any)
			k[am["kind"].(string)+"/"+am["foundBy"].(string)]++
		}
		kinds[m["reference"].(string)] = k
	}
	wantApp := map[string]int{"cosign-signature/legacy-tag": 1, "cosign-attestation/legacy-tag": 1, "sigstore-bundle/fallback-tag": 2}
	if fmt.Sprint(kinds[w.app]) != fmt.Sprint(wantApp) {
		t.Errorf("app artifacts = %v, want %v", kinds[w.app], wantApp)
	}
	wantLegacy := map[string]int{"cosign-signature/legacy-tag": 1, "cosign-attestation/legacy-tag": 1}
	if fmt.Sprint(kinds[w.legacy]) != fmt.Sprint(wantLegacy) {
		t.Errorf("legacy artifacts = %v, want %v", kinds[w.legacy], wantLegacy)
	}

	// skopeo reads the archive as it is.
	insp := testenv.Run(t, "", nil, "skopeo", "inspect", "--raw", "oci-archive:"+out+":"+w.app)
	if !strings.Contains(insp, "application/vnd.oci.image.manifest.v1+json") && !strings.Contains(insp, "docker") {
		t.Fatalf("skopeo inspect: %s", insp)
	}
	// skopeo copies the single-platform image out with an identical digest.
	dst := w.reg.Host + "/copied/app:v1"
	testenv.Run(t, "", nil, "skopeo", "copy", "--dest-tls-verify=false", "oci-archive:"+out+":"+w.app, "docker://"+dst)
	ref, _ := name.ParseReference(dst, name.Insecure)
	desc, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != w.appDig {
		t.Fatalf("skopeo copied digest %s, want %s", desc.Digest, w.appDig)
	}

	// crane reads the multi-arch index out of the extracted layout unchanged.
	layoutDir := t.TempDir()
	testenv.Run(t, "", nil, "tar", "-xf", out, "-C", layoutDir)
	var idx v1.IndexManifest
	data, err := os.ReadFile(filepath.Join(layoutDir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range idx.Manifests {
		if m.Digest == w.multiDig && m.Annotations["org.opencontainers.image.ref.name"] == w.multi {
			found = true
		}
	}
	if !found {
		t.Fatalf("index.json has no entry for %s@%s", w.multi, w.multiDig)
	}
	// Copy the multi-arch index out of the layout with crane's library and
	// push it: the digest must survive (skopeo 1.9 would rewrite the index).
	lp, err := layout.FromPath(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	ii, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	multi, err := ii.ImageIndex(w.multiDig)
	if err != nil {
		t.Fatalf("multi-arch index not readable from the layout: %v", err)
	}
	if err := validate.Index(multi); err != nil {
		t.Fatalf("multi-arch index in the layout does not validate: %v", err)
	}
	copied, _ := name.ParseReference(w.reg.Host+"/copied/multi:v1", name.Insecure)
	if err := remote.WriteIndex(copied, multi); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(testenv.Run(t, "", nil, "crane", "digest", "--insecure", copied.Name())); got != w.multiDig.String() {
		t.Fatalf("copied multi-arch digest %s, want %s", got, w.multiDig)
	}
}
