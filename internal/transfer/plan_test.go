package transfer

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
)

// graph builds a bundle.Graph by hand: the planner needs nothing else.
type graph struct {
	t *testing.T
	g *bundle.Graph
}

func newGraph(t *testing.T) *graph {
	return &graph{t: t, g: &bundle.Graph{Nodes: map[v1.Hash]*bundle.Node{}}}
}

func desc(s string, mt types.MediaType) v1.Descriptor {
	d, n, _ := v1.SHA256(strings.NewReader(s))
	return v1.Descriptor{MediaType: mt, Size: n, Digest: d}
}

// blob adds a config or layer.
func (g *graph) blob(s string, mt types.MediaType) v1.Descriptor {
	d := desc(s, mt)
	g.g.Nodes[d.Digest] = &bundle.Node{Descriptor: d}
	return d
}

// manifest adds an image (or artifact) manifest.
func (g *graph) manifest(s string, cfg v1.Descriptor, layers ...v1.Descriptor) v1.Descriptor {
	d := desc(s, types.OCIManifestSchema1)
	g.g.Nodes[d.Digest] = &bundle.Node{Descriptor: d, Manifest: &v1.Manifest{Config: cfg, Layers: layers}}
	return d
}

// index adds an image index.
func (g *graph) index(s string, children ...v1.Descriptor) v1.Descriptor {
	d := desc(s, types.OCIImageIndex)
	g.g.Nodes[d.Digest] = &bundle.Node{Descriptor: d, Index: &v1.IndexManifest{Manifests: children}}
	return d
}

func (g *graph) image(ref string, root v1.Descriptor, arts ...bundle.CheckedArtifact) bundle.CheckedImage {
	n, err := bundle.ParseName(ref)
	if err != nil {
		g.t.Fatal(err)
	}
	return bundle.CheckedImage{Name: n, Descriptor: root, Artifacts: arts}
}

func mustRepo(t *testing.T, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func digests[T v1.Descriptor | Ref](ds []T) []v1.Hash {
	var out []v1.Hash
	for _, d := range ds {
		switch d := any(d).(type) {
		case v1.Descriptor:
			out = append(out, d.Digest)
		case Ref:
			out = append(out, d.Digest)
		}
	}
	return out
}

func all(int) bool { return true }

// The plan is validated before anything is sent, whatever reached it:
// a second line behind bundle.Reconcile.
func TestImageValidate(t *testing.T) {
	subject := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	art := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}}
	repo := mustRepo(t, "registry.internal/mirror/docker.io/library/app")
	good := func() *Image {
		return &Image{Repo: repo, Tag: "1.0", Manifests: []Ref{{MediaType: types.OCIImageIndex}},
			Artifacts: []Artifact{{Desc: art, Manifests: []Ref{RefOf(art)}, Subject: subject, Tag: "sha256-" + subject.Hex + ".sig"}}}
	}
	if err := good().validate(); err != nil {
		t.Fatalf("good plan: %v", err)
	}
	cases := []struct {
		name string
		edit func(im *Image)
		want string
	}{
		{"image tag the grammar refuses", func(im *Image) { im.Tag = "../../victim/app/manifests/prod" }, "not a valid tag"},
		{"artifact tag of the image", func(im *Image) { im.Artifacts[0].Tag = "1.0" }, "not the legacy tag"},
		{"artifact tag traversing", func(im *Image) { im.Artifacts[0].Tag = "../../victim/app/manifests/prod" }, "not the legacy tag"},
		{"artifact tag of another subject", func(im *Image) { im.Artifacts[0].Tag = "sha256-" + strings.Repeat("c", 64) + ".sig" }, "not the legacy tag"},
		{"referrer with a tag", func(im *Image) { im.Artifacts[0].Referrer = true }, "carries tag"},
		{"a layer pushed as a manifest", func(im *Image) { im.Manifests[0].MediaType = types.OCILayer }, "not a manifest"},
		{"an artifact's layer pushed as a manifest", func(im *Image) { im.Artifacts[0].Manifests[0].MediaType = types.OCILayer }, "not a manifest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im := good()
			c.edit(im)
			if err := im.validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("validate = %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// The planner needs only the graph: blobs once each, manifests children
// first, foreign layers left out, artifacts after their subjects (legacy
// ones tagged, referrers not), attestations inside the index pushed with it.
func TestPlanImage(t *testing.T) {
	g := newGraph(t)
	cfg, l1, l2 := g.blob("config", types.OCIConfigJSON), g.blob("layer1", types.OCILayer), g.blob("layer2", types.OCILayer)
	foreign := desc("windows base", types.DockerForeignLayer) // referenced, not carried
	sigCfg, sigLayer := g.blob("sig config", types.OCIConfigJSON), g.blob("sig payload", "application/vnd.dev.cosign.simplesigning.v1+json")
	refCfg := g.blob("referrer config", "application/vnd.example.sbom+json")
	m := g.manifest("platform manifest", cfg, l1, foreign, l2)
	idx := g.index("image index", m)
	sig := g.manifest("signature manifest", sigCfg, sigLayer)
	ref := g.manifest("referrer manifest", refCfg, l1)
	sigTag := "sha256-" + idx.Digest.Hex + ".sig"
	img := g.image("registry.example/team/app:1.0", idx,
		bundle.CheckedArtifact{Kind: artifact.KindCosignSignature, Descriptor: sig, Subject: idx.Digest, FoundBy: artifact.FoundByLegacyTag, Tag: sigTag},
		bundle.CheckedArtifact{Kind: artifact.KindSBOM, Descriptor: ref, Subject: m.Digest, FoundBy: artifact.FoundByReferrersAPI},
		bundle.CheckedArtifact{Kind: artifact.KindBuildKitAttestation, Descriptor: m, Subject: idx.Digest, FoundBy: artifact.FoundByInIndex},
	)
	prefix := mustRepo(t, "mirror.internal/airgap")
	for _, tc := range []struct {
		dropHost bool
		repo     string
	}{{false, "mirror.internal/airgap/registry.example/team/app"}, {true, "mirror.internal/airgap/team/app"}} {
		p, err := New(g.g, []bundle.CheckedImage{img}, all, Mapping{Prefix: prefix, DropHost: tc.dropHost})
		if err != nil {
			t.Fatal(err)
		}
		im := p.Images[0]
		if im.Repo.Name() != tc.repo || im.Reference() != tc.repo+":1.0" {
			t.Errorf("dropHost %v: lands at %s (%s), want %s", tc.dropHost, im.Repo.Name(), im.Reference(), tc.repo)
		}
		if got, want := digests(im.Blobs), digests([]v1.Descriptor{cfg, l1, l2, sigCfg, sigLayer, refCfg}); !slices.Equal(got, want) {
			t.Errorf("blobs %v, want %v (once each, foreign layer left out)", got, want)
		}
		if slices.Contains(digests(im.Omitted), foreign.Digest) {
			t.Errorf("the foreign layer is listed as omitted: it is not carried and not expected at the target")
		}
		if got, want := digests(im.Manifests), digests([]v1.Descriptor{m, idx}); !slices.Equal(got, want) {
			t.Errorf("manifests %v, want %v (children first)", got, want)
		}
		if len(im.Artifacts) != 2 {
			t.Fatalf("artifacts %+v, want the signature and the referrer (the in-index attestation goes with the index)", im.Artifacts)
		}
		if a := im.Artifacts[0]; a.Desc.Digest != sig.Digest || a.Subject != idx.Digest || a.Tag != sigTag || a.Referrer {
			t.Errorf("signature planned as %+v", a)
		}
		if a := im.Artifacts[1]; a.Desc.Digest != ref.Digest || a.Subject != m.Digest || a.Tag != "" || !a.Referrer || a.Desc.ArtifactType != string(refCfg.MediaType) {
			t.Errorf("referrer planned as %+v", a)
		}
		var tags []string
		for _, ts := range im.Tags {
			tags = append(tags, ts.Name)
			if ts.Outcome != TagUnsettled {
				t.Errorf("tag %s is %s before it was settled", ts.Name, ts.Outcome)
			}
		}
		if !slices.Equal(tags, []string{"1.0", sigTag}) {
			t.Errorf("tags %v", tags)
		}
	}
	// A graph that lacks a manifest the image names is refused.
	delete(g.g.Nodes, m.Digest)
	if _, err := New(g.g, []bundle.CheckedImage{img}, all, Mapping{Prefix: prefix}); err == nil || !strings.Contains(err.Error(), "not in the bundle") {
		t.Errorf("missing manifest: err = %v", err)
	}
}

// Every manifest is pushed after everything it names: an artifact after
// its subject and after its own child manifests, however deep the chain
// (a signature of an attestation of a platform manifest).
func TestPlanSubjectsBeforeReferrers(t *testing.T) {
	g := newGraph(t)
	cfg, layer := g.blob("config", types.OCIConfigJSON), g.blob("layer", types.OCILayer)
	m := g.manifest("platform", cfg, layer)
	idx := g.index("index", m)
	attCfg, attLayer := g.blob("att config", "application/vnd.dsse.envelope.v1+json"), g.blob("att payload", types.OCILayer)
	att := g.manifest("attestation", attCfg, attLayer)
	sigCfg, sigLayer := g.blob("sig config", types.OCIConfigJSON), g.blob("sig payload", types.OCILayer)
	sigOfAtt := g.manifest("signature of the attestation", sigCfg, sigLayer)
	// An artifact that is an index with a child manifest of its own.
	childCfg, childLayer := g.blob("child config", types.OCIConfigJSON), g.blob("child layer", types.OCILayer)
	child := g.manifest("artifact child", childCfg, childLayer)
	artIdx := g.index("artifact index", child)
	img := g.image("registry.example/app:2", idx,
		bundle.CheckedArtifact{Descriptor: att, Subject: m.Digest, FoundBy: artifact.FoundByReferrersAPI},
		bundle.CheckedArtifact{Descriptor: sigOfAtt, Subject: att.Digest, FoundBy: artifact.FoundByReferrersAPI},
		bundle.CheckedArtifact{Descriptor: artIdx, Subject: idx.Digest, FoundBy: artifact.FoundByReferrersAPI},
	)
	p, err := New(g.g, []bundle.CheckedImage{img}, all, Mapping{Prefix: mustRepo(t, "mirror.internal/x")})
	if err != nil {
		t.Fatal(err)
	}
	im := p.Images[0]
	pushed := map[v1.Hash]bool{}
	for _, b := range im.Blobs {
		pushed[b.Digest] = true // blobs are committed before any manifest
	}
	pushManifest := func(d Ref) {
		n := g.g.Nodes[d.Digest]
		var needs []v1.Hash
		if n.Index != nil {
			needs = digests(n.Index.Manifests)
		}
		if n.Manifest != nil {
			needs = append(digests(n.Manifest.Layers), n.Manifest.Config.Digest)
		}
		for _, h := range needs {
			if !pushed[h] {
				t.Errorf("%s pushed before %s, which it names", d.Digest, h)
			}
		}
		pushed[d.Digest] = true
	}
	for _, m := range im.Manifests {
		pushManifest(m)
	}
	var order []v1.Hash
	for _, a := range im.Artifacts {
		for _, m := range a.Manifests {
			pushManifest(m)
		}
		if !pushed[a.Subject] {
			t.Errorf("artifact %s pushed before its subject %s", a.Desc.Digest, a.Subject)
		}
		order = append(order, a.Desc.Digest)
	}
	if want := []v1.Hash{att.Digest, sigOfAtt.Digest, artIdx.Digest}; !slices.Equal(order, want) {
		t.Errorf("artifacts in order %v, want %v", order, want)
	}
	if a := im.Artifacts[2]; !slices.Equal(digests(a.Manifests), []v1.Hash{child.Digest, artIdx.Digest}) {
		t.Errorf("artifact index pushes %v, want its child first", digests(a.Manifests))
	}
}

// Each image lists every blob it needs, once, and nothing of another
// image: a blob two images share is in both lists (the executor stages it
// once and mounts it into the second repository).
func TestPlanBlobsPerImage(t *testing.T) {
	g := newGraph(t)
	base := g.blob("shared base layer", types.OCILayer)
	cfgA, topA := g.blob("config a", types.OCIConfigJSON), g.blob("layer a", types.OCILayer)
	cfgB, topB := g.blob("config b", types.OCIConfigJSON), g.blob("layer b", types.OCILayer)
	a := g.manifest("image a", cfgA, base, topA, base) // a layer listed twice is one blob
	b := g.manifest("image b", cfgB, base, topB)
	p, err := New(g.g, []bundle.CheckedImage{g.image("registry.example/a:1", a), g.image("registry.example/b:1", b)}, all,
		Mapping{Prefix: mustRepo(t, "mirror.internal/x")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := digests(p.Images[0].Blobs), []v1.Hash{cfgA.Digest, base.Digest, topA.Digest}; !slices.Equal(got, want) {
		t.Errorf("image a blobs %v, want %v", got, want)
	}
	if got, want := digests(p.Images[1].Blobs), []v1.Hash{cfgB.Digest, base.Digest, topB.Digest}; !slices.Equal(got, want) {
		t.Errorf("image b blobs %v, want %v", got, want)
	}
	if p.Images[0].Repo.Name() == p.Images[1].Repo.Name() {
		t.Errorf("two source repositories share target %s", p.Images[0].Repo)
	}
}

// A delta bundle's left-out blobs are planned apart: not staged from the
// bundle, checked at the target; the order of each list is the walk's.
func TestPlanOmitted(t *testing.T) {
	g := newGraph(t)
	cfg, base, top := g.blob("config", types.OCIConfigJSON), g.blob("base", types.OCILayer), g.blob("top", types.OCILayer)
	mid := g.blob("middle", types.OCILayer)
	g.g.Nodes[base.Digest].Omitted = true
	g.g.Nodes[mid.Digest].Omitted = true
	m := g.manifest("image", cfg, base, mid, top)
	p, err := New(g.g, []bundle.CheckedImage{g.image("registry.example/a@"+m.Digest.String(), m)}, all, Mapping{Prefix: mustRepo(t, "mirror.internal/x")})
	if err != nil {
		t.Fatal(err)
	}
	im := p.Images[0]
	if got, want := digests(im.Blobs), []v1.Hash{cfg.Digest, top.Digest}; !slices.Equal(got, want) {
		t.Errorf("carried blobs %v, want %v", got, want)
	}
	if got, want := digests(im.Omitted), []v1.Hash{base.Digest, mid.Digest}; !slices.Equal(got, want) {
		t.Errorf("omitted blobs %v, want %v", got, want)
	}
	if want := "mirror.internal/x/registry.example/a@" + m.Digest.String(); im.Reference() != want || len(im.Tags) != 0 {
		t.Errorf("an image exported by digest lands at %s with tags %v, want %s and none", im.Reference(), im.Tags, want)
	}
}

// Only the selected images are planned (import --only-verified); the
// others are listed as skipped and take no part in the tag check.
func TestPlanSelection(t *testing.T) {
	g := newGraph(t)
	cfg, l := g.blob("config", types.OCIConfigJSON), g.blob("layer", types.OCILayer)
	good := g.manifest("good", cfg, l)
	bad := g.manifest("bad", cfg, g.blob("bad layer", types.OCILayer))
	other := g.manifest("other", cfg, l)
	images := []bundle.CheckedImage{
		g.image("registry.example/app:1", good),
		g.image("registry.example/app:1", bad), // the same tag, another digest
		g.image("registry.example/other:1", other),
	}
	prefix := Mapping{Prefix: mustRepo(t, "mirror.internal/x")}
	p, err := New(g.g, images, func(i int) bool { return i != 1 }, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Skipped, []int{1}) || len(p.Images) != 2 || p.Images[0].Index != 0 || p.Images[1].Index != 2 {
		t.Fatalf("planned %d images, skipped %v", len(p.Images), p.Skipped)
	}
	for _, im := range p.Images {
		if slices.Contains(digests(im.Manifests), bad.Digest) {
			t.Errorf("%s pushes the skipped image's manifest", im.Source)
		}
	}
	// Selected together, the two would land at one tag: refused before
	// anything is sent.
	if _, err := New(g.g, images, all, prefix); err == nil || !strings.Contains(err.Error(), "two images land at one tag") {
		t.Errorf("two digests for one tag: err = %v", err)
	}
	// Nothing selected: nothing planned.
	if p, err := New(g.g, images, func(int) bool { return false }, prefix); err != nil || len(p.Images) != 0 || len(p.Skipped) != 3 {
		t.Errorf("nothing selected: %+v, %v", p, err)
	}
}

// A tag's outcome is decided from what the target holds, before anything
// is sent; the commit pushes by outcome.
func TestSettle(t *testing.T) {
	g := newGraph(t)
	cfg := g.blob("config", types.OCIConfigJSON)
	m := g.manifest("image", cfg, g.blob("layer", types.OCILayer))
	sigCfg := g.blob("sig config", types.OCIConfigJSON)
	sig := g.manifest("signature", sigCfg, g.blob("sig", types.OCILayer))
	sigTag := "sha256-" + m.Digest.Hex + ".sig"
	img := g.image("registry.example/app:1", m,
		bundle.CheckedArtifact{Descriptor: sig, Subject: m.Digest, FoundBy: artifact.FoundByLegacyTag, Tag: sigTag})
	elsewhere := desc("another image", types.OCIManifestSchema1).Digest
	for _, tc := range []struct {
		name     string
		current  map[string]v1.Hash
		force    bool
		want     []TagOutcome
		previous v1.Hash
	}{
		{"new", map[string]v1.Hash{}, false, []TagOutcome{TagNew, TagNew}, v1.Hash{}},
		{"present", map[string]v1.Hash{"1": m.Digest, sigTag: sig.Digest}, false, []TagOutcome{TagPresent, TagPresent}, v1.Hash{}},
		{"conflict", map[string]v1.Hash{"1": elsewhere}, false, []TagOutcome{TagConflict, TagNew}, elsewhere},
		{"forced", map[string]v1.Hash{"1": elsewhere}, true, []TagOutcome{TagForced, TagNew}, elsewhere},
		{"force changes nothing present", map[string]v1.Hash{"1": m.Digest}, true, []TagOutcome{TagPresent, TagNew}, v1.Hash{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(g.g, []bundle.CheckedImage{img}, all, Mapping{Prefix: mustRepo(t, "mirror.internal/x")})
			if err != nil {
				t.Fatal(err)
			}
			im := p.Images[0]
			im.Settle(tc.current, tc.force)
			var got []TagOutcome
			for _, tg := range im.Tags {
				got = append(got, tg.Outcome)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("outcomes %v, want %v", got, tc.want)
			}
			if im.Tags[0].Previous != tc.previous {
				t.Errorf("previous %v, want %v", im.Tags[0].Previous, tc.previous)
			}
			conflicts := p.Conflicts()
			if wantConflict := tc.want[0] == TagConflict; wantConflict != (len(conflicts) == 1) {
				t.Errorf("conflicts %v", conflicts)
			} else if wantConflict && !strings.Contains(conflicts[0], "mirror.internal/x/registry.example/app:1 (has "+elsewhere.String()) {
				t.Errorf("conflict described as %q", conflicts[0])
			}
		})
	}
	for _, tc := range []struct {
		out  TagOutcome
		push bool
	}{{TagUnsettled, false}, {TagNew, true}, {TagPresent, false}, {TagForced, true}, {TagConflict, false}} {
		if got := tc.out.Push(); got != tc.push {
			t.Errorf("%s: push %v, want %v", tc.out, got, tc.push)
		}
	}
}

// A legacy artifact whose tag the commit pushes (or the target already
// has) is not pushed by digest first; one whose tag is left alone is, and
// so is one that another artifact names as its subject or holds as an
// index's child.
func TestTagOnly(t *testing.T) {
	g := newGraph(t)
	m := g.manifest("image", g.blob("config", types.OCIConfigJSON), g.blob("layer", types.OCILayer))
	legacy := func(name string, subject v1.Hash, suffix string) (v1.Descriptor, bundle.CheckedArtifact) {
		d := g.manifest(name, g.blob(name+" config", types.OCIConfigJSON), g.blob(name+" layer", types.OCILayer))
		return d, bundle.CheckedArtifact{Descriptor: d, Subject: subject, FoundBy: artifact.FoundByLegacyTag, Tag: "sha256-" + subject.Hex + suffix}
	}
	sig, sigA := legacy("signature", m.Digest, ".sig")
	sbom, sbomA := legacy("sbom", m.Digest, ".sbom")
	sbomSig, sbomSigA := legacy("sbom signature", sbom.Digest, ".sig")
	img := g.image("registry.example/app:1", m, sigA, sbomA, sbomSigA)
	elsewhere := desc("another signature", types.OCIManifestSchema1).Digest
	// The same signature manifest, also a child of an index attached as a
	// referrer: the index needs it pushed before itself.
	idx := g.index("referrer index", sig)
	withIndex := g.image("registry.example/app:2", m, sigA, bundle.CheckedArtifact{Descriptor: idx, Subject: m.Digest, FoundBy: artifact.FoundByReferrersAPI})
	p, err := New(g.g, []bundle.CheckedImage{withIndex}, all, Mapping{Prefix: mustRepo(t, "mirror.internal/x")})
	if err != nil {
		t.Fatal(err)
	}
	p.Images[0].Settle(map[string]v1.Hash{}, false)
	if skip := p.Images[0].tagOnly(); len(skip) != 0 {
		t.Errorf("an index's child is left to its tag: %v", skip)
	}
	for _, tc := range []struct {
		name    string
		current map[string]v1.Hash
		want    []v1.Hash
	}{
		{"new tags", map[string]v1.Hash{}, []v1.Hash{sig.Digest, sbomSig.Digest}},
		{"present tag", map[string]v1.Hash{sigA.Tag: sig.Digest}, []v1.Hash{sig.Digest, sbomSig.Digest}},
		{"conflicting tag", map[string]v1.Hash{sigA.Tag: elsewhere}, []v1.Hash{sbomSig.Digest}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(g.g, []bundle.CheckedImage{img}, all, Mapping{Prefix: mustRepo(t, "mirror.internal/x")})
			if err != nil {
				t.Fatal(err)
			}
			im := p.Images[0]
			im.Settle(tc.current, false)
			skip := im.tagOnly()
			if len(skip) != len(tc.want) {
				t.Errorf("tag only: %v, want %v", skip, tc.want)
			}
			for _, d := range tc.want {
				if !skip[d] {
					t.Errorf("%s: pushed by digest first, want only under its tag (all: %v)", d, skip)
				}
			}
			if skip[sbom.Digest] || skip[m.Digest] {
				t.Errorf("a subject is left to its tag: %v", skip)
			}
		})
	}
}
