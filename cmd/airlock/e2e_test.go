package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
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

// cosignVerify runs cosign (v2) `cmd` with the world's key and no log on
// args. cosign 2.6 wants a trusted root once an image has Sigstore bundles,
// even for a key signature without a log: it gets an empty one.
func (w *cosignWorld) cosignVerify(t *testing.T, cmd string, args ...string) string {
	t.Helper()
	root := filepath.Join(w.dir, "empty-trusted-root.json")
	if err := os.WriteFile(root, []byte(emptyTrustedRoot), 0o644); err != nil {
		t.Fatal(err)
	}
	return testenv.Run(t, w.dir, w.env, "cosign", append([]string{cmd, "--key", w.pub, "--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", "--trusted-root", root}, args...)...)
}

const provenanceV02Predicate = `{"builder":{"id":"https://ci.example/builder@v1"},"buildType":"https://airlock.example/build/v1","invocation":{"configSource":{"uri":"git+https://git.example/acme/app"}}}`

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
	predV02 := filepath.Join(w.dir, "provenance-v02.json")
	if err := os.WriteFile(predV02, []byte(provenanceV02Predicate), 0o600); err != nil {
		t.Fatal(err)
	}

	push := func(repo string, idx bool) (string, v1.Hash) {
		ref, err := name.ParseReference(w.reg.Host+"/"+repo+":v1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if idx {
			ii := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
			for _, arch := range []string{"amd64", "arm64"} {
				img := ociImage(t, arch, 64<<10, 2)
				ii = mutate.AppendManifests(ii, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
			}
			if err := remote.WriteIndex(ref, ii); err != nil {
				t.Fatal(err)
			}
			d, _ := ii.Digest()
			return ref.Name(), d
		}
		img := ociImage(t, "amd64", 128<<10, 3)
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
	cosign("attest", "--type", "slsaprovenance", "--predicate", predV02, legacyRef)

	w.multi, w.multiDig = push("acme/multi", true)
	cosign("sign", w.reg.Host+"/acme/multi@"+w.multiDig.String())
	return w
}

// ociImage is a random image with OCI media types throughout (skopeo 1.9
// finds only OCI-typed entries of an index.json by name).
func ociImage(t *testing.T, arch string, size int64, layers int) v1.Image {
	t.Helper()
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: arch, RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i := 0; i < layers; i++ {
		l, err := random.Layer(size, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// inventoryOf reads the inventory through the CLI's JSON inspect output.
func inspectJSON(t *testing.T, bundlePath string) map[string]any {
	t.Helper()
	out, errOut, code := airlockRun(t, "inspect", "--format", "json", bundlePath)
	if code != 0 {
		t.Fatalf("inspect exit %d: %s", code, errOut)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("inspect --format json: %v\n%s", err, out)
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
		if m["reference"] == w.app {
			ps := m["platforms"].([]any)
			if len(ps) != 1 || ps[0].(map[string]any)["platform"] != "linux/amd64" {
				t.Errorf("single-platform image platforms = %v, want linux/amd64", ps)
			}
		}
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

// flipByteInLayer changes one byte inside the first blob of the tar whose
// size is at least min bytes (a layer), leaving the archive well-formed.
func flipByteInLayer(t *testing.T, src, dst string, min int64) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	var off int64
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no blob of %d bytes in %s: %v", min, src, err)
		}
		if strings.HasPrefix(hdr.Name, "blobs/sha256/") && hdr.Size >= min {
			idx := bytes.Index(data, mustReadAll(t, tr))
			if idx < 0 {
				t.Fatal("blob content not found in the tar")
			}
			off = int64(idx) + hdr.Size/2
			data[off] ^= 0xff
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				t.Fatal(err)
			}
			return hdr.Name
		}
	}
}

func mustReadAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestE2EVerifyAndImport(t *testing.T) {
	w := newCosignWorld(t)
	dir := t.TempDir()
	bundlePath := filepath.Join(dir, "bundle.tar")
	exportNoTUF(t, w.reg.Host, bundlePath, w.app, w.legacy)
	trustDir := filepath.Join(dir, "trust")

	// Offline verify passes with the matching key, and the report says so.
	report := filepath.Join(dir, "report.json")
	stdout, stderr, code := airlockRun(t, "verify", "--trust-dir", trustDir, "--key", w.pub, "--report", report, bundlePath)
	if code != 0 {
		t.Fatalf("verify with the right key: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep struct {
		Verdict string
		Images  []struct {
			Verdict  string
			Findings []struct{ Kind, Status, Reason string }
		}
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != "pass" || len(rep.Images) != 2 {
		t.Fatalf("report verdict %q, %d images", rep.Verdict, len(rep.Images))
	}
	// The operator's key verified every finding: the summary says it was used.
	keyUsed := false
	for _, line := range strings.Split(stdout, "\n") {
		if strings.Contains(line, w.pub+" [public-key") {
			keyUsed = strings.HasSuffix(strings.TrimSpace(line), "] used")
		}
	}
	if !keyUsed {
		t.Errorf("verify --key does not report the key as used:\n%s", stdout)
	}
	verified := map[string]int{}
	for _, f := range rep.Images[0].Findings {
		if f.Status == "verified" {
			verified[f.Kind]++
		}
	}
	// cosign sign (legacy), cosign attest (legacy), and the two Sigstore bundles.
	if verified["cosign-signature"] != 1 || verified["cosign-attestation"] != 1 || verified["sigstore-bundle"] != 2 {
		t.Errorf("verified findings for app = %v, want 1 signature, 1 attestation, 2 bundles\n%s", verified, stdout)
	}

	// A wrong key: the policy is not satisfied (exit 1).
	otherDir := t.TempDir()
	testenv.Run(t, otherDir, w.env, "cosign", "generate-key-pair")
	if _, _, code := airlockRun(t, "verify", "--trust-dir", trustDir, "--key", filepath.Join(otherDir, "cosign.pub"), bundlePath); code != exitPolicy {
		t.Errorf("verify with a wrong key: exit %d, want %d", code, exitPolicy)
	}
	// One byte of one layer changed in the tar: integrity failure (exit 2).
	tampered := filepath.Join(dir, "tampered.tar")
	entry := flipByteInLayer(t, bundlePath, tampered, 100<<10)
	stdout, _, code = airlockRun(t, "verify", "--trust-dir", trustDir, "--key", w.pub, tampered)
	if code != exitIntegrity {
		t.Errorf("verify of a tampered bundle: exit %d, want %d", code, exitIntegrity)
	}
	if !strings.Contains(stdout, strings.TrimPrefix(entry, "blobs/sha256/")) {
		t.Errorf("the report does not name the tampered blob %s:\n%s", entry, stdout)
	}

	// Import into a second registry; a tampered bundle pushes nothing.
	regB := testenv.StartRegistry(t)
	if _, _, code := airlockRun(t, "import", "--trust-dir", trustDir, "--key", w.pub, "--insecure-registry", regB.Host, "--to", regB.Host+"/mirror", tampered); code != exitIntegrity {
		t.Fatalf("import of a tampered bundle: exit %d", code)
	}
	if out, err := testenv.RunErr("", nil, testenv.Tool(t, "crane"), "catalog", "--insecure", regB.Host); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("a failed import pushed something: %q %v", out, err)
	}
	receipt := filepath.Join(dir, "receipt.json")
	stdout, stderr, code = airlockRun(t, "import", "--trust-dir", trustDir, "--key", w.pub, "--insecure-registry", regB.Host,
		"--to", regB.Host+"/mirror", "--receipt", receipt, "--report", filepath.Join(dir, "import-report.json"), bundlePath)
	if code != 0 {
		t.Fatalf("import exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The source host is kept in the target path (the default mapping).
	srcDir := strings.ReplaceAll(w.reg.Host, ":", "_")
	appB := regB.Host + "/mirror/" + srcDir + "/acme/app:v1"
	legacyB := regB.Host + "/mirror/" + srcDir + "/acme/legacy:v1"
	if got := strings.TrimSpace(testenv.Run(t, "", nil, "crane", "digest", "--insecure", appB)); got != w.appDig.String() {
		t.Fatalf("imported digest %s, want %s", got, w.appDig)
	}
	w.cosignVerify(t, "verify", appB)
	w.cosignVerify(t, "verify-attestation", "--type", "slsaprovenance1", appB)
	w.cosignVerify(t, "verify", legacyB)
	w.cosignVerify(t, "verify-attestation", "--type", "slsaprovenance", legacyB)

	// oras lists the same referrers in the target as in the source (the
	// two Sigstore bundles, through the fallback tag on both sides).
	referrers := func(ref string) []string {
		out := testenv.Run(t, "", nil, "oras", "discover", "--plain-http", "--format", "json", ref)
		var d struct {
			Referrers []struct{ Digest string } `json:"referrers"`
			Manifests []struct{ Digest string } `json:"manifests"`
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("oras discover %s: %v\n%s", ref, err, out)
		}
		var ds []string
		for _, r := range append(d.Referrers, d.Manifests...) {
			ds = append(ds, r.Digest)
		}
		sort.Strings(ds)
		return ds
	}
	srcRefs, dstRefs := referrers(w.app), referrers(appB)
	if len(srcRefs) != 2 || fmt.Sprint(srcRefs) != fmt.Sprint(dstRefs) {
		t.Errorf("oras discover: source %v, target %v", srcRefs, dstRefs)
	}

	// Re-running the import changes nothing and succeeds.
	if _, stderr, code := airlockRun(t, "import", "--trust-dir", trustDir, "--key", w.pub, "--insecure-registry", regB.Host, "--to", regB.Host+"/mirror", bundlePath); code != 0 {
		t.Fatalf("second import exit %d: %s", code, stderr)
	}
	// The imported copy exports again with the same artifacts.
	again := filepath.Join(dir, "again.tar")
	exportNoTUF(t, regB.Host, again, appB)
	inv := inspectJSON(t, again)
	arts := inv["images"].([]any)[0].(map[string]any)["artifacts"].([]any)
	if len(arts) != 4 {
		t.Fatalf("re-exported copy has %d artifacts, want 4", len(arts))
	}
}

// Two repositories sharing every blob, imported into a real distribution
// registry (blobs are per repository there): the second is mounted from
// the first, and both end up complete.
func TestE2EImportSharedBlobs(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	img := ociImage(t, "amd64", 64<<10, 2)
	var refs []string
	for _, repo := range []string{"team/one", "team/two"} {
		ref, _ := name.ParseReference(src.Host+"/"+repo+":v1", name.Insecure)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref.Name())
	}
	dir := t.TempDir()
	bundlePath := filepath.Join(dir, "b.tar")
	if _, stderr, code := airlockRun(t, append([]string{"export", "--no-tuf", "-o", bundlePath}, refs...)...); code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	policy := filepath.Join(dir, "allow.yaml")
	os.WriteFile(policy, []byte("apiVersion: airlock.dev/v1\nkind: Policy\ndefaultAction: allow\nrules: []\n"), 0o644)
	if out, stderr, code := airlockRun(t, "import", bundlePath, "--to", dst.Host, "--policy", policy, "--trust-dir", filepath.Join(dir, "trust")); code != 0 {
		t.Fatalf("import exit %d: %s %s", code, out, stderr)
	}
	want, _ := img.Digest()
	for _, repo := range []string{"team/one", "team/two"} {
		ref, _ := name.ParseReference(dst.Host+"/"+strings.ReplaceAll(src.Host, ":", "_")+"/"+repo+":v1", name.Insecure)
		got, err := remote.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(got); err != nil {
			t.Errorf("%s incomplete: %v", ref, err)
		}
		if d, _ := got.Digest(); d != want {
			t.Errorf("%s digest %s, want %s", ref, d, want)
		}
	}
}
