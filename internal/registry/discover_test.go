package registry

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/artifact"
)

func checkNodes(t *testing.T, d *Discovery) {
	t.Helper()
	all := []Node{d.Root}
	for _, p := range d.Platforms {
		all = append(all, p.Node)
	}
	for _, a := range d.Attached {
		all = append(all, a.Manifest)
	}
	for _, n := range all {
		if sha256Hash(n.Raw) != n.Digest || int64(len(n.Raw)) != n.Size {
			t.Errorf("node %s: raw bytes do not match digest/size", n.Digest)
		}
	}
}

func TestDiscoverSingleImageLegacyTags(t *testing.T) {
	for _, api := range []bool{true, false} {
		t.Run(map[bool]string{true: "referrers-api", false: "no-api"}[api], func(t *testing.T) {
			ctx := context.Background()
			reg := newTestRegistry(t, api)
			repo := reg.repo("app")
			img := randomImage(t, "linux", "amd64")
			imgDesc := reg.writeImage(repo, "v1", img)
			sig := reg.pushCosignSig(repo, imgDesc.Digest)
			att := reg.pushCosignAtt(repo, imgDesc.Digest, "https://slsa.dev/provenance/v1")
			sbom := reg.pushCosignSBOM(repo, imgDesc.Digest)
			sbomSig := reg.pushCosignSig(repo, sbom.Digest) // a signed .sbom

			c := testClient()
			d, err := c.Discover(ctx, repo.Tag("v1"), DiscoverOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkNodes(t, d)
			if d.Root.Digest != imgDesc.Digest || d.Root.MediaType != types.DockerManifestSchema2 {
				t.Fatalf("root = %s %s, want %s", d.Root.Digest, d.Root.MediaType, imgDesc.Digest)
			}
			if d.Filter != nil || len(d.Platforms) != 0 {
				t.Fatalf("unexpected filter/platforms: %+v %+v", d.Filter, d.Platforms)
			}
			want := map[v1.Hash]struct {
				kind    artifact.Kind
				subject v1.Hash
				tag     string
			}{
				sig.Digest:     {artifact.KindCosignSignature, imgDesc.Digest, FallbackTag(imgDesc.Digest) + ".sig"},
				att.Digest:     {artifact.KindCosignAttestation, imgDesc.Digest, FallbackTag(imgDesc.Digest) + ".att"},
				sbom.Digest:    {artifact.KindCosignSBOM, imgDesc.Digest, FallbackTag(imgDesc.Digest) + ".sbom"},
				sbomSig.Digest: {artifact.KindCosignSignature, sbom.Digest, FallbackTag(sbom.Digest) + ".sig"},
			}
			if len(d.Attached) != len(want) {
				t.Fatalf("attached = %v, want %d", kinds(d), len(want))
			}
			for _, a := range d.Attached {
				w, ok := want[a.Manifest.Digest]
				if !ok || a.Kind != w.kind || a.Subject != w.subject || a.Tag != w.tag || a.FoundBy != artifact.FoundByLegacyTag {
					t.Errorf("attached %+v, want %+v", a, w)
				}
				if a.Manifest.Digest == att.Digest && !slices.Equal(a.PredicateTypes, []string{"https://slsa.dev/provenance/v1"}) {
					t.Errorf("att predicate types = %v", a.PredicateTypes)
				}
			}
			// Blobs: image config + 2 layers; each cosign manifest: config + 1 layer.
			if got, wantN := len(d.Blobs), 3+4*2; got != wantN {
				t.Errorf("blobs = %d, want %d", got, wantN)
			}
			for _, b := range d.Blobs {
				rc, err := c.FetchBlob(ctx, b.Repo, b.Desc)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := readAllClose(rc); err != nil {
					t.Errorf("blob %s: %v", b.Desc.Digest, err)
				}
			}
		})
	}
}

func readAllClose(rc interface {
	Read([]byte) (int, error)
	Close() error
}) (int, error) {
	defer rc.Close()
	buf := make([]byte, 4096)
	n := 0
	for {
		m, err := rc.Read(buf)
		n += m
		if err != nil {
			if err.Error() == "EOF" {
				return n, nil
			}
			return n, err
		}
	}
}

// fixture: a multi-arch index with BuildKit attestations, a Sigstore bundle
// on the index, one on the arm64 manifest, a notation signature on amd64, a
// signature of the bundle referrer (referrer of a referrer) and an SBOM.
type multiFixture struct {
	repo                        name.Repository
	index                       v1.Descriptor
	amd, arm                    v1.Descriptor
	idxBundle, armBundle, notat v1.Descriptor
	bundleSig, sbom             v1.Descriptor
}

func setupMulti(t *testing.T, reg *testRegistry) multiFixture {
	t.Helper()
	f := multiFixture{repo: reg.repo("multi")}
	idx, imgs := multiArch(t)
	if err := remote.WriteIndex(f.repo.Tag("latest"), idx); err != nil {
		t.Fatal(err)
	}
	f.index = descOf(t, idx)
	f.amd, f.arm = descOf(t, imgs[0]), descOf(t, imgs[1])
	var onIdx, onArm, onAmd, onBundle []v1.Descriptor
	f.idxBundle = reg.attach(f.repo, f.index, MediaTypeSigstoreBundle03, MediaTypeSigstoreBundle03, bundleJSON("https://sigstore.dev/cosign/sign/v1"),
		map[string]string{AnnotationBundlePredicateType: "https://sigstore.dev/cosign/sign/v1", "dev.sigstore.bundle.content": "dsse-envelope"}, &onIdx)
	f.sbom = reg.attach(f.repo, f.index, "application/spdx+json", "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`), nil, &onIdx)
	f.armBundle = reg.attach(f.repo, f.arm, MediaTypeSigstoreBundle03, MediaTypeSigstoreBundle03, bundleJSON("https://slsa.dev/provenance/v1"),
		map[string]string{AnnotationBundlePredicateType: "https://slsa.dev/provenance/v1"}, &onArm)
	f.notat = reg.attach(f.repo, f.amd, MediaTypeNotarySignature, "application/jose+json", []byte(`{"payload":"e30"}`), nil, &onAmd)
	f.bundleSig = reg.attach(f.repo, f.idxBundle, "application/vnd.example.countersignature", "application/octet-stream", []byte("sig"), nil, &onBundle)
	return f
}

func TestDiscoverMultiArchReferrers(t *testing.T) {
	for _, api := range []bool{true, false} {
		t.Run(map[bool]string{true: "referrers-api", false: "fallback-tag"}[api], func(t *testing.T) {
			ctx := context.Background()
			reg := newTestRegistry(t, api)
			f := setupMulti(t, reg)
			legacy := reg.pushCosignSig(f.repo, f.arm.Digest) // per-platform legacy signature

			d, err := testClient().Discover(ctx, f.repo.Tag("latest"), DiscoverOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkNodes(t, d)
			how := artifact.FoundByFallbackTag
			if api {
				how = artifact.FoundByReferrersAPI
			}
			if d.Root.Digest != f.index.Digest || !d.Root.MediaType.IsIndex() {
				t.Fatalf("root %s", d.Root.Digest)
			}
			if len(d.Platforms) != 2 || d.Platforms[0].Node.Digest != f.amd.Digest || d.Platforms[1].Platform.Architecture != "arm64" {
				t.Fatalf("platforms = %+v", d.Platforms)
			}
			checks := []struct {
				subject v1.Hash
				kind    artifact.Kind
				digest  v1.Hash
				foundBy artifact.FoundBy
				pt      []string
			}{
				{f.index.Digest, artifact.KindSigstoreBundle, f.idxBundle.Digest, how, []string{"https://sigstore.dev/cosign/sign/v1"}},
				{f.index.Digest, artifact.KindSBOM, f.sbom.Digest, how, nil},
				{f.arm.Digest, artifact.KindSigstoreBundle, f.armBundle.Digest, how, []string{"https://slsa.dev/provenance/v1"}},
				{f.amd.Digest, artifact.KindNotationSignature, f.notat.Digest, how, nil},
				{f.idxBundle.Digest, artifact.KindReferrer, f.bundleSig.Digest, how, nil},
				{f.arm.Digest, artifact.KindCosignSignature, legacy.Digest, artifact.FoundByLegacyTag, nil},
				{f.amd.Digest, artifact.KindBuildKitAttestation, v1.Hash{}, artifact.FoundByInIndex, []string{"https://slsa.dev/provenance/v0.2"}},
				{f.arm.Digest, artifact.KindBuildKitAttestation, v1.Hash{}, artifact.FoundByInIndex, []string{"https://slsa.dev/provenance/v0.2"}},
			}
			for _, c := range checks {
				got := findAttached(d, c.subject, c.kind)
				if len(got) != 1 {
					t.Errorf("%s on %s: found %d, want 1 (all: %v)", c.kind, c.subject, len(got), kinds(d))
					continue
				}
				a := got[0]
				if (c.digest != v1.Hash{}) && a.Manifest.Digest != c.digest {
					t.Errorf("%s on %s: digest %s, want %s", c.kind, c.subject, a.Manifest.Digest, c.digest)
				}
				if a.FoundBy != c.foundBy || !slices.Equal(a.PredicateTypes, c.pt) {
					t.Errorf("%s on %s: foundBy %s types %v, want %s %v", c.kind, c.subject, a.FoundBy, a.PredicateTypes, c.foundBy, c.pt)
				}
			}
			if len(d.Attached) != len(checks) {
				t.Errorf("attached = %v, want %d", kinds(d), len(checks))
			}
			// The bundle's artifact type comes from the manifest, even when the
			// fallback index says "empty".
			if a := findAttached(d, f.index.Digest, artifact.KindSigstoreBundle); len(a) == 1 && a[0].Manifest.ArtifactType != MediaTypeSigstoreBundle03 {
				t.Errorf("artifactType = %q", a[0].Manifest.ArtifactType)
			}
		})
	}
}

func TestDiscoverMaxDepth(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, true)
	repo := reg.repo("deep")
	subject := reg.writeImage(repo, "v1", randomImage(t, "", ""))
	chain := []v1.Descriptor{subject}
	for i := 0; i < 4; i++ {
		chain = append(chain, reg.pushReferrer(repo, chain[len(chain)-1], "application/vnd.example.sig", "application/octet-stream", []byte{byte(i)}, nil))
	}
	for _, tc := range []struct{ depth, want int }{{1, 1}, {2, 2}, {0, 4}} {
		d, err := testClient().Discover(ctx, repo.Tag("v1"), DiscoverOptions{MaxDepth: tc.depth})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Attached) != tc.want {
			t.Errorf("MaxDepth %d: %d attached, want %d", tc.depth, len(d.Attached), tc.want)
		}
		for i, a := range d.Attached {
			if a.Manifest.Digest != chain[i+1].Digest || a.Subject != chain[i].Digest {
				t.Errorf("level %d: %s on %s", i, a.Manifest.Digest, a.Subject)
			}
		}
	}
}

func TestDiscoverSignaturesFrom(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, false)
	other := newTestRegistry(t, true) // signatures in another registry
	f := setupMulti(t, reg)
	sigRepo := other.repo("vendor/signatures")
	sig := other.pushCosignSig(sigRepo, f.amd.Digest)
	ref := other.pushReferrer(sigRepo, f.index, MediaTypeSigstoreBundle03, MediaTypeSigstoreBundle03, bundleJSON("x"), nil)
	sigOfRef := other.pushCosignSig(sigRepo, ref.Digest) // signature of a referrer, next to it

	d, err := testClient().Discover(ctx, f.repo.Tag("latest"), DiscoverOptions{SignaturesFrom: []name.Repository{sigRepo}})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		digest, subject v1.Hash
		kind            artifact.Kind
		foundBy         artifact.FoundBy
	}{
		{sig.Digest, f.amd.Digest, artifact.KindCosignSignature, artifact.FoundByLegacyTag},
		{ref.Digest, f.index.Digest, artifact.KindSigstoreBundle, artifact.FoundByReferrersAPI},
		{sigOfRef.Digest, ref.Digest, artifact.KindCosignSignature, artifact.FoundByLegacyTag},
	} {
		var got *Attached
		for i := range d.Attached {
			if d.Attached[i].Manifest.Digest == w.digest {
				got = &d.Attached[i]
			}
		}
		if got == nil || got.Subject != w.subject || got.Kind != w.kind || got.FoundBy != w.foundBy || got.Manifest.Repo.String() != sigRepo.String() {
			t.Errorf("want %+v, got %+v", w, got)
		}
	}
	// Blobs of the signatures are read from the signature repository.
	found := false
	for _, b := range d.Blobs {
		if b.Repo.String() == sigRepo.String() {
			found = true
			rc, err := testClient().FetchBlob(ctx, b.Repo, b.Desc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := readAllClose(rc); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !found {
		t.Error("no blob from the signatures repository")
	}
}

func TestDiscoverPlatformFilter(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, true)
	f := setupMulti(t, reg)
	c := testClient()

	d, err := c.Discover(ctx, f.repo.Digest(f.index.Digest.String()), DiscoverOptions{Platforms: []v1.Platform{{OS: "linux", Architecture: "arm64"}}})
	if err != nil {
		t.Fatal(err)
	}
	checkNodes(t, d)
	if d.Filter == nil || d.Filter.SourceDigest != f.index.Digest || d.Root.Digest == f.index.Digest {
		t.Fatalf("filter = %+v root %s", d.Filter, d.Root.Digest)
	}
	if !strings.Contains(d.Filter.Note, f.index.Digest.String()) || !strings.Contains(d.Filter.Note, d.Root.Digest.String()) {
		t.Errorf("note does not name both digests: %s", d.Filter.Note)
	}
	if !slices.Equal(d.Filter.Requested, []string{"linux/arm64"}) || len(d.Filter.Dropped) != 1 || !strings.HasPrefix(d.Filter.Dropped[0], "linux/amd64") {
		t.Errorf("filter = %+v", d.Filter)
	}
	im, err := v1.ParseIndexManifest(strings.NewReader(string(d.Root.Raw)))
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 || im.Manifests[0].Digest != f.arm.Digest || im.Manifests[1].Annotations[AnnotationDockerReferenceDigest] != f.arm.Digest.String() {
		t.Errorf("new index = %+v", im.Manifests)
	}
	if len(d.Platforms) != 1 || d.Platforms[0].Node.Digest != f.arm.Digest {
		t.Errorf("platforms = %+v", d.Platforms)
	}
	for _, a := range d.Attached {
		if a.Subject == f.index.Digest || a.Subject == f.idxBundle.Digest || a.Subject == f.amd.Digest {
			t.Errorf("carried %s on %s although it does not cover the filtered image", a.Kind, a.Subject)
		}
	}
	if len(findAttached(d, f.arm.Digest, artifact.KindSigstoreBundle)) != 1 || len(findAttached(d, f.arm.Digest, artifact.KindBuildKitAttestation)) != 1 {
		t.Errorf("arm64 attachments missing: %v", kinds(d))
	}

	// Every platform requested: the index is unchanged and its signatures apply.
	d, err = c.Discover(ctx, f.repo.Tag("latest"), DiscoverOptions{Platforms: []v1.Platform{{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "amd64"}}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Root.Digest != f.index.Digest || len(findAttached(d, f.index.Digest, artifact.KindSigstoreBundle)) != 1 || len(d.Filter.Dropped) != 0 {
		t.Errorf("full filter changed the index: %s %v", d.Root.Digest, kinds(d))
	}

	// No match in the index.
	_, err = c.Discover(ctx, f.repo.Tag("latest"), DiscoverOptions{Platforms: []v1.Platform{{OS: "windows", Architecture: "amd64"}}})
	if !errors.Is(err, ErrPlatformNotFound) {
		t.Errorf("err = %v, want ErrPlatformNotFound", err)
	}

	// Single-platform image.
	single := reg.writeImage(f.repo, "single", randomImage(t, "linux", "amd64"))
	if _, err := c.Discover(ctx, f.repo.Tag("single"), DiscoverOptions{Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}}}); err != nil {
		t.Errorf("matching single image: %v", err)
	}
	_, err = c.Discover(ctx, f.repo.Tag("single"), DiscoverOptions{Platforms: []v1.Platform{{OS: "linux", Architecture: "arm64"}}})
	if !errors.Is(err, ErrPlatformNotFound) || !strings.Contains(err.Error(), single.Digest.String()) {
		t.Errorf("err = %v, want ErrPlatformNotFound naming %s", err, single.Digest)
	}
}

// A registry that answers the fallback tag with the subject itself.
func TestDiscoverFallbackTagServesSubject(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, false)
	repo := reg.repo("gitlab")
	img := reg.writeImage(repo, "v1", randomImage(t, "", ""))
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/manifests/"+FallbackTag(img.Digest)) {
			r.URL.Path = strings.Replace(r.URL.Path, FallbackTag(img.Digest), img.Digest.String(), 1)
		}
		return false
	})
	d, err := testClient().Discover(ctx, repo.Tag("v1"), DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Attached) != 0 {
		t.Errorf("attached = %v, want none", kinds(d))
	}
	if reg.count("GET /v2/gitlab/manifests/"+FallbackTag(img.Digest)) == 0 {
		t.Error("fallback tag was not read")
	}
}

func TestDiscoverDeterministicAcrossJobs(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, false)
	f := setupMulti(t, reg)
	reg.pushCosignSig(f.repo, f.index.Digest)
	reg.pushCosignSig(f.repo, f.arm.Digest)
	var prev *Discovery
	for _, jobs := range []int{1, 8, 3} {
		d, err := testClient(WithJobs(jobs)).Discover(ctx, f.repo.Tag("latest"), DiscoverOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil {
			for i := range d.Attached {
				if d.Attached[i].Manifest.Digest != prev.Attached[i].Manifest.Digest {
					t.Fatalf("jobs %d: attached order differs at %d", jobs, i)
				}
			}
			for i := range d.Blobs {
				if d.Blobs[i].Desc.Digest != prev.Blobs[i].Desc.Digest {
					t.Fatalf("jobs %d: blob order differs at %d", jobs, i)
				}
			}
		}
		prev = d
	}
}

func TestDiscoverNestedAndIndexReferrer(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, true)
	repo := reg.repo("nested")
	idx, imgs := multiArch(t)
	inner := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: idx, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}}), types.DockerManifestList)
	if err := remote.WriteIndex(repo.Tag("v1"), inner); err != nil {
		t.Fatal(err)
	}
	outer := descOf(t, inner)
	// A referrer that is itself an index with one image (oras attach of an index).
	art := randomImage(t, "", "")
	artIdx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: art})
	artIdx = mutate.Subject(artIdx, outer).(v1.ImageIndex)
	if err := remote.WriteIndex(repo.Tag("art"), artIdx); err != nil {
		t.Fatal(err)
	}
	artDesc := descOf(t, artIdx)

	d, err := testClient().Discover(ctx, repo.Tag("v1"), DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkNodes(t, d)
	// nested index, then its two platform manifests
	if len(d.Platforms) != 3 || !d.Platforms[0].Node.MediaType.IsIndex() || d.Platforms[1].Node.Digest != descOf(t, imgs[0]).Digest {
		t.Fatalf("platforms = %+v", d.Platforms)
	}
	a := findAttached(d, outer.Digest, artifact.KindReferrer)
	if len(a) != 1 || a[0].Manifest.Digest != artDesc.Digest || len(a[0].Children) != 1 || a[0].Children[0].Digest != descOf(t, art).Digest {
		t.Fatalf("index referrer = %+v (all %v)", a, kinds(d))
	}
	artLayers, _ := art.Layers()
	ld, _ := artLayers[0].Digest()
	if !slices.ContainsFunc(d.Blobs, func(b BlobRef) bool { return b.Desc.Digest == ld }) {
		t.Error("blobs of the attached index's child missing")
	}
	if len(findAttached(d, descOf(t, imgs[1]).Digest, artifact.KindBuildKitAttestation)) != 1 {
		t.Errorf("attestations in nested index missing: %v", kinds(d))
	}
}

// A repository that answers once that it has no referrers API is not asked
// again: its other subjects (here a referrer's own referrer) go straight to
// the fallback tag and are still found. Another repository on the same
// registry is asked for itself, and a registry that serves the API is asked
// for every subject.
func TestReferrersNoAPIRememberedPerRepository(t *testing.T) {
	ctx := context.Background()
	for _, api := range []bool{false, true} {
		reg := newTestRegistry(t, api)
		c := testClient()
		var subjects []v1.Descriptor
		for _, r := range []string{"one", "two"} {
			repo := reg.repo(r)
			subject := reg.writeImage(repo, "v1", randomImage(t, "", ""))
			var onImage, onSig []v1.Descriptor
			sig := reg.attach(repo, subject, "application/vnd.example.sig", "application/octet-stream", []byte(r), nil, &onImage)
			reg.attach(repo, sig, "application/vnd.example.countersig", "application/octet-stream", []byte(r+"2"), nil, &onSig)
			subjects = append(subjects, subject)
		}
		reg.resetLog()
		for i, r := range []string{"one", "two"} {
			d, err := c.Discover(ctx, reg.repo(r).Tag("v1"), DiscoverOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Attached) != 2 {
				t.Fatalf("api %v, %s: attached %v, want the referrer and its own referrer", api, r, kinds(d))
			}
			if a := findAttached(d, subjects[i].Digest, artifact.KindReferrer); len(a) != 1 {
				t.Fatalf("api %v, %s: referrer of the image not found: %v", api, r, kinds(d))
			}
			// Subjects asked: the image, its referrer, and the referrer's referrer.
			want := 3
			if !api {
				want = 1
			}
			if n := reg.count("GET /v2/" + reg.repo(r).RepositoryStr() + "/referrers/"); n != want {
				t.Errorf("api %v, %s: %d referrers API requests, want %d (requests: %v)", api, r, n, want, reg.log())
			}
		}
	}
}
