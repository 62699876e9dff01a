package bundle

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/internal/human"
)

// CheckedImage is one image of a bundle as the content-addressed graph
// describes it, after Reconcile checked the inventory against it. Every
// field a verdict or a push depends on comes from index.json, the manifests
// and their descriptors; the inventory only confirmed it.
type CheckedImage struct {
	// Name is the canonical name (see ParseName): what the policy judges,
	// the report shows and import maps.
	Name Name
	// Reference is the reference the user asked for at export, for display
	// only; its repository is Name's.
	Reference string
	// Descriptor of the image (index or manifest) as index.json names it,
	// without annotations or platform.
	Descriptor v1.Descriptor
	// Platforms are the manifests below the image index (nested indexes
	// included, BuildKit attestation manifests excluded), or the image
	// manifest itself for a single-platform image.
	Platforms []CheckedPlatform
	// Artifacts attached to the image, its platforms or other artifacts,
	// once each, subjects before what refers to them.
	Artifacts []CheckedArtifact
}

// CheckedPlatform is one platform manifest of an image.
type CheckedPlatform struct {
	// Platform is "os/arch[/variant]" from the index descriptor (the
	// image config for a single-platform image), or "unknown".
	Platform   string
	Descriptor v1.Descriptor
}

// CheckedArtifact is one artifact whose attachment the graph proves: a
// legacy tag that names its subject and content of the kind its suffix
// implies, a referrer whose manifest subject is its subject, or a BuildKit
// attestation manifest inside the image index.
type CheckedArtifact struct {
	Kind artifact.Kind
	// Descriptor of the artifact manifest (or index), without annotations.
	Descriptor v1.Descriptor
	// ArtifactType and Annotations of the manifest itself.
	ArtifactType string
	Annotations  map[string]string
	Subject      v1.Hash
	FoundBy      artifact.FoundBy
	// Tag is the legacy tag ("sha256-<hex of Subject>.sig|.att|.sbom"),
	// only for artifact.FoundByLegacyTag.
	Tag string
	// Repository it was found in, as the inventory says (informational).
	Repository string
	// Layers of the manifest: the evidence it holds (nil for an index).
	Layers []v1.Descriptor
}

// Legacy tag suffixes by kind (cosign's conventions).
var legacySuffix = map[artifact.Kind]string{
	artifact.KindCosignSignature:   ".sig",
	artifact.KindCosignAttestation: ".att",
	artifact.KindCosignSBOM:        ".sbom",
}

// Layer media types the legacy kinds hold.
const (
	mediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	mediaTypeDSSE          = "application/vnd.dsse.envelope.v1+json"
	mediaTypeInToto        = "application/vnd.in-toto+json"
)

// Annotations BuildKit puts on attestation manifests in an image index.
const (
	AnnotationDockerReferenceType   = "vnd.docker.reference.type"
	AnnotationDockerReferenceDigest = "vnd.docker.reference.digest"
)

// IsSBOMMediaType reports the media types of SBOM documents (SPDX,
// CycloneDX, Syft), parameters ignored.
func IsSBOMMediaType(t string) bool {
	t, _, _ = strings.Cut(t, ";")
	t = strings.ToLower(strings.TrimSpace(t))
	for _, s := range []string{"application/spdx", "text/spdx", "application/vnd.spdx", "application/vnd.cyclonedx", "application/cyclonedx", "application/vnd.syft+json", "example/sbom"} {
		if strings.HasPrefix(t, s) {
			return true
		}
	}
	return false
}

// IsAttestationManifest reports whether an index entry is a BuildKit
// attestation manifest, recognised structurally: platform unknown/unknown
// and annotation vnd.docker.reference.type=attestation-manifest.
func IsAttestationManifest(d v1.Descriptor) bool {
	return d.Annotations[AnnotationDockerReferenceType] == "attestation-manifest" &&
		d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// Reconcile derives the bundle's images from the content graph and checks
// every fact the inventory states against it; any disagreement refuses the
// bundle (errors wrap ErrDisagreement, ErrInvalidName or
// ErrTooManyArtifacts, all ErrInvalidBundle). In particular:
//
//   - index.json's image entries (role image, named by
//     org.opencontainers.image.ref.name / io.containerd.image.name) and the
//     inventory's images correspond one to one by canonical name and digest;
//     a name on any other entry must be the legacy tag of an artifact;
//   - an image's platforms are the children of its index, never the
//     inventory's list, which must equal them;
//   - a legacy artifact's tag is exactly sha256-<hex of its subject> with
//     the suffix of its kind, and its layers are of that kind; a referrer's
//     manifest subject is its subject; a BuildKit attestation is an
//     attestation manifest of the image's index; anything else is refused;
//   - artifacts listed more than once are kept once, and the caps of Limits
//     on artifacts and evidence apply.
//
// The graph must come from r.Graph. Only manifests (already read by the
// graph walk) and, for a single-platform image, its config are read.
func (r *Reader) Reconcile(g *Graph, inv *Inventory) ([]CheckedImage, error) {
	lim := r.opts.limits
	rc := reconciler{r: r, g: g,
		maxArtPerImage: orDefault(lim.MaxArtifactsPerImage, DefaultMaxArtifactsPerImage),
		maxArt:         orDefault(lim.MaxArtifacts, DefaultMaxArtifacts),
		maxEvPerImage:  orDefault(lim.MaxEvidencePerImage, DefaultMaxEvidencePerImage),
		maxEv:          orDefault(lim.MaxEvidence, DefaultMaxEvidence),
	}
	return rc.run(inv)
}

type reconciler struct {
	r                                            *Reader
	g                                            *Graph
	maxArtPerImage, maxArt, maxEvPerImage, maxEv int
	nArt, nEv                                    int
}

func disagree(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrDisagreement, fmt.Sprintf(format, a...))
}

// indexEntry is one named image entry of index.json.
type indexEntry struct {
	pos  int
	name Name
	desc v1.Descriptor
	used bool
}

func (rc *reconciler) run(inv *Inventory) ([]CheckedImage, error) {
	var images []*indexEntry
	artifactNames := map[v1.Hash][]Name{} // legacy tags index.json gives artifacts
	artifactEntries := map[v1.Hash]int{}
	var referrers []int // index.json positions of referrers fallback indexes
	for i, d := range rc.g.Roots {
		where := fmt.Sprintf("index.json manifests[%d] (%s)", i, d.Digest)
		role := d.Annotations[AnnotationRole]
		if role == RoleReferrers {
			referrers = append(referrers, i) // named by a bare fallback tag: checked below
			continue
		}
		nm, hasName, err := entryName(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		switch role {
		case RoleImage:
			if !hasName {
				return nil, disagree("%s has role image but no %s", where, AnnotationRefName)
			}
			if nm.Digest != "" && nm.Digest != d.Digest.String() {
				return nil, disagree("%s is named %s, whose digest is not the entry's", where, nm)
			}
			for _, e := range images {
				if e.name == nm && e.desc.Digest != d.Digest {
					return nil, disagree("%s and index.json manifests[%d] both name %s, with different digests", where, e.pos, nm)
				}
			}
			images = append(images, &indexEntry{pos: i, name: nm, desc: d})
		case RoleArtifact:
			artifactEntries[d.Digest] = i
			if hasName {
				artifactNames[d.Digest] = append(artifactNames[d.Digest], nm)
			}
			if s, ok := d.Annotations[AnnotationTag]; ok {
				n, err := ParseName(s)
				if err != nil {
					return nil, fmt.Errorf("%s: annotation %s: %w", where, AnnotationTag, err)
				}
				artifactNames[d.Digest] = append(artifactNames[d.Digest], n)
			}
		case RoleInventory, RoleTrust, RoleBundleSignature:
			if hasName {
				return nil, disagree("%s has role %s but carries the image name %s", where, role, nm)
			}
		default:
			return nil, disagree("%s has role %q: every entry must be an image, artifact, referrers, trust, inventory or bundle-signature entry", where, role)
		}
	}
	listed := map[v1.Hash]bool{} // artifacts the inventory lists outside image indexes
	var out []CheckedImage
	for i, im := range inv.Images {
		where := fmt.Sprintf("inventory images[%d] (%q)", i, im.Name)
		ci, err := rc.image(im, where, images)
		if err != nil {
			return nil, err
		}
		for _, a := range ci.Artifacts {
			if a.FoundBy != artifact.FoundByInIndex {
				listed[a.Descriptor.Digest] = true
			}
		}
		out = append(out, ci)
	}
	for _, e := range images {
		if !e.used {
			return nil, disagree("index.json manifests[%d] names image %s (%s), which the inventory does not list", e.pos, e.name, e.desc.Digest)
		}
	}
	for i, d := range rc.g.Roots { // index.json order: the first problem is named
		if _, ok := artifactEntries[d.Digest]; ok && !listed[d.Digest] {
			return nil, disagree("index.json manifests[%d] is artifact %s, which no inventory image lists", i, d.Digest)
		}
	}
	for _, pos := range referrers {
		if err := rc.referrersIndex(pos, listed); err != nil {
			return nil, err
		}
	}
	legacy := legacyArtifacts(out)
	for _, d := range rc.g.Roots {
		for _, n := range artifactNames[d.Digest] {
			if !legacyNamed(legacy[d.Digest], n) {
				return nil, disagree("index.json names artifact %s %s, which is not the legacy tag the inventory gives it", d.Digest, n)
			}
		}
		delete(artifactNames, d.Digest)
	}
	return out, nil
}

// entryName is the canonical name an index.json entry carries, if any; the
// two name annotations must agree.
func entryName(d v1.Descriptor) (Name, bool, error) {
	var got []Name
	for _, k := range []string{AnnotationRefName, AnnotationImageName} {
		s, ok := d.Annotations[k]
		if !ok {
			continue
		}
		n, err := ParseName(s)
		if err != nil {
			return Name{}, false, fmt.Errorf("annotation %s: %w", k, err)
		}
		got = append(got, n)
	}
	switch {
	case len(got) == 0:
		return Name{}, false, nil
	case len(got) == 2 && got[0] != got[1]:
		return Name{}, false, disagree("%s %s and %s %s name different images", AnnotationRefName, got[0], AnnotationImageName, got[1])
	}
	return got[0], true, nil
}

// referrersIndex checks a referrers fallback index entry of index.json
// (RoleReferrers, written for layout readers such as regctl and oras): it
// is named by exactly the fallback tag of its subject, and every manifest
// it lists is an artifact the inventory lists whose own manifest names
// that subject. Import does not push it (it writes its own).
func (rc *reconciler) referrersIndex(pos int, listed map[v1.Hash]bool) error {
	d := rc.g.Roots[pos]
	where := fmt.Sprintf("index.json manifests[%d] (%s, referrers index)", pos, d.Digest)
	subj, err := parseDigest(d.Annotations[AnnotationSubject])
	if err != nil {
		return disagree("%s: annotation %s: %v", where, AnnotationSubject, err)
	}
	if tag := d.Annotations[AnnotationRefName]; tag != "sha256-"+subj.Hex {
		return disagree("%s is named %q, not the fallback tag of its subject %s", where, tag, subj)
	}
	if d.Annotations[AnnotationImageName] != "" || d.Annotations[AnnotationTag] != "" {
		return disagree("%s carries an image or artifact name", where)
	}
	n := rc.g.Nodes[d.Digest]
	if n == nil || n.Index == nil {
		return disagree("%s is not an image index", where)
	}
	for _, c := range n.Index.Manifests {
		cn := rc.g.Nodes[c.Digest]
		var s *v1.Descriptor
		if cn != nil && cn.Manifest != nil {
			s = cn.Manifest.Subject
		} else if cn != nil && cn.Index != nil {
			s = cn.Index.Subject
		}
		if s == nil || s.Digest != subj || !listed[c.Digest] {
			return disagree("%s lists %s, which is not a listed referrer whose manifest names %s", where, c.Digest, subj)
		}
	}
	return nil
}

// legacyArtifacts indexes the legacy-tag artifacts of images by digest
// (once: looking each index.json name up in every image made a
// catalogue's verify quadratic).
func legacyArtifacts(images []CheckedImage) map[v1.Hash][]*CheckedArtifact {
	out := map[v1.Hash][]*CheckedArtifact{}
	for i := range images {
		for j := range images[i].Artifacts {
			if a := &images[i].Artifacts[j]; a.FoundBy == artifact.FoundByLegacyTag {
				out[a.Descriptor.Digest] = append(out[a.Descriptor.Digest], a)
			}
		}
	}
	return out
}

// legacyNamed reports whether n is repository:tag of one of the legacy
// artifacts as (all of one digest).
func legacyNamed(as []*CheckedArtifact, n Name) bool {
	for _, a := range as {
		if n.Tag != a.Tag || n.Digest != "" {
			continue
		}
		if repo, err := ParseName(a.Repository); err == nil && repo.Repository() == n.Repository() {
			return true
		}
	}
	return false
}

func (rc *reconciler) image(im Image, where string, entries []*indexEntry) (CheckedImage, error) {
	nm, err := ParseName(im.Name)
	if err != nil {
		return CheckedImage{}, fmt.Errorf("%s name: %w", where, err)
	}
	asked, err := ParseName(im.Reference)
	if err != nil {
		return CheckedImage{}, fmt.Errorf("%s reference: %w", where, err)
	}
	if asked.Repository() != nm.Repository() {
		return CheckedImage{}, disagree("%s: reference %s and name %s are different repositories", where, asked, nm)
	}
	var e *indexEntry
	for _, c := range entries {
		if !c.used && c.name == nm {
			e = c
			break
		}
	}
	if e == nil {
		return CheckedImage{}, disagree("%s: index.json has no image entry named %s", where, nm)
	}
	e.used = true
	root := e.desc
	if im.Digest != root.Digest.String() {
		return CheckedImage{}, disagree("%s: digest %s, index.json's entry named %s is %s", where, im.Digest, nm, root.Digest)
	}
	if im.MediaType != string(root.MediaType) || im.Size != root.Size {
		return CheckedImage{}, disagree("%s: mediaType %q size %d, index.json says %q size %d", where, im.MediaType, im.Size, root.MediaType, root.Size)
	}
	n := rc.g.Nodes[root.Digest]
	if n == nil || (n.Manifest == nil && n.Index == nil) {
		return CheckedImage{}, disagree("%s: %s is not an image manifest or index", where, root.Digest)
	}
	ci := CheckedImage{Name: nm, Reference: im.Reference, Descriptor: plain(root)}
	attest, err := rc.platforms(&ci, n, im.Platforms)
	if err != nil {
		return CheckedImage{}, fmt.Errorf("%s: %w", where, err)
	}
	if err := samePlatforms(ci.Platforms, im.Platforms); err != nil {
		return CheckedImage{}, fmt.Errorf("%s: %w", where, err)
	}
	if err := rc.artifacts(&ci, im, attest, where); err != nil {
		return CheckedImage{}, err
	}
	return ci, nil
}

// plain drops what an index.json entry or a parent adds to a descriptor.
func plain(d v1.Descriptor) v1.Descriptor {
	return v1.Descriptor{MediaType: d.MediaType, Size: d.Size, Digest: d.Digest, ArtifactType: d.ArtifactType}
}

// platforms fills ci.Platforms from the graph and returns the BuildKit
// attestation manifests of the image's indexes, by digest.
func (rc *reconciler) platforms(ci *CheckedImage, n *Node, listed []Platform) (map[v1.Hash]v1.Descriptor, error) {
	attest := map[v1.Hash]v1.Descriptor{}
	if n.Index == nil {
		p, err := rc.configPlatform(n, listed)
		if err != nil {
			return nil, err
		}
		ci.Platforms = []CheckedPlatform{{Platform: p, Descriptor: ci.Descriptor}}
		return attest, nil
	}
	seen := map[v1.Hash]bool{n.Descriptor.Digest: true}
	var walk func(idx *v1.IndexManifest) error
	walk = func(idx *v1.IndexManifest) error {
		for _, c := range idx.Manifests {
			if !isIndexType(c.MediaType) && !isManifestType(c.MediaType) {
				continue // a plain blob: carried, not a platform
			}
			if IsAttestationManifest(c) {
				attest[c.Digest] = c
				continue
			}
			if c.Annotations[AnnotationDockerReferenceType] == "attestation-manifest" {
				return disagree("index entry %s is marked as an attestation manifest but its platform is not unknown/unknown", c.Digest)
			}
			if c.Platform != nil && c.Platform.OS == "unknown" && c.Platform.Architecture == "unknown" {
				// Policies skip unknown/unknown as BuildKit's; only a
				// structurally recognised attestation manifest may use it.
				return disagree("index entry %s has platform unknown/unknown but is not an attestation manifest (%s=attestation-manifest)", c.Digest, AnnotationDockerReferenceType)
			}
			if seen[c.Digest] {
				continue
			}
			seen[c.Digest] = true
			p := "unknown"
			if c.Platform != nil && c.Platform.OS != "" {
				p = human.Platform(*c.Platform)
			}
			ci.Platforms = append(ci.Platforms, CheckedPlatform{Platform: p, Descriptor: plain(c)})
			if cn := rc.g.Nodes[c.Digest]; cn != nil && cn.Index != nil {
				if err := walk(cn.Index); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return attest, walk(n.Index)
}

// configPlatform reads a single-platform image's platform from its config
// (capped at 1 MiB, checked against its digest); "unknown" when it has none.
// A delta bundle may omit the config: the platform of a single manifest is
// then the inventory's label, which no verdict depends on (the image is its
// own and only platform; the policy judges it by its digest).
func (rc *reconciler) configPlatform(n *Node, listed []Platform) (string, error) {
	m := n.Manifest
	if !m.Config.MediaType.IsConfig() || m.Config.Size > maxConfigSize {
		return "unknown", nil
	}
	if cn := rc.g.Nodes[m.Config.Digest]; cn != nil && cn.Omitted {
		if len(listed) == 1 && listed[0].Digest == n.Descriptor.Digest.String() {
			return listed[0].Platform, nil
		}
		return "unknown", nil
	}
	data, err := rc.r.ReadBlobOnce(m.Config.Digest, maxConfigSize)
	if err != nil {
		return "", fmt.Errorf("reading config %s: %w", m.Config.Digest, err)
	}
	cfg, err := v1.ParseConfigFile(strings.NewReader(string(data)))
	if err != nil || cfg.OS == "" {
		return "unknown", nil
	}
	return human.Platform(v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}), nil
}

const maxConfigSize = 1 << 20

// samePlatforms checks that the inventory's platform list is exactly the
// derived one (order aside).
func samePlatforms(got []CheckedPlatform, listed []Platform) error {
	key := func(p, d string, s int64) string { return fmt.Sprintf("%s %s %d", p, d, s) }
	var a, b []string
	for _, p := range got {
		a = append(a, key(p.Platform, p.Descriptor.Digest.String(), p.Descriptor.Size))
	}
	for _, p := range listed {
		b = append(b, key(p.Platform, p.Digest, p.Size))
	}
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		return disagree("the inventory lists platforms [%s], the image index holds [%s]", strings.Join(b, ", "), strings.Join(a, ", "))
	}
	return nil
}

// artifacts checks every artifact the inventory lists for im against the
// graph, keeps each once, and orders them subjects first.
func (rc *reconciler) artifacts(ci *CheckedImage, im Image, attest map[v1.Hash]v1.Descriptor, where string) error {
	byDigest := map[v1.Hash]int{}
	tags := map[string]v1.Hash{} // legacy tag -> artifact
	var list []CheckedArtifact
	for j, a := range im.Artifacts {
		aw := fmt.Sprintf("%s artifacts[%d] (%s)", where, j, a.Digest)
		ca, err := rc.artifact(a, attest, aw)
		if err != nil {
			return err
		}
		if k, dup := byDigest[ca.Descriptor.Digest]; dup {
			p := list[k]
			if p.Kind != ca.Kind || p.Subject != ca.Subject || p.FoundBy != ca.FoundBy || p.Tag != ca.Tag {
				return disagree("%s is listed twice with different kind, subject, tag or origin", aw)
			}
			continue // listed again: checked once
		}
		if ca.Tag != "" {
			if other, dup := tags[ca.Tag]; dup {
				return disagree("%s: legacy tag %s names both %s and %s", aw, ca.Tag, other, ca.Descriptor.Digest)
			}
			tags[ca.Tag] = ca.Descriptor.Digest
		}
		byDigest[ca.Descriptor.Digest] = len(list)
		list = append(list, ca)
		if len(list) > rc.maxArtPerImage {
			return fmt.Errorf("%w: %s lists more than %d distinct artifacts", ErrTooManyArtifacts, where, rc.maxArtPerImage)
		}
	}
	// Subjects: the image, its platforms, or another artifact of the image;
	// ordered so that a subject comes before what refers to it.
	done := map[v1.Hash]bool{ci.Descriptor.Digest: true}
	for _, p := range ci.Platforms {
		done[p.Descriptor.Digest] = true
	}
	evidence := 0
	for len(list) > 0 {
		var rest []CheckedArtifact
		for _, a := range list {
			if !done[a.Subject] {
				rest = append(rest, a)
				continue
			}
			done[a.Descriptor.Digest] = true
			ci.Artifacts = append(ci.Artifacts, a)
			evidence += len(a.Layers)
		}
		if len(rest) == len(list) {
			a := rest[0]
			if _, ok := byDigest[a.Subject]; ok {
				return disagree("%s: artifacts attached to each other in a cycle (%s)", where, a.Descriptor.Digest)
			}
			return disagree("%s: artifact %s is attached to %s, which is neither the image, one of its platforms nor one of its artifacts", where, a.Descriptor.Digest, a.Subject)
		}
		list = rest
	}
	rc.nArt += len(ci.Artifacts)
	rc.nEv += evidence
	switch {
	case evidence > rc.maxEvPerImage:
		return fmt.Errorf("%w: %s: its artifacts hold %d pieces of evidence (layers), limit %d", ErrTooManyArtifacts, where, evidence, rc.maxEvPerImage)
	case rc.nArt > rc.maxArt:
		return fmt.Errorf("%w: the bundle lists more than %d distinct artifacts", ErrTooManyArtifacts, rc.maxArt)
	case rc.nEv > rc.maxEv:
		return fmt.Errorf("%w: the bundle's artifacts hold more than %d pieces of evidence (layers)", ErrTooManyArtifacts, rc.maxEv)
	}
	return nil
}

// artifact checks one inventory artifact against the graph.
func (rc *reconciler) artifact(a Artifact, attest map[v1.Hash]v1.Descriptor, where string) (CheckedArtifact, error) {
	h, err := parseDigest(a.Digest)
	if err != nil {
		return CheckedArtifact{}, disagree("%s: %v", where, err)
	}
	subj, err := parseDigest(a.Subject)
	if err != nil {
		return CheckedArtifact{}, disagree("%s subject: %v", where, err)
	}
	n := rc.g.Nodes[h]
	if n == nil || (n.Manifest == nil && n.Index == nil) {
		return CheckedArtifact{}, disagree("%s is not a manifest of the bundle's content graph", where)
	}
	if string(n.Descriptor.MediaType) != a.MediaType || n.Descriptor.Size != a.Size {
		return CheckedArtifact{}, disagree("%s: mediaType %q size %d, the graph has %q size %d", where, a.MediaType, a.Size, n.Descriptor.MediaType, n.Descriptor.Size)
	}
	ca := CheckedArtifact{Kind: a.Kind, Descriptor: plain(n.Descriptor), Subject: subj, FoundBy: a.FoundBy, Repository: a.Repository}
	var manifestSubject *v1.Descriptor
	if n.Manifest != nil {
		ca.ArtifactType = n.Manifest.ArtifactType
		ca.Annotations = n.Manifest.Annotations
		ca.Layers = n.Manifest.Layers
		manifestSubject = n.Manifest.Subject
	} else {
		ca.ArtifactType = n.Index.ArtifactType
		ca.Annotations = n.Index.Annotations
		manifestSubject = n.Index.Subject
	}
	ca.Descriptor.ArtifactType = ca.ArtifactType
	if manifestSubject != nil && manifestSubject.Digest != subj {
		return CheckedArtifact{}, disagree("%s: the inventory says it is attached to %s, its manifest's subject is %s", where, subj, manifestSubject.Digest)
	}
	if a.Tag != "" && a.FoundBy != artifact.FoundByLegacyTag {
		return CheckedArtifact{}, disagree("%s: tag %q on an artifact found by %q: only legacy artifacts have tags", where, a.Tag, a.FoundBy)
	}
	switch a.FoundBy {
	case artifact.FoundByLegacyTag:
		suffix, ok := legacySuffix[a.Kind]
		if !ok {
			return CheckedArtifact{}, disagree("%s: kind %q cannot be found by a legacy tag", where, a.Kind)
		}
		want := "sha256-" + subj.Hex + suffix
		if a.Tag != want {
			return CheckedArtifact{}, disagree("%s: legacy tag %q, want %q (the subject's digest and the suffix of kind %s)", where, a.Tag, want, a.Kind)
		}
		if n.Manifest == nil || len(n.Manifest.Layers) == 0 {
			return CheckedArtifact{}, disagree("%s: a legacy %s artifact must be an image manifest with layers", where, a.Kind)
		}
		for k, l := range n.Manifest.Layers {
			if !legacyLayerOK(a.Kind, string(l.MediaType)) {
				return CheckedArtifact{}, disagree("%s: layer %d has media type %q, not what a %s tag holds", where, k, l.MediaType, suffix)
			}
		}
		ca.Tag = a.Tag
	case artifact.FoundByReferrersAPI, artifact.FoundByFallbackTag:
		if manifestSubject == nil {
			return CheckedArtifact{}, disagree("%s: found as a referrer but its manifest has no subject", where)
		}
	case artifact.FoundByInIndex:
		d, ok := attest[h]
		if !ok || a.Kind != artifact.KindBuildKitAttestation {
			return CheckedArtifact{}, disagree("%s: kind %q in-index, but the image index holds no attestation manifest %s", where, a.Kind, h)
		}
		if d.Annotations[AnnotationDockerReferenceDigest] != subj.String() {
			return CheckedArtifact{}, disagree("%s: attached to %s, the index entry says %s", where, subj, d.Annotations[AnnotationDockerReferenceDigest])
		}
		if n.Manifest == nil {
			return CheckedArtifact{}, disagree("%s: an attestation manifest must be an image manifest", where)
		}
		for k, l := range n.Manifest.Layers {
			if string(l.MediaType) != mediaTypeInToto {
				return CheckedArtifact{}, disagree("%s: attestation manifest layer %d has media type %q, not %s", where, k, l.MediaType, mediaTypeInToto)
			}
		}
	default:
		return CheckedArtifact{}, disagree("%s: foundBy %q: an artifact must be a legacy tag, a referrer or in the image index", where, a.FoundBy)
	}
	return ca, nil
}

// legacyLayerOK reports whether a legacy tag of kind may hold a layer of type mt.
func legacyLayerOK(kind artifact.Kind, mt string) bool {
	switch kind {
	case artifact.KindCosignSignature:
		return mt == mediaTypeSimpleSigning
	case artifact.KindCosignAttestation:
		return mt == mediaTypeDSSE
	case artifact.KindCosignSBOM:
		return IsSBOMMediaType(mt)
	}
	return false
}
