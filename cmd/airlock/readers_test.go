package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/airlock-oci/airlock/internal/testenv"
)

// readerBundle exports the cosign world (legacy tags, referrers found
// through the fallback tag, a multi-arch index) and unpacks it.
func readerBundle(t *testing.T) (w *cosignWorld, bundlePath, layoutDir string) {
	t.Helper()
	w = newCosignWorld(t)
	bundlePath = filepath.Join(t.TempDir(), "bundle.tar")
	exportNoTUF(t, w.reg.Host, bundlePath, w.app, w.legacy, w.multi)
	layoutDir = t.TempDir()
	testenv.Run(t, "", nil, "tar", "-xf", bundlePath, "-C", layoutDir)
	return w, bundlePath, layoutDir
}

func readIndexJSON(t *testing.T, layoutDir string) v1.IndexManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(layoutDir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

// referrersOf lists, from the inventory, the digests of the OCI 1.1
// referrers the bundle carries for ref.
func referrersOf(t *testing.T, bundlePath, ref string) []string {
	t.Helper()
	var ds []string
	for _, im := range inspectJSON(t, bundlePath)["images"].([]any) {
		m := im.(map[string]any)
		if m["reference"] != ref {
			continue
		}
		for _, a := range m["artifacts"].([]any) {
			am := a.(map[string]any)
			if am["foundBy"] == "fallback-tag" || am["foundBy"] == "referrers-api" {
				ds = append(ds, am["digest"].(string))
			}
		}
	}
	sort.Strings(ds)
	return ds
}

func sortedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// containerd (ctr images import, as k3s and RKE2 take air-gapped images)
// imports a bundle holding legacy cosign tags and referrers, with and
// without --all-platforms, and names exactly the images; a bundle written
// with --referrers-tags is the documented exception.
func TestE2EContainerdImportsBundle(t *testing.T) {
	w, bundlePath, layoutDir := readerBundle(t)
	// Artifact entries carry the legacy tag in dev.airlock.tag, never a name.
	legacyTags := 0
	for _, d := range readIndexJSON(t, layoutDir).Manifests {
		if d.Annotations["dev.airlock.role"] == "artifact" {
			if d.Annotations["org.opencontainers.image.ref.name"] != "" || d.Annotations["io.containerd.image.name"] != "" {
				t.Errorf("artifact entry %s carries a name: %v", d.Digest, d.Annotations)
			}
			if tag := d.Annotations["dev.airlock.tag"]; tag != "" {
				if !strings.Contains(tag, ":sha256-") {
					t.Errorf("artifact entry %s: dev.airlock.tag %q is not <repository>:<legacy tag>", d.Digest, tag)
				}
				legacyTags++
			}
		}
	}
	if legacyTags != 5 { // app .sig .att, legacy .sig .att, multi .sig
		t.Errorf("%d artifact entries carry dev.airlock.tag, want 5", legacyTags)
	}

	ctrd := testenv.StartContainerd(t)
	want := []string{w.app, w.legacy, w.multi}
	sort.Strings(want)
	for i, args := range [][]string{{"images", "import", bundlePath}, {"images", "import", "--all-platforms", bundlePath}} {
		ns := fmt.Sprintf("ns%d", i)
		out, err := ctrd.Ctr(append([]string{"--namespace", ns}, args...)...)
		if err != nil {
			t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		out, err = ctrd.Ctr("--namespace", ns, "images", "ls", "--quiet")
		if err != nil {
			t.Fatal(err)
		}
		if got := sortedLines(out); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ctr %s: images %v, want %v", strings.Join(args, " "), got, want)
		}
	}
	// The app's content is complete in containerd's store: its digest checks.
	out, err := ctrd.Ctr("--namespace", "ns1", "images", "check")
	if err != nil || !strings.Contains(out, "complete") {
		t.Errorf("ctr images check: %v\n%s", err, out)
	}

	// --referrers-tags names each fallback index: containerd then fails, as documented.
	tagged := filepath.Join(t.TempDir(), "tagged.tar")
	if _, stderr, code := airlockRun(t, "export", "--no-tuf", "--referrers-tags", "--insecure-registry", w.reg.Host, "-o", tagged, w.app); code != 0 {
		t.Fatalf("export --referrers-tags exit %d: %s", code, stderr)
	}
	if out, err := ctrd.Ctr("--namespace", "ns2", "images", "import", tagged); err == nil {
		t.Errorf("ctr import of a --referrers-tags bundle succeeded; docs/bundle-format.md says it fails:\n%s", out)
	}
}

// oras reads the unpacked layout in the forms docs/bundle-format.md shows.
func TestE2EOrasReadsLayout(t *testing.T) {
	w, bundlePath, dir := readerBundle(t)
	app := w.appDig.String()
	want := referrersOf(t, bundlePath, w.app)
	if len(want) != 2 {
		t.Fatalf("bundle carries %d referrers for the app, want 2", len(want))
	}
	// oras manifest fetch --oci-layout DIR@DIGEST
	out := testenv.Run(t, "", nil, "oras", "manifest", "fetch", "--oci-layout", dir+"@"+app)
	if h, _, err := v1.SHA256(strings.NewReader(out)); err != nil || h != w.appDig {
		t.Errorf("oras manifest fetch: digest %s, want %s", h, w.appDig)
	}
	discover := func(args ...string) []string {
		t.Helper()
		out := testenv.Run(t, "", nil, "oras", append([]string{"discover", "--format", "json"}, args...)...)
		var d struct {
			Referrers []struct{ Digest string } `json:"referrers"`
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("oras discover %v: %v\n%s", args, err, out)
		}
		var ds []string
		for _, r := range d.Referrers {
			ds = append(ds, r.Digest)
		}
		sort.Strings(ds)
		return ds
	}
	// oras discover --oci-layout DIR@DIGEST, and --oci-layout-path DIR REF (the full reference).
	if got := discover("--oci-layout", dir+"@"+app); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("oras discover --oci-layout DIR@DIGEST: %v, want %v", got, want)
	}
	if got := discover("--oci-layout-path", dir, w.app); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("oras discover --oci-layout-path DIR REF: %v, want %v", got, want)
	}
	// oras copy -r --from-oci-layout DIR@DIGEST REGISTRY/REPO:TAG pushes one image with its referrers.
	dst := w.reg.Host + "/oras/app:v1"
	testenv.Run(t, "", nil, "oras", "copy", "-r", "--from-oci-layout", dir+"@"+app, "--to-plain-http", dst)
	if got := strings.TrimSpace(testenv.Run(t, "", nil, "crane", "digest", "--insecure", dst)); got != app {
		t.Errorf("oras copy: digest %s, want %s", got, app)
	}
	if got := discover("--plain-http", dst); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("oras discover after oras copy -r: %v, want %v", got, want)
	}
	// The form the docs used to show does not work: ref names are full references.
	if out, err := testenv.RunErr("", nil, testenv.Tool(t, "oras"), "manifest", "fetch", "--oci-layout", dir+":"+w.app); err == nil {
		t.Errorf("oras --oci-layout DIR:REF works now; update docs/bundle-format.md:\n%s", out)
	}
}

// regctl finds the referrers in the layout: with --slow-referrers in every
// bundle, and by the fallback tag in a bundle exported with --referrers-tags.
func TestE2ERegctlReadsLayout(t *testing.T) {
	w, bundlePath, dir := readerBundle(t)
	app := w.appDig.String()
	want := referrersOf(t, bundlePath, w.app)
	list := func(args ...string) []string {
		t.Helper()
		out := testenv.Run(t, "", nil, "regctl", append([]string{"artifact", "list", "--format", "{{range .Descriptors}}{{.Digest}}\n{{end}}"}, args...)...)
		return sortedLines(out)
	}
	if got := list("--slow-referrers", "ocidir://"+dir+"@"+app); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("regctl artifact list --slow-referrers: %v, want %v", got, want)
	}
	if got := list("ocidir://" + dir + "@" + app); len(got) != 0 {
		t.Errorf("regctl artifact list without --slow-referrers found %v in a bundle without --referrers-tags; update the docs", got)
	}
	tagged := filepath.Join(t.TempDir(), "tagged.tar")
	if _, stderr, code := airlockRun(t, "export", "--no-tuf", "--referrers-tags", "--insecure-registry", w.reg.Host, "-o", tagged, w.app, w.legacy); code != 0 {
		t.Fatalf("export --referrers-tags exit %d: %s", code, stderr)
	}
	tdir := t.TempDir()
	testenv.Run(t, "", nil, "tar", "-xf", tagged, "-C", tdir)
	if got := list("ocidir://" + tdir + "@" + app); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("regctl artifact list on a --referrers-tags bundle: %v, want %v", got, want)
	}
	// The fallback index entry is named by its tag and says its subject.
	var n int
	for _, d := range readIndexJSON(t, tdir).Manifests {
		if d.Annotations["dev.airlock.role"] == "referrers" {
			n++
			if d.Annotations["org.opencontainers.image.ref.name"] != "sha256-"+w.appDig.Hex || d.Annotations["dev.airlock.subject"] != app {
				t.Errorf("referrers entry annotations %v", d.Annotations)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d referrers entries, want 1 (only the app has OCI referrers)", n)
	}
	// airlock reads its own bundle with the extra entries: verify passes.
	if out, stderr, code := airlockRun(t, "verify", "--trust-dir", t.TempDir(), "--key", w.pub, tagged); code != 0 {
		t.Errorf("verify of a --referrers-tags bundle: exit %d\n%s\n%s", code, out, stderr)
	}
}

// crane push needs --index for the layout and then pushes everything it
// holds (images, artifacts, inventory, trust) as one index under one tag.
func TestE2ECranePushLayout(t *testing.T) {
	w, _, dir := readerBundle(t)
	dst := w.reg.Host + "/crane/bundle:v1"
	out, err := testenv.RunErr("", nil, testenv.Tool(t, "crane"), "push", "--insecure", dir, dst)
	if err == nil || !strings.Contains(out, "--index") {
		t.Errorf("crane push without --index: %v\n%s", err, out)
	}
	testenv.Run(t, "", nil, "crane", "push", "--insecure", "--index", dir, dst)
	ref, _ := name.ParseReference(dst, name.Insecure)
	ii, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	local := readIndexJSON(t, dir)
	if len(im.Manifests) != len(local.Manifests) {
		t.Errorf("crane pushed an index of %d entries, index.json has %d", len(im.Manifests), len(local.Manifests))
	}
	roles := map[string]int{}
	for _, d := range im.Manifests {
		roles[d.Annotations["dev.airlock.role"]]++
	}
	if roles["image"] != 3 || roles["inventory"] != 1 || roles["artifact"] == 0 {
		t.Errorf("pushed index roles %v, want 3 images, the inventory and the artifacts", roles)
	}
	// Each image is then reachable by digest in that repository.
	for _, d := range []v1.Hash{w.appDig, w.multiDig} {
		got := strings.TrimSpace(testenv.Run(t, "", nil, "crane", "digest", "--insecure", w.reg.Host+"/crane/bundle@"+d.String()))
		if got != d.String() {
			t.Errorf("crane digest %s: %s", d, got)
		}
	}
}
