package airlock

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/human"
	"github.com/airlock-oci/airlock/internal/registry"
)

// How export records one discovered image in the bundle writer, and what
// it keeps of it: the inventory entry, where each blob comes from, the
// referrers indexes (--referrers-tags) and the fetch progress.

// add records one discovered image (asked as ref): its manifests are
// stored, its blobs reserved (or left out, for --since), and the
// Discovery is dropped by the caller.
func (x *exporter) add(ref string, d *registry.Discovery) error {
	if err := x.omitHeld(d); err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	if d.Config != nil {
		// Read for its platform already: stored, not fetched again.
		if err := putConfig(x.w, d, x.omitted); err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
	}
	img, err := addDiscovery(x.w, d, ref, x.repoOf, x.omitted)
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	x.inv.Images = append(x.inv.Images, img)
	x.res.Images = append(x.res.Images, summarizeImage(img))
	if x.refIdx != nil {
		x.refIdx.add(d)
	}
	if x.prog != nil {
		x.prog.add(d)
	}
	return nil
}

// putConfig stores the config Discover read for a single image's platform,
// unless --since left it out.
func putConfig(w *bundle.Writer, d *registry.Discovery, omitted map[v1.Hash]bool) error {
	h, size, err := v1.SHA256(bytes.NewReader(d.Config))
	if err != nil {
		return err
	}
	if omitted[h] {
		return nil
	}
	for _, b := range d.Blobs {
		if b.Desc.Digest == h && b.Desc.Size == size {
			_, err := w.Put(b.Desc.MediaType, d.Config)
			return err
		}
	}
	return fmt.Errorf("config %s read for the platform is not a blob of the image", h)
}

// blobFetcher fetches each blob from the repository it was discovered in.
func blobFetcher(client *registry.Client, repoOf map[v1.Hash]name.Repository) bundle.Fetcher {
	return func(ctx context.Context, desc v1.Descriptor) (io.ReadCloser, error) {
		repo, ok := repoOf[desc.Digest]
		if !ok {
			return nil, fmt.Errorf("blob %s has no source repository", desc.Digest)
		}
		// The bundle writer checks size and digest as it writes: hashing
		// in the registry client too would hash every byte twice (it was a
		// third of export's CPU). The stream retries and resumes itself.
		return client.FetchBlobUnsafeUnhashed(ctx, repo, desc)
	}
}

// addDiscovery records one discovered image in the bundle and returns its
// inventory entry.
func addDiscovery(w *bundle.Writer, d *registry.Discovery, asked string, repoOf map[v1.Hash]name.Repository, omitted map[v1.Hash]bool) (bundle.Image, error) {
	img := bundle.Image{
		Reference: asked,
		Name:      d.Ref.Name(),
		Digest:    d.Root.Digest.String(),
		MediaType: string(d.Root.MediaType),
		Size:      d.Root.Size,
	}
	if d.Filter != nil {
		img.SourceDigest = d.Filter.SourceDigest.String()
		img.Filter = &bundle.Filter{Requested: d.Filter.Requested, Dropped: d.Filter.Dropped, Note: d.Filter.Note}
	}
	put := func(n registry.Node) error {
		got, err := w.Put(n.MediaType, n.Raw)
		if err != nil {
			return err
		}
		if got.Digest != n.Digest {
			return fmt.Errorf("manifest %s: stored digest %s differs", n.Digest, got.Digest)
		}
		return nil
	}
	if err := put(d.Root); err != nil {
		return img, err
	}
	for _, p := range d.Platforms {
		if p.Node.Digest != d.Root.Digest { // a single-platform image is its own platform
			if err := put(p.Node); err != nil {
				return img, err
			}
		}
		ps := human.Platform(p.Platform)
		if p.Platform.OS == "" {
			ps = "unknown" // not an image config (an artifact, or a config without os)
		}
		img.Platforms = append(img.Platforms, bundle.Platform{Platform: ps, Digest: p.Node.Digest.String(), Size: p.Node.Size})
	}
	for _, b := range d.Blobs {
		if omitted[b.Desc.Digest] {
			continue // --since: the target holds it
		}
		if err := w.Reserve(b.Desc); err != nil {
			return img, err
		}
		if _, ok := repoOf[b.Desc.Digest]; !ok {
			repoOf[b.Desc.Digest] = b.Repo
		}
	}
	for _, a := range d.Attached {
		if err := put(a.Manifest); err != nil {
			return img, err
		}
		for _, c := range a.Children { // an attached index's manifests
			if err := put(c); err != nil {
				return img, err
			}
		}
		img.Artifacts = append(img.Artifacts, bundle.Artifact{
			Kind:           a.Kind,
			Digest:         a.Manifest.Digest.String(),
			MediaType:      string(a.Manifest.MediaType),
			ArtifactType:   a.Manifest.ArtifactType,
			Size:           a.Manifest.Size,
			Subject:        a.Subject.String(),
			FoundBy:        a.FoundBy,
			Repository:     a.Manifest.Repo.Name(),
			Tag:            a.Tag,
			PredicateTypes: a.PredicateTypes,
		})
		if a.FoundBy == artifact.FoundByInIndex {
			continue // reachable through the image index already
		}
		ann := map[string]string{bundle.AnnotationRole: bundle.RoleArtifact}
		if a.Tag != "" {
			// Not ref.name: containerd would import it as an image.
			ann[bundle.AnnotationTag] = a.Manifest.Repo.Tag(a.Tag).Name()
		}
		w.AddIndex(v1.Descriptor{MediaType: a.Manifest.MediaType, Size: a.Manifest.Size, Digest: a.Manifest.Digest,
			ArtifactType: a.Manifest.ArtifactType, Annotations: ann})
	}
	refName := d.Ref.Name()
	if _, isDigest := d.Ref.(name.Digest); isDigest && d.Filter != nil {
		// The digest asked for is not the digest stored: name it by repository only.
		refName = d.Ref.Context().Name() + "@" + d.Root.Digest.String()
	}
	w.AddIndex(v1.Descriptor{MediaType: d.Root.MediaType, Size: d.Root.Size, Digest: d.Root.Digest, Annotations: map[string]string{
		bundle.AnnotationRefName:   refName,
		bundle.AnnotationImageName: refName,
		bundle.AnnotationRole:      bundle.RoleImage,
	}})
	return img, nil
}

// referrersIndexes collects, for every subject with OCI 1.1 referrers, the
// referrers fallback index the distribution spec defines ("Referrers Tag
// Schema": an image index listing the referrers' descriptors), written as
// an index.json entry named by its tag, sha256-<hex>. Layout readers look
// referrers up that way (regctl's ocidir, oras's --oci-layout); the index
// is written from the referrer manifests carried, whatever way they were
// found, so it lists exactly what the bundle holds. Subjects shared by
// several images get one index.
type referrersIndexes struct {
	bySubject map[v1.Hash][]v1.Descriptor
	seen      map[[2]v1.Hash]bool
	subjects  []v1.Hash
}

func (r *referrersIndexes) add(d *registry.Discovery) {
	for _, a := range d.Attached {
		if a.FoundBy != artifact.FoundByReferrersAPI && a.FoundBy != artifact.FoundByFallbackTag {
			continue
		}
		k := [2]v1.Hash{a.Subject, a.Manifest.Digest}
		if r.seen[k] {
			continue
		}
		r.seen[k] = true
		if _, ok := r.bySubject[a.Subject]; !ok {
			r.subjects = append(r.subjects, a.Subject)
		}
		r.bySubject[a.Subject] = append(r.bySubject[a.Subject], a.Manifest.Descriptor())
	}
}

func (r *referrersIndexes) write(w *bundle.Writer) error {
	for _, subj := range r.subjects {
		idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: r.bySubject[subj]}
		raw, err := json.Marshal(idx)
		if err != nil {
			return fmt.Errorf("referrers index of %s: %w", subj, err)
		}
		desc, err := w.Put(types.OCIImageIndex, raw)
		if err != nil {
			return fmt.Errorf("referrers index of %s: %w", subj, err)
		}
		desc.Annotations = map[string]string{
			bundle.AnnotationRole:    bundle.RoleReferrers,
			bundle.AnnotationRefName: subj.Algorithm + "-" + subj.Hex,
			bundle.AnnotationSubject: subj.String(),
		}
		w.AddIndex(desc)
	}
	return nil
}

func summarizeImage(img bundle.Image) ExportedImage {
	e := ExportedImage{Reference: img.Reference, Digest: img.Digest, Artifacts: map[string]int{}, Filter: img.Filter}
	for _, p := range img.Platforms {
		e.Platforms = append(e.Platforms, p.Platform)
	}
	for _, a := range img.Artifacts {
		e.Artifacts[string(a.Kind)]++
	}
	return e
}

// fetchProgress turns per-blob writer progress into per-image events: each
// blob counts for the first image that needs it, and only blobs the writer
// streams count (not those stored already or left out).
type fetchProgress struct {
	fn     func(Progress)
	images []string          // in order
	owner  map[v1.Hash]int   // blob -> index in images
	size   map[v1.Hash]int64 // blob -> size, until announce
	aggs   []fetchAgg        // per image, from announce
	mu     sync.Mutex        // guards aggs and blobDone during Commit
	blobDn map[v1.Hash]int64
}

type fetchAgg struct {
	done, total      int64
	blobsDone, blobs int
}

func newFetchProgress(fn func(Progress)) *fetchProgress {
	return &fetchProgress{fn: fn, owner: map[v1.Hash]int{}, size: map[v1.Hash]int64{}, blobDn: map[v1.Hash]int64{}}
}

func (p *fetchProgress) add(d *registry.Discovery) {
	p.images = append(p.images, d.Ref.String())
	for _, b := range d.Blobs {
		if _, ok := p.owner[b.Desc.Digest]; !ok {
			p.owner[b.Desc.Digest] = len(p.images) - 1
			p.size[b.Desc.Digest] = b.Desc.Size
		}
	}
}

// announce sends each image's totals, counting the blobs w will stream.
func (p *fetchProgress) announce(w *bundle.Writer) {
	p.aggs = make([]fetchAgg, len(p.images))
	for h, i := range p.owner {
		if !w.Reserved(h) {
			delete(p.owner, h)
			continue
		}
		p.aggs[i].total += p.size[h]
		p.aggs[i].blobs++
	}
	p.size = nil
	for i, img := range p.images {
		p.fn(Progress{Phase: "fetch", Image: img, Total: p.aggs[i].total, BlobsTotal: p.aggs[i].blobs})
	}
}

// update is the writer's progress callback (called during Commit, never
// two calls at once).
func (p *fetchProgress) update(bp bundle.Progress) {
	i, ok := p.owner[bp.Blob]
	if !ok {
		return
	}
	p.mu.Lock()
	a := &p.aggs[i]
	prev := p.blobDn[bp.Blob]
	if bp.BlobDone != prev {
		a.done += bp.BlobDone - prev
		p.blobDn[bp.Blob] = bp.BlobDone
		if bp.BlobDone == bp.BlobSize && bp.BlobSize > 0 || bp.BlobSize == 0 {
			a.blobsDone++
		}
	}
	ev := Progress{Phase: "fetch", Image: p.images[i], Done: a.done, Total: a.total, BlobsDone: a.blobsDone, BlobsTotal: a.blobs}
	p.mu.Unlock()
	p.fn(ev)
}
