package transfer

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/registry"
)

// Mapping says where the images of a bundle land in the target.
type Mapping struct {
	// Prefix is the target, "registry[/prefix]".
	Prefix name.Repository
	// DropHost leaves the source registry host out of the target path
	// (see MapReference).
	DropHost bool
}

// Plan is everything an import pushes. Build it with New, settle its tags
// (Image.Settle, or Executor.Settle against a registry), then hand it to an
// Executor. A Plan is not safe for concurrent use.
type Plan struct {
	// Images are the selected images, in the bundle's order.
	Images []*Image
	// Skipped are the positions (in the images given to New) of the
	// images that were not selected: nothing is pushed for them.
	Skipped []int
}

// Image is what one image needs in the target, each list in push order.
type Image struct {
	// Index is the image's position in the images given to New (and in
	// the verification report).
	Index int
	// Source is the image as the bundle names it.
	Source string
	// Repo is the target repository (MapReference).
	Repo name.Repository
	// Tag is the image's tag, "" for an image exported by digest.
	Tag  string
	Root v1.Descriptor
	// Blobs are the configs and layers carried by the bundle, once each;
	// non-distributable layers are not carried and not listed.
	Blobs []Ref
	// Omitted are the blobs a delta bundle left out: the target must
	// already hold them (Executor.EnsureOmitted).
	Omitted []Ref
	// Manifests are the image's manifests, children before parents, the
	// image root last.
	Manifests []Ref
	// Artifacts are the artifacts attached to the image, its platforms or
	// other artifacts, subjects before the artifacts attached to them.
	Artifacts []Artifact
	// Tags are set last: the image's own tag, then the legacy tags of its
	// artifacts. Their outcomes are TagUnsettled until Settle.
	Tags []Tag
}

// Artifact is one artifact attached to a subject.
type Artifact struct {
	// Manifests are the artifact's own child manifests, then the artifact.
	Manifests []Ref
	// Desc is the artifact's descriptor as a referrer lists it
	// (artifactType and annotations filled).
	Desc    v1.Descriptor
	Subject v1.Hash
	// Tag is the legacy tag (sha256-<subject>.sig|att|sbom), "" for a
	// referrer.
	Tag string
	// Referrer: attached through its subject field (the referrers API, or
	// the fallback tag where the target has no referrers API).
	Referrer bool
	// Standalone: nothing else in the image refers to the artifact's
	// manifest, as a subject or as an index's child, so nothing needs it in
	// place before its tag (Image.tagOnly).
	Standalone bool
}

// Ref is what a push needs of a blob's or a manifest's descriptor. A
// catalogue's plan holds tens of thousands of them: 56 bytes each, where a
// v1.Descriptor takes 136.
type Ref struct {
	Digest    v1.Hash
	Size      int64
	MediaType types.MediaType
}

// RefOf keeps what a push needs of d.
func RefOf(d v1.Descriptor) Ref { return Ref{Digest: d.Digest, Size: d.Size, MediaType: d.MediaType} }

// Descriptor is the descriptor a push sends.
func (r Ref) Descriptor() v1.Descriptor {
	return v1.Descriptor{MediaType: r.MediaType, Size: r.Size, Digest: r.Digest}
}

// Tag is one tag a plan sets.
type Tag struct {
	Name string
	// Manifest is what the tag points at.
	Manifest Ref
	// Outcome is what the import does with the tag.
	Outcome TagOutcome
	// Previous is the digest the tag pointed at in the target when it
	// differs from Manifest's (TagForced, TagConflict); zero otherwise.
	Previous v1.Hash
}

// Reference is where the image lands: repository:tag, or repository@digest.
func (im *Image) Reference() string {
	if im.Tag != "" {
		return im.Repo.Tag(im.Tag).Name()
	}
	return im.Repo.Digest(im.Root.Digest.String()).Name()
}

// New plans the images selected to go, from the bundle's content graph
// alone. selected reports, by position, whether an image goes (the others
// are listed in Skipped). Two images that would set one tag to different
// digests are refused, before anything is sent. New is pure: it reads no
// bundle and talks to no registry.
func New(g *bundle.Graph, images []bundle.CheckedImage, selected func(i int) bool, m Mapping) (*Plan, error) {
	p := &Plan{}
	targets := map[string]v1.Hash{} // repository:tag -> digest, across images
	for i, img := range images {
		if !selected(i) {
			p.Skipped = append(p.Skipped, i)
			continue
		}
		im, err := planImage(g, img, m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", img.Name, err)
		}
		im.Index = i
		for _, t := range im.Tags {
			key := im.Repo.Name() + ":" + t.Name
			if d, dup := targets[key]; dup && d != t.Manifest.Digest {
				return nil, fmt.Errorf("%s: %s would point at %s and at %s: two images land at one tag", img.Name, key, d, t.Manifest.Digest)
			}
			targets[key] = t.Manifest.Digest
		}
		p.Images = append(p.Images, im)
	}
	return p, nil
}

// MapReference places a canonical source name under the target prefix
// (docs/cli.md): the source registry host is kept as the first path
// component, its port joined with "_" (localhost:5000 -> localhost_5000),
// then the repository path. With dropHost the host is left out, and two
// source repositories can then share a target repository.
func MapReference(src bundle.Name, prefix name.Repository, dropHost bool) (name.Repository, error) {
	path := src.Path
	if !dropHost {
		host := strings.ReplaceAll(src.Host, ":", "_")
		if !bundle.ValidPathComponent(host) {
			return name.Repository{}, fmt.Errorf("source host %q cannot be written as a repository path component", src.Host)
		}
		path = host + "/" + path
	}
	full := prefix.RegistryStr() + "/" + path
	if p := prefix.RepositoryStr(); p != "" {
		full = prefix.RegistryStr() + "/" + p + "/" + path
	}
	return name.NewRepository(full, name.StrictValidation)
}

// planImage plans one image: where it lands, its blobs, its manifests
// children first, the artifacts attached to it subjects first, its tags.
func planImage(g *bundle.Graph, img bundle.CheckedImage, m Mapping) (*Image, error) {
	repo, err := MapReference(img.Name, m.Prefix, m.DropHost)
	if err != nil {
		return nil, fmt.Errorf("mapping %s under %s: %v", img.Name, m.Prefix, err)
	}
	im := &Image{Source: img.Name.String(), Repo: repo, Root: img.Descriptor, Tag: img.Name.Tag}
	w := &walker{g: g, im: im, seenBlob: map[v1.Hash]bool{}, seenManifest: map[v1.Hash]bool{}}
	if err := w.walk(img.Descriptor.Digest, &im.Manifests); err != nil {
		return nil, err
	}
	// Artifacts come reconciled: each attached to its subject by content,
	// listed once, subjects first.
	for _, a := range img.Artifacts {
		if a.FoundBy == artifact.FoundByInIndex {
			continue // part of the image index, pushed with it
		}
		ap := Artifact{Subject: a.Subject, Tag: a.Tag, Referrer: a.FoundBy != artifact.FoundByLegacyTag}
		if err := w.walk(a.Descriptor.Digest, &ap.Manifests); err != nil {
			return nil, err
		}
		if len(ap.Manifests) == 0 {
			continue // already pushed as part of the image
		}
		ap.Desc = ap.Manifests[len(ap.Manifests)-1].Descriptor()
		ap.Desc.ArtifactType = a.ArtifactType
		if n := g.Nodes[a.Descriptor.Digest]; n.Manifest != nil && ap.Desc.ArtifactType == "" {
			ap.Desc.ArtifactType = string(n.Manifest.Config.MediaType)
		}
		ap.Desc.Annotations = a.Annotations
		im.Artifacts = append(im.Artifacts, ap)
	}
	referred := referredTo(g, im)
	for i := range im.Artifacts {
		im.Artifacts[i].Standalone = !referred[im.Artifacts[i].Desc.Digest]
	}
	if im.Tag != "" {
		im.Tags = append(im.Tags, Tag{Name: im.Tag, Manifest: RefOf(im.Root)})
	}
	for _, a := range im.Artifacts {
		if a.Tag != "" {
			im.Tags = append(im.Tags, Tag{Name: a.Tag, Manifest: RefOf(a.Desc)})
		}
	}
	if err := im.validate(); err != nil {
		return nil, err
	}
	return im, nil
}

// referredTo lists the manifests of im that something else in it refers
// to: the subjects of its artifacts and the children of its indexes.
func referredTo(g *bundle.Graph, im *Image) map[v1.Hash]bool {
	referred := map[v1.Hash]bool{}
	children := func(ms []Ref) {
		for _, m := range ms {
			if n := g.Nodes[m.Digest]; n != nil && n.Index != nil {
				for _, c := range n.Index.Manifests {
					referred[c.Digest] = true
				}
			}
		}
	}
	children(im.Manifests)
	for _, a := range im.Artifacts {
		referred[a.Subject] = true
		children(a.Manifests)
	}
	return referred
}

// walker collects an image's blobs and manifests from the graph, each once.
type walker struct {
	g            *bundle.Graph
	im           *Image
	seenBlob     map[v1.Hash]bool
	seenManifest map[v1.Hash]bool
}

// walk adds everything below h to the image: blobs to its Blobs (or
// Omitted, for a blob a delta bundle left out), manifests to out in post
// order, children first.
func (w *walker) walk(h v1.Hash, out *[]Ref) error {
	n := w.g.Nodes[h]
	if n == nil {
		return fmt.Errorf("%s is not in the bundle", h)
	}
	if n.Manifest == nil && n.Index == nil {
		if !w.seenBlob[h] {
			w.seenBlob[h] = true
			if n.Omitted {
				w.im.Omitted = append(w.im.Omitted, RefOf(n.Descriptor))
			} else {
				w.im.Blobs = append(w.im.Blobs, RefOf(n.Descriptor))
			}
		}
		return nil
	}
	if w.seenManifest[h] {
		return nil
	}
	w.seenManifest[h] = true
	var children []v1.Hash
	if n.Index != nil {
		for _, c := range n.Index.Manifests {
			children = append(children, c.Digest)
		}
	}
	if n.Manifest != nil {
		children = append(children, n.Manifest.Config.Digest)
		for _, l := range n.Manifest.Layers {
			if l.MediaType.IsDistributable() { // a foreign layer is not carried
				children = append(children, l.Digest)
			}
		}
	}
	for _, c := range children {
		if err := w.walk(c, out); err != nil {
			return err
		}
	}
	*out = append(*out, RefOf(n.Descriptor))
	return nil
}

// validate checks everything the plan will write before anything is
// sent: the repository, every tag (the image's, legacy artifact tags and
// the fallback tags of referrers) and every manifest's media type. It is a
// second line behind bundle.Reader.Reconcile.
func (im *Image) validate() error {
	if _, err := name.NewRepository(im.Repo.Name(), name.StrictValidation); err != nil {
		return fmt.Errorf("target repository %s: %v", im.Repo, err)
	}
	if im.Tag != "" && !bundle.ValidTag(im.Tag) {
		return fmt.Errorf("tag %q is not a valid tag", im.Tag)
	}
	isManifest := func(d Ref) bool { return d.MediaType.IsImage() || d.MediaType.IsIndex() }
	for _, m := range im.Manifests {
		if !isManifest(m) {
			return fmt.Errorf("%s has media type %q, not a manifest", m.Digest, m.MediaType)
		}
	}
	for _, a := range im.Artifacts {
		for _, m := range a.Manifests {
			if !isManifest(m) {
				return fmt.Errorf("%s has media type %q, not a manifest", m.Digest, m.MediaType)
			}
		}
		if err := a.validate(); err != nil {
			return err
		}
	}
	return nil
}

// validate checks how an artifact is attached: a referrer by its subject
// alone (its fallback tag must be a valid tag), a legacy artifact by the
// legacy tag of its subject.
func (a Artifact) validate() error {
	if a.Referrer {
		if a.Tag != "" {
			return fmt.Errorf("referrer %s carries tag %q", a.Desc.Digest, a.Tag)
		}
		if t := registry.FallbackTag(a.Subject); !bundle.ValidTag(t) {
			return fmt.Errorf("referrer %s: fallback tag %q is not a valid tag", a.Desc.Digest, t)
		}
		return nil
	}
	prefix := "sha256-" + a.Subject.Hex + "."
	suffix, ok := strings.CutPrefix(a.Tag, prefix)
	if !ok || (suffix != "sig" && suffix != "att" && suffix != "sbom") || !bundle.ValidTag(a.Tag) {
		return fmt.Errorf("artifact %s: tag %q is not the legacy tag of its subject %s", a.Desc.Digest, a.Tag, a.Subject)
	}
	return nil
}
