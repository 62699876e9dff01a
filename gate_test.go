package airlock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/verify"
)

// The tests of this file play an attacker who edits a validly signed bundle
// in transit: every edit keeps every digest valid (changed manifests are
// re-hashed and written as new blobs), and no key material is needed. Each
// attack class of issue 8 has one test; each fails if its check is removed.

// bundleEdit is a bundle being rewritten: its blobs are copied, its
// index.json entries (the inventory's aside) and inventory may be changed,
// and new blobs added.
type bundleEdit struct {
	t     *testing.T
	r     *bundle.Reader
	w     *bundle.Writer
	index []v1.Descriptor
	inv   *bundle.Inventory
	added map[v1.Hash][]byte // blobs put by the edit
}

// editBundle copies src to dst through edit.
func editBundle(t *testing.T, src, dst string, edit func(e *bundleEdit)) string {
	t.Helper()
	r, err := bundle.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	inv, err := r.Inventory()
	if err != nil {
		t.Fatal(err)
	}
	w, err := bundle.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, h := range r.Blobs() {
		data, err := r.ReadBlob(h, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Put("application/octet-stream", data); err != nil {
			t.Fatal(err)
		}
	}
	e := &bundleEdit{t: t, r: r, w: w, inv: inv}
	for _, d := range r.Index().Manifests {
		if d.Annotations[bundle.AnnotationRole] != bundle.RoleInventory {
			e.index = append(e.index, d)
		}
	}
	edit(e)
	for _, d := range e.index {
		w.AddIndex(d)
	}
	if _, err := w.PutInventory(e.inv); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return dst
}

// put adds a blob.
func (e *bundleEdit) put(mt types.MediaType, data []byte) v1.Descriptor {
	d, err := e.w.Put(mt, data)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.added == nil {
		e.added = map[v1.Hash][]byte{}
	}
	e.added[d.Digest] = data
	return d
}

// putJSON adds a document (manifest, index) and returns its descriptor.
func (e *bundleEdit) putJSON(mt types.MediaType, v any) v1.Descriptor {
	data, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.put(mt, data)
}

// manifest reads an image manifest of the source bundle.
func (e *bundleEdit) manifest(h string) *v1.Manifest {
	m, err := e.r.ReadManifest(v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(h, "sha256:")})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// index reads an image index of the source bundle.
func (e *bundleEdit) imageIndex(h v1.Hash) *v1.IndexManifest {
	data, ok := e.added[h]
	if !ok {
		var err error
		if data, err = e.r.ReadBlob(h, 4<<20); err != nil {
			e.t.Fatal(err)
		}
	}
	idx, err := v1.ParseIndexManifest(strings.NewReader(string(data)))
	if err != nil {
		e.t.Fatal(err)
	}
	return idx
}

// putImage adds an unsigned, runnable linux image and returns its manifest descriptor.
func (e *bundleEdit) putImage(arch string) v1.Descriptor {
	img, err := random.Image(512, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "linux", arch
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		e.t.Fatal(err)
	}
	raw, _ := img.RawConfigFile()
	e.put("application/octet-stream", raw)
	layers, _ := img.Layers()
	for _, l := range layers {
		rc, _ := l.Compressed()
		data := readAllT(e.t, rc)
		e.put("application/octet-stream", data)
	}
	m, _ := img.RawManifest()
	mt, _ := img.MediaType()
	return e.put(mt, m)
}

// imageEntry is the index.json position of the image entry.
func (e *bundleEdit) imageEntry() int {
	i := e.findImageEntry()
	if i < 0 {
		e.t.Fatal("no image entry")
	}
	return i
}

// findImageEntry is the index.json position of the first image entry, or -1.
func (e *bundleEdit) findImageEntry() int {
	for i, d := range e.index {
		if d.Annotations[bundle.AnnotationRole] == bundle.RoleImage {
			return i
		}
	}
	return -1
}

// artifact returns the inventory position of the first artifact matching.
func (e *bundleEdit) artifact(match func(a bundle.Artifact) bool) int {
	for i, a := range e.inv.Images[0].Artifacts {
		if match(a) {
			return i
		}
	}
	e.t.Fatal("no such artifact")
	return -1
}

// gateFixture is the demo world, its bundle and a target behind a recording proxy.
type gateFixture struct {
	*fixture
	src   string
	idx   string
	proxy *targetProxy
}

func newGateFixture(t *testing.T) *gateFixture {
	f := newFixture(t, demo.Options{})
	return &gateFixture{fixture: f, src: f.export(t, "signed.tar", nil), idx: f.w.Digest.String(), proxy: newTargetProxy(t, f.w.Target.URL)}
}

// attempt verifies and imports a bundle and reports both outcomes and
// whether the import wrote anything to the target.
func (g *gateFixture) attempt(t *testing.T, path string) (rep *verify.Report, verr, ierr error, wrote []recorded) {
	t.Helper()
	rep, verr = airlock.Verify(context.Background(), path, g.verifyOpts()...)
	g.proxy.take()
	_, ierr = airlock.Import(context.Background(), path, g.proxy.host()+"/gate", g.importOpts()...)
	return rep, verr, ierr, writes(g.proxy.take())
}

// refusedMalformed asserts exit 2 with the disagreement named, and nothing pushed.
func (g *gateFixture) refusedMalformed(t *testing.T, path string, sentinel error, reason string) {
	t.Helper()
	rep, verr, ierr, wrote := g.attempt(t, path)
	if !errors.Is(verr, sentinel) || rep == nil || rep.Integrity.OK || rep.ExitCode() != verify.ExitIntegrity {
		t.Fatalf("verify: err = %v, report %+v; want %v (exit 2)", verr, rep, sentinel)
	}
	if !strings.Contains(rep.Integrity.Error, reason) {
		t.Errorf("integrity error %q does not say %q", rep.Integrity.Error, reason)
	}
	if !errors.Is(ierr, bundle.ErrInvalidBundle) || len(wrote) > 0 {
		t.Errorf("import: err = %v, %d writes: want a refusal that writes nothing", ierr, len(wrote))
	}
}

// Class 1: platform coverage comes from the image index, never from the
// inventory's platform list.
func TestGatePlatformsFromIndex(t *testing.T) {
	g := newGateFixture(t)
	t.Run("a shrunk platform list is a disagreement", func(t *testing.T) {
		for i, keep := range []int{0, 1} {
			path := editBundle(t, g.src, filepath.Join(g.dir, fmt.Sprintf("shrunk%d.tar", i)), func(e *bundleEdit) {
				e.inv.Images[0].Platforms = e.inv.Images[0].Platforms[:keep]
			})
			g.refusedMalformed(t, path, bundle.ErrDisagreement, "the image index holds")
		}
	})
	// The signed index wrapped as a "platform" of a new index whose real
	// linux/amd64 child is an unsigned image.
	wrap := func(e *bundleEdit, listOnlySigned bool) {
		im := e.index[e.imageEntry()]
		signed := v1.Descriptor{MediaType: im.MediaType, Size: im.Size, Digest: im.Digest, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}
		evil := e.putImage("amd64")
		evil.Platform = &v1.Platform{OS: "linux", Architecture: "amd64"}
		outer := e.putJSON(types.OCIImageIndex, v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{evil, signed}})
		outer.MediaType = types.OCIImageIndex
		e.index[e.imageEntry()].Digest, e.index[e.imageEntry()].Size = outer.Digest, outer.Size
		img := &e.inv.Images[0]
		img.Digest, img.Size = outer.Digest.String(), outer.Size
		if listOnlySigned {
			img.Platforms = []bundle.Platform{{Platform: "linux/arm64", Digest: signed.Digest.String(), Size: signed.Size}}
			return
		}
		img.Platforms = []bundle.Platform{{Platform: "linux/amd64", Digest: evil.Digest.String(), Size: evil.Size},
			{Platform: "linux/arm64", Digest: signed.Digest.String(), Size: signed.Size}}
		for _, p := range e.imageIndex(signed.Digest).Manifests {
			img.Platforms = append(img.Platforms, bundle.Platform{Platform: p.Platform.OS + "/" + p.Platform.Architecture, Digest: p.Digest.String(), Size: p.Size})
		}
	}
	t.Run("a wrapped index listing only the signed child is a disagreement", func(t *testing.T) {
		path := editBundle(t, g.src, filepath.Join(g.dir, "wrapped-lying.tar"), func(e *bundleEdit) { wrap(e, true) })
		g.refusedMalformed(t, path, bundle.ErrDisagreement, "the image index holds")
	})
	t.Run("a wrapped index listed truthfully fails the policy", func(t *testing.T) {
		path := editBundle(t, g.src, filepath.Join(g.dir, "wrapped.tar"), func(e *bundleEdit) { wrap(e, false) })
		rep, verr, ierr, wrote := g.attempt(t, path)
		if !errors.Is(verr, airlock.ErrPolicy) || rep.Images[0].Verdict != verify.VerdictPolicyFailed {
			t.Fatalf("verify: err = %v, verdict %s", verr, rep.Images[0].Verdict)
		}
		if ierr == nil || len(wrote) > 0 {
			t.Errorf("import: err = %v, %d writes", ierr, len(wrote))
		}
	})
	t.Run("an unsigned child disguised as unknown/unknown is refused", func(t *testing.T) {
		path := editBundle(t, g.src, filepath.Join(g.dir, "unknown.tar"), func(e *bundleEdit) {
			im := e.index[e.imageEntry()]
			idx := e.imageIndex(im.Digest)
			evil := e.putImage("amd64")
			evil.Platform = &v1.Platform{OS: "unknown", Architecture: "unknown"}
			idx.Manifests = append(idx.Manifests, evil)
			d := e.putJSON(types.OCIImageIndex, idx)
			e.index[e.imageEntry()].Digest, e.index[e.imageEntry()].Size = d.Digest, d.Size
			e.inv.Images[0].Digest, e.inv.Images[0].Size = d.Digest.String(), d.Size
		})
		g.refusedMalformed(t, path, bundle.ErrDisagreement, "not an attestation manifest")
	})
}

// Class 2: an artifact is pushed, and its tag applied, only when the graph
// proves its attachment; every tag is checked before anything is written.
func TestGateArtifactsAndTags(t *testing.T) {
	g := newGateFixture(t)
	// An unsigned runnable image added as an artifact entry of index.json.
	addEvil := func(e *bundleEdit, a bundle.Artifact) {
		evil := e.putImage("amd64")
		e.index = append(e.index, v1.Descriptor{MediaType: evil.MediaType, Size: evil.Size, Digest: evil.Digest,
			Annotations: map[string]string{bundle.AnnotationRole: bundle.RoleArtifact}})
		a.Digest, a.MediaType, a.Size, a.Subject = evil.Digest.String(), string(evil.MediaType), evil.Size, g.idx
		a.Repository = g.w.SourceHost() + "/vendor/app"
		e.inv.Images[0].Artifacts = append(e.inv.Images[0].Artifacts, a)
	}
	cases := []struct {
		name, reason string
		edit         func(e *bundleEdit)
	}{
		{"an unsigned image listed as an sbom with the image's tag", "only legacy artifacts have tags", func(e *bundleEdit) {
			addEvil(e, bundle.Artifact{Kind: artifact.KindSBOM, FoundBy: artifact.FoundByReferrersAPI, Tag: "1.0"})
		}},
		{"an unsigned image listed as a legacy sbom with the image's tag", "legacy tag \"1.0\"", func(e *bundleEdit) {
			addEvil(e, bundle.Artifact{Kind: artifact.KindCosignSBOM, FoundBy: artifact.FoundByLegacyTag, Tag: "1.0"})
		}},
		{"an unsigned image under a well-formed .sbom tag", "not what a .sbom tag holds", func(e *bundleEdit) {
			addEvil(e, bundle.Artifact{Kind: artifact.KindCosignSBOM, FoundBy: artifact.FoundByLegacyTag, Tag: "sha256-" + strings.TrimPrefix(g.idx, "sha256:") + ".sbom"})
		}},
		{"an unsigned image listed as a referrer it is not", "has no subject", func(e *bundleEdit) {
			addEvil(e, bundle.Artifact{Kind: artifact.KindSBOM, FoundBy: artifact.FoundByReferrersAPI})
		}},
		{"a path-traversing tag", "legacy tag", func(e *bundleEdit) {
			i := e.artifact(func(a bundle.Artifact) bool { return a.FoundBy == artifact.FoundByLegacyTag && a.Subject == g.idx })
			e.inv.Images[0].Artifacts[i].Tag = "../../victim/app/manifests/prod"
		}},
		{"a signature's legacy tag moved to another subject", "legacy tag", func(e *bundleEdit) {
			i := e.artifact(func(a bundle.Artifact) bool { return a.Kind == artifact.KindCosignSignature && a.Subject == g.idx })
			e.inv.Images[0].Artifacts[i].Tag = "sha256-" + g.w.Platforms[1].Hex + ".sig"
		}},
		{"a referrer listed for a subject its manifest does not name", "its manifest's subject is", func(e *bundleEdit) {
			i := e.artifact(func(a bundle.Artifact) bool { return a.Kind == artifact.KindSigstoreBundle })
			e.inv.Images[0].Artifacts[i].Subject = g.w.Platforms[1].String()
		}},
		{"an artifact of the image nobody lists", "which no inventory image lists", func(e *bundleEdit) {
			evil := e.putImage("amd64")
			e.index = append(e.index, v1.Descriptor{MediaType: evil.MediaType, Size: evil.Size, Digest: evil.Digest,
				Annotations: map[string]string{bundle.AnnotationRole: bundle.RoleArtifact}})
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := editBundle(t, g.src, filepath.Join(g.dir, fmt.Sprintf("art%d.tar", i)), c.edit)
			g.refusedMalformed(t, path, bundle.ErrDisagreement, c.reason)
		})
	}
	t.Run("the target holds nothing afterwards", func(t *testing.T) {
		if tags := targetTags(t, g.w.TargetHost()); len(tags) != 0 {
			t.Errorf("target holds %v", tags)
		}
	})
}

// Class 3: one canonical name is judged, shown and mapped.
func TestGateCanonicalNames(t *testing.T) {
	g := newGateFixture(t)
	rename := func(name string) func(e *bundleEdit) {
		return func(e *bundleEdit) {
			i := e.imageEntry()
			ann := map[string]string{}
			for k, v := range e.index[i].Annotations {
				ann[k] = v
			}
			ann[bundle.AnnotationRefName], ann[bundle.AnnotationImageName] = name, name
			e.index[i].Annotations = ann
			e.inv.Images[0].Name, e.inv.Images[0].Reference = name, name
		}
	}
	for i, bad := range []string{"registry.example/vendor/../victim/app:1.0", "registry.example/vendor//app:1.0", "registry.example/vendor/app/", "registry.example/Vendor/app:1.0", "registry.example/./app:1.0"} {
		t.Run("refused "+bad, func(t *testing.T) {
			path := editBundle(t, g.src, filepath.Join(g.dir, fmt.Sprintf("name%d.tar", i)), rename(bad))
			g.refusedMalformed(t, path, bundle.ErrInvalidName, "")
		})
	}
	t.Run("docker.io/app is judged as docker.io/library/app", func(t *testing.T) {
		path := editBundle(t, g.src, filepath.Join(g.dir, "hub.tar"), rename("docker.io/app:1.0"))
		policy := filepath.Join(g.dir, "hub.yaml")
		os.WriteFile(policy, []byte(`apiVersion: airlock.dev/v1
kind: Policy
defaultAction: allow
rules:
  - name: official images
    images: ["docker.io/library/**"]
    signers:
      - issuer: https://nobody.example
        subject: nobody@example
`), 0o644)
		rep, err := airlock.Verify(context.Background(), path, airlock.WithPolicyFile(policy), airlock.WithTrustDir(g.trustDir))
		if !errors.Is(err, airlock.ErrPolicy) || rep.Images[0].Verdict != verify.VerdictPolicyFailed {
			t.Fatalf("err = %v, verdict %s: the library rule must judge it", err, rep.Images[0].Verdict)
		}
		if got := rep.Images[0]; got.Reference != "docker.io/library/app:1.0" || got.Name != "docker.io/library/app" {
			t.Errorf("report shows %q / %q, want the canonical name the policy judged", got.Reference, got.Name)
		}
	})
	t.Run("the report shows the name the policy judged", func(t *testing.T) {
		path := editBundle(t, g.src, filepath.Join(g.dir, "short.tar"), func(e *bundleEdit) {
			// The name as asked may be any spelling of the same repository.
			e.inv.Images[0].Reference = strings.ToUpper(g.w.SourceHost()[:1]) + g.w.SourceHost()[1:] + "/vendor/app:1.0"
		})
		rep, err := airlock.Verify(context.Background(), path, g.verifyOpts()...)
		if err != nil {
			t.Fatal(err)
		}
		want := g.w.SourceHost() + "/vendor/app"
		if rep.Images[0].Name != want || rep.Images[0].Reference != want+":1.0" {
			t.Errorf("report %q / %q, want %s:1.0", rep.Images[0].Reference, rep.Images[0].Name, want)
		}
	})
}

// Class 4: index.json's named entries and the inventory's images
// correspond one to one.
func TestGateIndexMatchesInventory(t *testing.T) {
	g := newGateFixture(t)
	cases := []struct {
		name, reason string
		edit         func(e *bundleEdit)
	}{
		{"the named entry points at an unsigned manifest", "index.json's entry named", func(e *bundleEdit) {
			evil := e.putImage("amd64")
			i := e.imageEntry()
			e.index[i].Digest, e.index[i].Size, e.index[i].MediaType = evil.Digest, evil.Size, evil.MediaType
		}},
		{"an extra named entry for an unsigned manifest", "which the inventory does not list", func(e *bundleEdit) {
			evil := e.putImage("amd64")
			evil.Annotations = map[string]string{bundle.AnnotationRole: bundle.RoleImage, bundle.AnnotationRefName: g.w.SourceHost() + "/vendor/app:latest"}
			e.index = append(e.index, evil)
		}},
		{"a named entry without a role", "has role \"\"", func(e *bundleEdit) {
			evil := e.putImage("amd64")
			evil.Annotations = map[string]string{bundle.AnnotationRefName: g.w.SourceHost() + "/vendor/app:1.0"}
			e.index = append(e.index, evil)
		}},
		{"the two name annotations disagree", "name different images", func(e *bundleEdit) {
			i := e.imageEntry()
			ann := map[string]string{}
			for k, v := range e.index[i].Annotations {
				ann[k] = v
			}
			ann[bundle.AnnotationImageName] = g.w.SourceHost() + "/vendor/other:1.0"
			e.index[i].Annotations = ann
		}},
		{"an inventory listing no image", "which the inventory does not list", func(e *bundleEdit) {
			e.inv.Images = nil
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := editBundle(t, g.src, filepath.Join(g.dir, fmt.Sprintf("idx%d.tar", i)), c.edit)
			g.refusedMalformed(t, path, bundle.ErrDisagreement, c.reason)
		})
	}
}

// Class 5: evidence is checked once per distinct piece, and a flood is
// refused by the documented caps.
func TestGateEvidenceOnce(t *testing.T) {
	g := newGateFixture(t)
	count, restore := airlock.CountEvidenceChecks()
	defer restore()
	if _, err := airlock.Verify(context.Background(), g.src, g.verifyOpts()...); err != nil {
		t.Fatal(err)
	}
	base := count.Swap(0)
	// One referrer of many identical layers (copies of a signed Sigstore
	// bundle), listed many times.
	flood := func(layers, listings int) func(e *bundleEdit) {
		return func(e *bundleEdit) {
			i := e.artifact(func(a bundle.Artifact) bool { return a.Kind == artifact.KindSigstoreBundle })
			a := e.inv.Images[0].Artifacts[i]
			m := e.manifest(a.Digest)
			for len(m.Layers) < layers {
				m.Layers = append(m.Layers, m.Layers[0])
			}
			d := e.putJSON(types.OCIManifestSchema1, m)
			d.MediaType = types.OCIManifestSchema1
			e.index = append(e.index, v1.Descriptor{MediaType: d.MediaType, Size: d.Size, Digest: d.Digest,
				Annotations: map[string]string{bundle.AnnotationRole: bundle.RoleArtifact}})
			a.Digest, a.Size = d.Digest.String(), d.Size
			for range listings {
				e.inv.Images[0].Artifacts = append(e.inv.Images[0].Artifacts, a)
			}
		}
	}
	path := editBundle(t, g.src, filepath.Join(g.dir, "flood.tar"), flood(2000, 50))
	rep, err := airlock.Verify(context.Background(), path, g.verifyOpts()...)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if n := count.Load(); n > base+1 {
		t.Errorf("%d signature checks for %d distinct pieces of evidence plus one (100,000 listed)", n, base)
	}
	if len(rep.Images[0].Findings) < 2000 {
		t.Errorf("%d findings: every layer is reported", len(rep.Images[0].Findings))
	}
	t.Run("over the per-image cap", func(t *testing.T) {
		path := editBundle(t, g.src, filepath.Join(g.dir, "cap.tar"), flood(bundle.DefaultMaxEvidencePerImage+1, 1))
		g.refusedMalformed(t, path, bundle.ErrTooManyArtifacts, "limit")
	})
}

func readAllT(t *testing.T, rc interface {
	Read([]byte) (int, error)
	Close() error
}) []byte {
	t.Helper()
	defer rc.Close()
	var out []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out
		}
	}
}

// An artifact's index.json entry may name its legacy tag by ref.name or by
// dev.airlock.tag; either must be the tag the content proves. A referrers
// fallback index entry must be named by its subject's fallback tag and list
// only referrers whose manifests name that subject.
func TestGateArtifactEntryNames(t *testing.T) {
	g := newGateFixture(t)
	sigTag := "sha256-" + strings.TrimPrefix(g.idx, "sha256:") + ".sig"
	entry := func(e *bundleEdit) int {
		i := e.artifact(func(a bundle.Artifact) bool { return a.Tag == sigTag })
		h := e.inv.Images[0].Artifacts[i].Digest
		for j, d := range e.index {
			if d.Digest.String() == h {
				return j
			}
		}
		e.t.Fatal("no entry")
		return -1
	}
	setAnn := func(e *bundleEdit, k, v string) {
		j := entry(e)
		ann := map[string]string{}
		for kk, vv := range e.index[j].Annotations {
			ann[kk] = vv
		}
		ann[k] = v
		e.index[j].Annotations = ann
	}
	cases := []struct {
		name, key, value, reason string
	}{
		{"ref.name with the image's tag", bundle.AnnotationRefName, g.w.SourceHost() + "/vendor/app:1.0", "not the legacy tag"},
		{"dev.airlock.tag with the image's tag", bundle.AnnotationTag, g.w.SourceHost() + "/vendor/app:1.0", "not the legacy tag"},
		{"dev.airlock.tag in another repository", bundle.AnnotationTag, g.w.SourceHost() + "/vendor/other:" + sigTag, "not the legacy tag"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := editBundle(t, g.src, filepath.Join(g.dir, fmt.Sprintf("entry%d.tar", i)), func(e *bundleEdit) { setAnn(e, c.key, c.value) })
			g.refusedMalformed(t, path, bundle.ErrDisagreement, c.reason)
		})
	}
	t.Run("dev.airlock.tag with the legacy tag", func(t *testing.T) {
		path := editBundle(t, g.src, filepath.Join(g.dir, "entry-ok.tar"), func(e *bundleEdit) { setAnn(e, bundle.AnnotationTag, g.w.SourceHost()+"/vendor/app:"+sigTag) })
		if _, err := airlock.Verify(context.Background(), path, g.verifyOpts()...); err != nil {
			t.Fatal(err)
		}
	})
}

// A referrers fallback index in index.json (--referrers-tags, for regctl and
// oras) is named by its subject's fallback tag and lists only referrers of
// that subject that the inventory lists.
func TestGateReferrersIndex(t *testing.T) {
	g := newGateFixture(t)
	src := g.export(t, "reftags.tar", nil, airlock.WithReferrersTags())
	if _, err := airlock.Verify(context.Background(), src, g.verifyOpts()...); err != nil {
		t.Fatalf("untouched: %v", err)
	}
	refIdx := func(e *bundleEdit) int {
		for i, d := range e.index {
			if d.Annotations[bundle.AnnotationRole] == bundle.RoleReferrers {
				return i
			}
		}
		e.t.Fatal("no referrers index")
		return -1
	}
	cases := []struct {
		name, reason string
		edit         func(e *bundleEdit)
	}{
		{"named with the image's tag", "not the fallback tag", func(e *bundleEdit) {
			i := refIdx(e)
			e.index[i].Annotations = map[string]string{bundle.AnnotationRole: bundle.RoleReferrers, bundle.AnnotationSubject: g.idx, bundle.AnnotationRefName: "1.0"}
		}},
		{"listing an unsigned image", "not a listed referrer", func(e *bundleEdit) {
			i := refIdx(e)
			idx := e.imageIndex(e.index[i].Digest)
			idx.Manifests = append(idx.Manifests, e.putImage("amd64"))
			d := e.putJSON(types.OCIImageIndex, idx)
			e.index[i].Digest, e.index[i].Size = d.Digest, d.Size
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := editBundle(t, src, filepath.Join(g.dir, fmt.Sprintf("refidx%d.tar", i)), c.edit)
			g.refusedMalformed(t, path, bundle.ErrDisagreement, c.reason)
		})
	}
}
