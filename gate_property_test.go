package airlock_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/verify"
)

// propertyDuration is how long TestGateProperty mutates bundles: a few
// seconds in `make test`, AIRLOCK_PROPERTY_TIME (a Go duration, set by
// `make fuzz`) when given.
func propertyDuration(t *testing.T) time.Duration {
	if s := os.Getenv("AIRLOCK_PROPERTY_TIME"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("AIRLOCK_PROPERTY_TIME=%q: %v", s, err)
		}
		return d
	}
	if testing.Short() {
		return time.Second
	}
	return 3 * time.Second
}

// legacyOrFallbackTag is a tag import may set on an artifact or a referrer
// list: sha256-<hex>[.sig|.att|.sbom].
var legacyOrFallbackTag = regexp.MustCompile(`^sha256-([0-9a-f]{64})(\.sig|\.att|\.sbom)?$`)

// The property of issue 8: starting from a bundle that passes or fails,
// random edits of its unsigned metadata (inventory fields, index.json
// entries and annotations, names, tags, platform lists, artifact lists),
// each keeping every digest valid, never make a digest pass that did not
// pass before, and import never writes a tag pointing at a manifest the
// policy did not judge to pass. Names are not signed: a renamed image is
// judged under its new canonical name, which is why the verdict is
// compared by digest.
func TestGateProperty(t *testing.T) {
	g := newGateFixture(t)
	strict := filepath.Join(g.dir, "strict.yaml")
	// The demo policy with every platform required to be signed: the demo
	// signs one of its two platforms, so the bundle fails it.
	if err := os.WriteFile(strict, []byte(strings.Replace(demo.Policy, "    signers:", "    platforms: all\n    signers:", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// A bundle that passes only partly: the signed image and an unsigned one.
	unsigned, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	unsignedRef := g.w.SourceHost() + "/vendor/app:2.0"
	if err := remote.Write(mustTag(t, unsignedRef), unsigned); err != nil {
		t.Fatal(err)
	}
	partial := g.export(t, "partial.tar", []string{g.w.Image, unsignedRef})
	starts := []struct {
		name, bundle, policy string
		passing              map[string]bool // digests that pass on the untouched bundle
	}{{"signed, demo policy", g.src, g.policy, nil}, {"signed, strict policy", g.src, strict, nil}, {"partly signed, demo policy", partial, g.policy, nil}}
	for i := range starts {
		p := &starts[i]
		rep, _ := airlock.Verify(context.Background(), p.bundle, airlock.WithPolicyFile(p.policy), airlock.WithTrustDir(g.trustDir))
		p.passing = passingDigests(rep)
		if rep == nil || !rep.Integrity.OK || len(p.passing) != map[int]int{0: 1, 1: 0, 2: 1}[i] || len(rep.Images) != map[int]int{0: 1, 1: 1, 2: 2}[i] {
			t.Fatalf("baseline %s: %+v", p.name, rep)
		}
	}

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("AIRLOCK_PROPERTY_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("AIRLOCK_PROPERTY_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (AIRLOCK_PROPERTY_SEED replays it; AIRLOCK_PROPERTY_TIME runs longer)", seed)
	rng := rand.New(rand.NewPCG(seed, 8))
	deadline := time.Now().Add(propertyDuration(t))
	outcomes := map[string]int{}
	defer func() { t.Logf("outcomes: %v", outcomes) }()
	for iter := 0; iter < 4 || time.Now().Before(deadline); iter++ {
		var applied []string
		p := starts[iter%len(starts)]
		path := editBundle(t, p.bundle, filepath.Join(g.dir, fmt.Sprintf("prop%d.tar", iter)), func(e *bundleEdit) {
			for range 1 + rng.IntN(3) {
				m := mutations[rng.IntN(len(mutations))]
				applied = append(applied, m.name)
				m.apply(e, g, rng)
			}
		})
		opts := []airlock.Option{airlock.WithPolicyFile(p.policy), airlock.WithTrustDir(g.trustDir)}
		rep, _ := airlock.Verify(context.Background(), path, opts...)
		if rep == nil {
			t.Fatalf("iteration %d %v: no report", iter, applied)
		}
		outcomes[string(rep.Verdict)]++
		for d := range passingDigests(rep) {
			if !p.passing[d] {
				t.Fatalf("iteration %d (seed %d) %v from %s: %s passes, it did not before", iter, seed, applied, p.name, d)
			}
		}
		// Import under the same policy, pushing what passed; every tag it
		// writes must point at a manifest the policy judged to pass, or be
		// an artifact's or a referrer list's sha256- tag.
		g.proxy.take()
		res, _ := airlock.Import(context.Background(), path, fmt.Sprintf("%s/p%d", g.proxy.host(), iter),
			g.importOpts(airlock.WithPolicyFile(p.policy), airlock.WithOnlyVerified())...)
		judged := map[string]bool{}
		if res != nil && res.Report != nil {
			judged = passingDigests(res.Report)
		}
		for _, w := range writes(g.proxy.take()) {
			ref, isManifest := manifestRef(w)
			if !isManifest || strings.HasPrefix(ref, "sha256:") {
				continue
			}
			sum := sha256.Sum256(w.Body)
			digest := "sha256:" + hex.EncodeToString(sum[:])
			outcomes["tags written"]++
			if legacyOrFallbackTag.MatchString(ref) {
				continue // artifact and referrer-list tags: Reconcile proved them
			}
			if !judged[digest] || !p.passing[digest] {
				t.Fatalf("iteration %d (seed %d) %v: import tagged %s -> %s, which the policy did not pass", iter, seed, applied, w.Path, digest)
			}
		}
	}
}

// manifestRef returns the reference of a manifest PUT.
func manifestRef(r recorded) (string, bool) {
	if r.Method != http.MethodPut {
		return "", false
	}
	_, ref, ok := strings.Cut(r.Path, "/manifests/")
	return ref, ok
}

func passingDigests(rep *verify.Report) map[string]bool {
	out := map[string]bool{}
	if rep == nil {
		return out
	}
	for _, img := range rep.Images {
		if img.Verdict == verify.VerdictPass || img.Verdict == verify.VerdictAllowedByDefault {
			out[img.Digest] = true
		}
	}
	return out
}

type mutation struct {
	name  string
	apply func(e *bundleEdit, g *gateFixture, rng *rand.Rand)
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// candidate values an attacker may write.
func (g *gateFixture) names() []string {
	h := g.w.SourceHost()
	return []string{h + "/vendor/app:1.0", h + "/vendor/app:latest", h + "/vendor/other:1.0", "docker.io/app:1.0", "app:1.0",
		"evil.example/vendor/app:1.0", "INDEX.docker.io/vendor/app:1.0", h + "/vendor/../app:1.0", h + "/vendor//app:1.0", h + "/vendor/app/",
		h + "/vendor/app@" + g.idx}
}

func (g *gateFixture) digests() []v1.Hash {
	return []v1.Hash{g.w.Digest, g.w.Platforms[0], g.w.Platforms[1]}
}

func (g *gateFixture) tags() []string {
	hex := func(h v1.Hash) string { return "sha256-" + h.Hex }
	return []string{"", "1.0", "latest", "../../victim/app/manifests/prod", hex(g.w.Digest) + ".sig", hex(g.w.Digest) + ".att",
		hex(g.w.Digest) + ".sbom", hex(g.w.Platforms[1]) + ".sig", hex(g.w.Platforms[0]) + ".sig", hex(g.w.Digest)}
}

var kinds = []artifact.Kind{artifact.KindCosignSignature, artifact.KindCosignAttestation, artifact.KindCosignSBOM, artifact.KindSigstoreBundle,
	artifact.KindBuildKitAttestation, artifact.KindSBOM, artifact.KindReferrer, "made-up"}
var foundBys = []artifact.FoundBy{artifact.FoundByReferrersAPI, artifact.FoundByFallbackTag, artifact.FoundByLegacyTag, artifact.FoundByInIndex, ""}

// setName names the image entry and (or only) the inventory image.
func setName(e *bundleEdit, n string, entry, inv bool) {
	if i := e.findImageEntry(); entry && i >= 0 {
		ann := map[string]string{}
		for k, v := range e.index[i].Annotations {
			ann[k] = v
		}
		ann[bundle.AnnotationRefName], ann[bundle.AnnotationImageName] = n, n
		e.index[i].Annotations = ann
	}
	if inv && len(e.inv.Images) > 0 {
		e.inv.Images[0].Name, e.inv.Images[0].Reference = n, n
	}
}

var mutations = []mutation{
	{"platforms: shuffle, drop or duplicate", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		for i := range e.inv.Images {
			ps := e.inv.Images[i].Platforms
			rng.Shuffle(len(ps), func(a, b int) { ps[a], ps[b] = ps[b], ps[a] })
			switch rng.IntN(3) {
			case 0:
				e.inv.Images[i].Platforms = ps[:rng.IntN(len(ps)+1)]
			case 1:
				if len(ps) > 0 {
					e.inv.Images[i].Platforms = append(ps, ps[0])
				}
			}
		}
	}},
	{"platforms: relabel", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		for i := range e.inv.Images {
			for j := range e.inv.Images[i].Platforms {
				e.inv.Images[i].Platforms[j].Platform = pick(rng, []string{"unknown/unknown", "linux/amd64", "linux/arm64", "unknown"})
			}
		}
	}},
	{"name: entry and inventory", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		setName(e, pick(rng, g.names()), true, true)
	}},
	{"name: one side only", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		entry := rng.IntN(2) == 0
		setName(e, pick(rng, g.names()), entry, !entry)
	}},
	{"image digest", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		ie := e.findImageEntry()
		if ie < 0 {
			return
		}
		descs := append([]v1.Descriptor{e.index[ie]}, e.imageIndex(g.w.Digest).Manifests...)
		d := pick(rng, descs)
		if len(e.inv.Images) > 0 {
			e.inv.Images[0].Digest = d.Digest.String()
			if rng.IntN(2) == 0 {
				e.inv.Images[0].Size, e.inv.Images[0].MediaType = d.Size, string(d.MediaType)
			}
		}
		if rng.IntN(2) == 0 {
			e.index[ie].Digest, e.index[ie].Size, e.index[ie].MediaType = d.Digest, d.Size, d.MediaType
		}
	}},
	{"artifacts: drop, duplicate, shuffle", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		for i := range e.inv.Images {
			as := e.inv.Images[i].Artifacts
			rng.Shuffle(len(as), func(a, b int) { as[a], as[b] = as[b], as[a] })
			if len(as) > 0 && rng.IntN(2) == 0 {
				as = append(as, as[rng.IntN(len(as))])
			} else if len(as) > 0 {
				as = as[:rng.IntN(len(as))]
			}
			e.inv.Images[i].Artifacts = as
		}
	}},
	{"artifact: kind, origin, tag or subject", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		if len(e.inv.Images) == 0 || len(e.inv.Images[0].Artifacts) == 0 {
			return
		}
		a := &e.inv.Images[0].Artifacts[rng.IntN(len(e.inv.Images[0].Artifacts))]
		switch rng.IntN(4) {
		case 0:
			a.Kind = pick(rng, kinds)
		case 1:
			a.FoundBy = pick(rng, foundBys)
		case 2:
			a.Tag = pick(rng, g.tags())
		case 3:
			a.Subject = pick(rng, g.digests()).String()
		}
	}},
	{"artifact: an unsigned image", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		evil := e.putImage("amd64")
		ann := map[string]string{bundle.AnnotationRole: pick(rng, []string{bundle.RoleArtifact, bundle.RoleImage, ""})}
		if rng.IntN(2) == 0 {
			ann[bundle.AnnotationRefName] = pick(rng, g.names())
		}
		e.index = append(e.index, v1.Descriptor{MediaType: evil.MediaType, Size: evil.Size, Digest: evil.Digest, Annotations: ann})
		if len(e.inv.Images) > 0 {
			e.inv.Images[0].Artifacts = append(e.inv.Images[0].Artifacts, bundle.Artifact{Kind: pick(rng, kinds), Digest: evil.Digest.String(),
				MediaType: string(evil.MediaType), Size: evil.Size, Subject: pick(rng, g.digests()).String(), FoundBy: pick(rng, foundBys),
				Repository: g.w.SourceHost() + "/vendor/app", Tag: pick(rng, g.tags())})
		}
	}},
	{"image: an unsigned one, told truthfully", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		evil := e.putImage("amd64")
		n := pick(rng, g.names())
		e.index = append(e.index, v1.Descriptor{MediaType: evil.MediaType, Size: evil.Size, Digest: evil.Digest,
			Annotations: map[string]string{bundle.AnnotationRole: bundle.RoleImage, bundle.AnnotationRefName: n}})
		e.inv.Images = append(e.inv.Images, bundle.Image{Reference: n, Name: n, Digest: evil.Digest.String(), MediaType: string(evil.MediaType),
			Size: evil.Size, Platforms: []bundle.Platform{{Platform: "linux/amd64", Digest: evil.Digest.String(), Size: evil.Size}}, Artifacts: []bundle.Artifact{}})
	}},
	{"index: wrap the signed index", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		ie := e.findImageEntry()
		if ie < 0 {
			return
		}
		im := e.index[ie]
		signed := v1.Descriptor{MediaType: im.MediaType, Size: im.Size, Digest: im.Digest, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}
		evil := e.putImage("amd64")
		evil.Platform = &v1.Platform{OS: "linux", Architecture: pick(rng, []string{"amd64", "unknown"})}
		if rng.IntN(2) == 0 {
			evil.Platform.OS = "unknown"
			evil.Annotations = map[string]string{bundle.AnnotationDockerReferenceType: "attestation-manifest", bundle.AnnotationDockerReferenceDigest: im.Digest.String()}
		}
		outer := e.putJSON(types.OCIImageIndex, v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{evil, signed}})
		e.index[ie].Digest, e.index[ie].Size = outer.Digest, outer.Size
		if len(e.inv.Images) > 0 {
			img := &e.inv.Images[0]
			img.Digest, img.Size = outer.Digest.String(), outer.Size
			img.Platforms = []bundle.Platform{{Platform: "linux/arm64", Digest: signed.Digest.String(), Size: signed.Size}}
			if rng.IntN(2) == 0 {
				img.Platforms = append(img.Platforms, bundle.Platform{Platform: "linux/amd64", Digest: evil.Digest.String(), Size: evil.Size})
			}
		}
	}},
	{"index: drop the unsigned platform from the image index", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		i := e.findImageEntry()
		if i < 0 || !e.index[i].MediaType.IsIndex() {
			return
		}
		idx := e.imageIndex(e.index[i].Digest)
		idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d v1.Descriptor) bool { return d.Digest == g.w.Platforms[1] })
		d := e.putJSON(types.OCIImageIndex, idx)
		e.index[i].Digest, e.index[i].Size = d.Digest, d.Size
		if len(e.inv.Images) > 0 {
			e.inv.Images[0].Digest, e.inv.Images[0].Size = d.Digest.String(), d.Size
			e.inv.Images[0].Platforms = slices.DeleteFunc(e.inv.Images[0].Platforms, func(p bundle.Platform) bool { return p.Digest == g.w.Platforms[1].String() })
		}
	}},
	{"index.json: roles and names", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		i := rng.IntN(len(e.index))
		ann := map[string]string{}
		for k, v := range e.index[i].Annotations {
			ann[k] = v
		}
		switch rng.IntN(4) {
		case 0:
			delete(ann, bundle.AnnotationRole)
		case 1:
			ann[bundle.AnnotationRole] = pick(rng, []string{bundle.RoleImage, bundle.RoleArtifact, bundle.RoleTrust, "other"})
		case 2:
			ann[bundle.AnnotationRefName] = pick(rng, append(g.names(), g.w.SourceHost()+"/vendor/app:"+pick(rng, g.tags()[1:])))
		case 3:
			delete(ann, bundle.AnnotationRefName)
			delete(ann, bundle.AnnotationImageName)
		}
		e.index[i].Annotations = ann
	}},
	{"index.json: drop or duplicate an entry", func(e *bundleEdit, g *gateFixture, rng *rand.Rand) {
		i := rng.IntN(len(e.index))
		if e.index[i].Annotations[bundle.AnnotationRole] == bundle.RoleImage {
			// keep the image entry findable for the other mutations
			e.index = append(e.index, e.index[i])
			return
		}
		e.index = slices.Delete(e.index, i, i+1)
	}},
}

func mustTag(t *testing.T, ref string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
