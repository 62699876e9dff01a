package airlock

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

// The push plan is validated before anything is sent, whatever reached it:
// a second line behind bundle.Reconcile.
func TestPushPlanValidate(t *testing.T) {
	subject := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	art := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}}
	repo, err := name.NewRepository("registry.internal/mirror/docker.io/library/app")
	if err != nil {
		t.Fatal(err)
	}
	good := func() *pushPlan {
		return &pushPlan{repo: repo, tag: "1.0", manifests: []v1.Descriptor{{MediaType: types.OCIImageIndex}},
			artifacts: []artifactPush{{desc: art, manifests: []v1.Descriptor{art}, subject: subject, tag: "sha256-" + subject.Hex + ".sig"}}}
	}
	if err := good().validate(); err != nil {
		t.Fatalf("good plan: %v", err)
	}
	cases := []struct {
		name string
		edit func(p *pushPlan)
		want string
	}{
		{"image tag the grammar refuses", func(p *pushPlan) { p.tag = "../../victim/app/manifests/prod" }, "not a valid tag"},
		{"artifact tag of the image", func(p *pushPlan) { p.artifacts[0].tag = "1.0" }, "not the legacy tag"},
		{"artifact tag traversing", func(p *pushPlan) { p.artifacts[0].tag = "../../victim/app/manifests/prod" }, "not the legacy tag"},
		{"artifact tag of another subject", func(p *pushPlan) { p.artifacts[0].tag = "sha256-" + strings.Repeat("c", 64) + ".sig" }, "not the legacy tag"},
		{"referrer with a tag", func(p *pushPlan) { p.artifacts[0].referrer = true }, "carries tag"},
		{"a layer pushed as a manifest", func(p *pushPlan) { p.manifests[0].MediaType = types.OCILayer }, "not a manifest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := good()
			c.edit(p)
			if err := p.validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("validate = %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// The commit pushes a tag by its typed outcome; the receipt's note is only
// its description.
func TestTagOutcome(t *testing.T) {
	for _, tc := range []struct {
		out  tagOutcome
		push bool
		note string
	}{
		{tagNew, true, ""},
		{tagPresent, false, "already there"},
		{tagForced, true, "moved (--force)"},
		{tagConflict, false, "not moved: points at another digest (use --force)"},
	} {
		if got := tc.out.push(); got != tc.push {
			t.Errorf("outcome %d: push %v, want %v", tc.out, got, tc.push)
		}
		if got := tc.out.note(); got != tc.note {
			t.Errorf("outcome %d: note %q, want %q", tc.out, got, tc.note)
		}
	}
}

// The planner needs only the graph: blobs once each, manifests children
// first, foreign layers left out, artifacts after their subjects (legacy
// ones tagged, referrers not), attestations inside the index pushed with it.
func TestPlanImage(t *testing.T) {
	h := func(s string) v1.Hash {
		d, _, _ := v1.SHA256(strings.NewReader(s))
		return d
	}
	desc := func(s string, mt types.MediaType) v1.Descriptor {
		return v1.Descriptor{MediaType: mt, Size: int64(len(s)), Digest: h(s)}
	}
	cfg, l1, l2 := desc("config", types.OCIConfigJSON), desc("layer1", types.OCILayer), desc("layer2", types.OCILayer)
	foreign := desc("windows base", types.DockerForeignLayer)
	sigCfg, sigLayer := desc("sig config", types.OCIConfigJSON), desc("sig payload", "application/vnd.dev.cosign.simplesigning.v1+json")
	refCfg := desc("referrer config", "application/vnd.example.sbom+json")
	m := desc("platform manifest", types.OCIManifestSchema1)
	idx := desc("image index", types.OCIImageIndex)
	sig, ref := desc("signature manifest", types.OCIManifestSchema1), desc("referrer manifest", types.OCIManifestSchema1)
	g := &bundle.Graph{Nodes: map[v1.Hash]*bundle.Node{}}
	for _, d := range []v1.Descriptor{cfg, l1, l2, sigCfg, sigLayer, refCfg} {
		g.Nodes[d.Digest] = &bundle.Node{Descriptor: d}
	}
	g.Nodes[m.Digest] = &bundle.Node{Descriptor: m, Manifest: &v1.Manifest{Config: cfg, Layers: []v1.Descriptor{l1, foreign, l2}}}
	g.Nodes[idx.Digest] = &bundle.Node{Descriptor: idx, Index: &v1.IndexManifest{Manifests: []v1.Descriptor{m}}}
	g.Nodes[sig.Digest] = &bundle.Node{Descriptor: sig, Manifest: &v1.Manifest{Config: sigCfg, Layers: []v1.Descriptor{sigLayer}}}
	g.Nodes[ref.Digest] = &bundle.Node{Descriptor: ref, Manifest: &v1.Manifest{Config: refCfg, Layers: []v1.Descriptor{l1}}}
	sigTag := "sha256-" + idx.Digest.Hex + ".sig"
	n, err := bundle.ParseName("registry.example/team/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	img := bundle.CheckedImage{Name: n, Descriptor: idx, Artifacts: []bundle.CheckedArtifact{
		{Kind: artifact.KindCosignSignature, Descriptor: sig, Subject: idx.Digest, FoundBy: artifact.FoundByLegacyTag, Tag: sigTag},
		{Kind: artifact.KindSBOM, Descriptor: ref, Subject: m.Digest, FoundBy: artifact.FoundByReferrersAPI},
		{Kind: artifact.KindBuildKitAttestation, Descriptor: m, Subject: idx.Digest, FoundBy: artifact.FoundByInIndex},
	}}
	prefix, err := name.NewRepository("mirror.internal/airgap")
	if err != nil {
		t.Fatal(err)
	}
	digests := func(ds []v1.Descriptor) []v1.Hash {
		var out []v1.Hash
		for _, d := range ds {
			out = append(out, d.Digest)
		}
		return out
	}
	for _, tc := range []struct {
		dropHost bool
		repo     string
	}{{false, "mirror.internal/airgap/registry.example/team/app"}, {true, "mirror.internal/airgap/team/app"}} {
		p, err := planImage(g, img, prefix, tc.dropHost)
		if err != nil {
			t.Fatal(err)
		}
		if p.repo.Name() != tc.repo || p.reference() != tc.repo+":1.0" {
			t.Errorf("dropHost %v: lands at %s (%s), want %s", tc.dropHost, p.repo.Name(), p.reference(), tc.repo)
		}
		if got, want := digests(p.blobs), digests([]v1.Descriptor{cfg, l1, l2, sigCfg, sigLayer, refCfg}); !slices.Equal(got, want) {
			t.Errorf("blobs %v, want %v (once each, foreign layer left out)", got, want)
		}
		if got, want := digests(p.manifests), digests([]v1.Descriptor{m, idx}); !slices.Equal(got, want) {
			t.Errorf("manifests %v, want %v (children first)", got, want)
		}
		if len(p.artifacts) != 2 {
			t.Fatalf("artifacts %+v, want the signature and the referrer (the in-index attestation goes with the index)", p.artifacts)
		}
		if a := p.artifacts[0]; a.desc.Digest != sig.Digest || a.subject != idx.Digest || a.tag != sigTag || a.referrer {
			t.Errorf("signature planned as %+v", a)
		}
		if a := p.artifacts[1]; a.desc.Digest != ref.Digest || a.subject != m.Digest || a.tag != "" || !a.referrer || a.desc.ArtifactType != string(refCfg.MediaType) {
			t.Errorf("referrer planned as %+v", a)
		}
		var tags []string
		for _, ts := range p.allTags() {
			tags = append(tags, ts.tag)
		}
		if !slices.Equal(tags, []string{"1.0", sigTag}) {
			t.Errorf("tags %v", tags)
		}
	}
	// A graph that lacks a manifest the image names is refused.
	delete(g.Nodes, m.Digest)
	if _, err := planImage(g, img, prefix, false); err == nil || !strings.Contains(err.Error(), "not in the bundle") {
		t.Errorf("missing manifest: err = %v", err)
	}
}
