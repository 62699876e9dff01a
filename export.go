package airlock

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/human"
	"github.com/airlock-oci/airlock/internal/registry"
	"github.com/airlock-oci/airlock/trust"
	"github.com/airlock-oci/airlock/verify"
)

// Progress is one progress event. Byte counts are cumulative.
//
// Export sends a "discover" event for each image once it is discovered
// (images are discovered many at once; the events come in the order
// asked). It announces the fetch phase with one event per image (Done 0,
// its Total and BlobsTotal) before the first byte moves, so a caller can
// show the size of the whole transfer from the start; each blob counts for
// the first image that needs it, and only blobs fetched in this phase count
// (a single image's config, read during discovery, does not), so an image
// whose blobs all belong to earlier ones has Total 0.
type Progress struct {
	Phase string // "discover", "capture", "fetch", "verify", "push"
	// Image is the reference the event belongs to ("" for work shared by
	// several images, such as trust material).
	Image      string
	Done       int64
	Total      int64
	BlobsDone  int
	BlobsTotal int
}

// ExportResult summarises an export; it is what `airlock export --format json` prints.
type ExportResult struct {
	Bundle string          `json:"bundle"`
	Images []ExportedImage `json:"images"`
	Trust  []ExportedTrust `json:"trust,omitempty"`
	// Blobs and BlobBytes count every blob in the bundle (manifests,
	// configs, layers, signatures, trust files, the inventory), each once:
	// what `airlock inspect` counts.
	Blobs     int   `json:"blobs"`
	BlobBytes int64 `json:"blobBytes"`
	// Bytes is the size of the archive.
	Bytes int64 `json:"bytes"`
	// Transfer describes a signed, split or delta bundle (transfer_sign.go).
	Transfer *ExportedTransfer `json:"transfer,omitempty"`
}

// ExportedImage is one exported image.
type ExportedImage struct {
	Reference string         `json:"reference"`
	Digest    string         `json:"digest"`
	Platforms []string       `json:"platforms"`
	Artifacts map[string]int `json:"artifacts"` // count by kind
	Filter    *bundle.Filter `json:"filter,omitempty"`
}

// ExportedTrust is one trust source captured or carried.
type ExportedTrust struct {
	Name  string        `json:"name"`
	Kind  string        `json:"kind"`
	Roles []bundle.Role `json:"roles,omitempty"`
	Files int           `json:"files"`
}

// Export pulls images with everything attached to them, captures trust
// material, and writes the bundle at out. The bundle is written under a
// temporary name and renamed only when complete: a failed export leaves
// nothing behind.
//
// Images are discovered many at once (DiscoverAll: a bounded number of
// requests in flight per registry) and recorded in the bundle one by one,
// in the order given, as they come; of each only its inventory entry and
// what the blob fetch needs are kept, so memory follows the inventory, not
// the manifests. The blobs are fetched when every size is known (the tar
// layout needs them).
func Export(ctx context.Context, out string, refs []string, opts ...Option) (*ExportResult, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if out == "" {
		return nil, fmt.Errorf("%w: no output path", ErrUsage)
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("%w: no images to export", ErrUsage)
	}
	client, err := o.registryClient()
	if err != nil {
		return nil, err
	}
	held, err := o.loadSince(ctx, client) // a bad --since fails before any download
	if err != nil {
		return nil, err
	}
	pred := &verify.BundlePredicate{Sources: refs}
	x, err := o.newExporter(ctx, out, pred, held)
	if err != nil {
		return nil, err
	}
	defer x.abort()
	if err := o.discover(ctx, client, refs, x.add); err != nil {
		return nil, err
	}
	captured, err := o.captureTrust(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range captured {
		if err := x.addTrust(c); err != nil {
			return nil, fmt.Errorf("%w: trust material %s: %w", ErrExport, c.name, err)
		}
	}
	if err := x.commit(ctx, client, pred); err != nil {
		return nil, err
	}
	res := x.res
	res.Bytes = o.exportedBytes(out)
	res.Transfer = o.exportedTransfer(out, x.inv)
	return res, nil
}

// exporter records discovered images in the bundle writer, one at a time,
// keeping of each only its inventory entry, its summary, where its blobs
// come from, and (when asked) its referrers and progress totals.
type exporter struct {
	o       *options
	w       *bundle.Writer
	inv     *bundle.Inventory
	res     *ExportResult
	repoOf  map[v1.Hash]name.Repository // where each blob is fetched from
	held    map[v1.Hash]heldBlob        // --since: blobs the target holds
	omitted map[v1.Hash]bool            // held blobs left out
	refIdx  *referrersIndexes           // WithReferrersTags
	prog    *fetchProgress              // WithProgress
	done    bool
}

func (o *options) newExporter(ctx context.Context, out string, pred *verify.BundlePredicate, held map[v1.Hash]heldBlob) (*exporter, error) {
	x := &exporter{
		o: o,
		inv: &bundle.Inventory{
			SchemaVersion: 1,
			MediaType:     bundle.MediaTypeInventory,
			Exporter:      bundle.Exporter{Name: "airlock", Version: Version, Time: bundleTime(o.now())},
		},
		res:     &ExportResult{Bundle: out},
		repoOf:  map[v1.Hash]name.Repository{},
		held:    held,
		omitted: map[v1.Hash]bool{},
	}
	if o.referrersTags {
		x.refIdx = &referrersIndexes{bySubject: map[v1.Hash][]v1.Descriptor{}, seen: map[[2]v1.Hash]bool{}}
	}
	wopts := []bundle.WriterOption{bundle.WithConcurrency(o.concurrency), bundle.WithLogger(o.logger)}
	if o.progress != nil {
		x.prog = newFetchProgress(o.progress)
		wopts = append(wopts, bundle.WithProgress(x.prog.update))
	}
	w, err := bundle.Create(out, append(wopts, o.splitOptions(ctx, pred)...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	x.w = w
	return x, nil
}

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

// addTrust records captured or carried trust material.
func (x *exporter) addTrust(c capturedTrust) error {
	ts, err := addTrust(x.w, c)
	if err != nil {
		return err
	}
	x.inv.Trust = append(x.inv.Trust, ts)
	x.res.Trust = append(x.res.Trust, ExportedTrust{Name: ts.Name, Kind: ts.Kind, Roles: ts.Roles, Files: len(ts.Files)})
	return nil
}

// commit adds the referrers indexes, the inventory and the bundle
// signature, then fetches every reserved blob into the archive.
func (x *exporter) commit(ctx context.Context, client *registry.Client, pred *verify.BundlePredicate) error {
	if x.refIdx != nil {
		if err := x.refIdx.write(x.w); err != nil {
			return fmt.Errorf("%w: %w", ErrExport, err)
		}
	}
	if _, err := x.w.PutInventory(x.inv); err != nil {
		return fmt.Errorf("%w: %w", ErrExport, err)
	}
	if err := x.o.signBundle(ctx, x.w, x.inv, pred); err != nil {
		return fmt.Errorf("%w: %w", ErrExport, err)
	}
	x.res.Blobs, x.res.BlobBytes = x.w.Blobs()
	if x.prog != nil {
		x.prog.announce(x.w)
	}
	if err := x.w.Commit(ctx, blobFetcher(client, x.repoOf)); err != nil {
		return fmt.Errorf("%w: %w", ErrExport, err)
	}
	x.done = true
	return nil
}

// abort removes the temporary bundle of an export that did not commit.
func (x *exporter) abort() {
	if !x.done {
		x.w.Abort()
	}
}

// discover resolves each image and finds everything attached to it, with
// the platform filter and the extra signature repositories applied, many
// images at once; each is handed to add in the order of refs.
func (o *options) discover(ctx context.Context, client *registry.Client, refs []string, add func(ref string, d *registry.Discovery) error) error {
	platforms, err := parsePlatforms(o.platforms)
	if err != nil {
		return err
	}
	var sigRepos []name.Repository
	for _, s := range o.signaturesFrom {
		r, err := client.ParseRepository(s)
		if err != nil {
			return fmt.Errorf("%w: --signatures-from %q: %v", ErrUsage, s, err)
		}
		sigRepos = append(sigRepos, r)
	}
	parsed := make([]name.Reference, len(refs))
	for i, s := range refs {
		ref, err := client.ParseReference(s)
		if err != nil {
			return fmt.Errorf("%w: image %q: %v", ErrUsage, s, err)
		}
		parsed[i] = ref
	}
	dopts := registry.DiscoverOptions{Platforms: platforms, SignaturesFrom: sigRepos, SinglePlatform: true}
	err = client.DiscoverAll(ctx, parsed, dopts, func(i int, d *registry.Discovery) error {
		o.emit(Progress{Phase: "discover", Image: refs[i]})
		o.logger.Debug("discovered", "image", refs[i], "digest", d.Root.Digest, "platforms", len(d.Platforms), "attached", len(d.Attached))
		return add(refs[i], d)
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrExport, err) // err names the image (registry.Discover, exporter.add)
	}
	return nil
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

// capturedTrust is trust material ready to be written: a TUF capture or a
// carried file.
type capturedTrust struct {
	name, kind, url string
	files           []trust.File
	roles           []trust.Role
}

func (o *options) captureTrust(ctx context.Context) ([]capturedTrust, error) {
	var out []capturedTrust
	sources := o.tufSources
	if len(sources) == 0 && !o.noTUF {
		pg, err := trust.PublicGood()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrExport, err)
		}
		sources = []trust.Source{pg}
	}
	if o.noTUF {
		sources = nil
	}
	for _, src := range sources {
		o.emit(Progress{Phase: "capture", Image: ""})
		var copts []trust.CaptureOption
		if o.transport != nil {
			copts = append(copts, trust.WithTransport(o.transport))
		}
		copts = append(copts, trust.WithLogger(o.logger))
		c, err := trust.Capture(ctx, src, copts...)
		if err != nil {
			return nil, fmt.Errorf("%w: %w %s (%s): %w", ErrExport, ErrTUFCapture, src.Name, src.URL, err)
		}
		out = append(out, capturedTrust{name: c.Name, kind: "tuf", url: c.URL, files: c.Files, roles: c.Roles})
	}
	for _, p := range o.carryRoots {
		data, err := readFileLimited(p, maxTrustFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --trusted-root: %w", ErrUsage, err)
		}
		if _, err := trust.LoadTrustedRoot(data); err != nil {
			return nil, fmt.Errorf("%w: --trusted-root %s: %w", ErrUsage, p, err)
		}
		out = append(out, capturedTrust{name: p, kind: "trusted-root", files: []trust.File{{Path: "trusted_root.json", Data: data}}})
	}
	for _, p := range o.carryKeys {
		data, err := readFileLimited(p, maxTrustFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --key: %w", ErrUsage, err)
		}
		if _, err := trust.LoadPublicKey(data); err != nil {
			return nil, fmt.Errorf("%w: --key %s: %w", ErrUsage, p, err)
		}
		out = append(out, capturedTrust{name: p, kind: "public-key", files: []trust.File{{Path: filepath.Base(p), Data: data}}})
	}
	return out, nil
}

// maxTrustFile bounds trusted_root.json and key files read from disk.
const maxTrustFile = 4 << 20

func addTrust(w *bundle.Writer, c capturedTrust) (bundle.TrustSource, error) {
	ts := bundle.TrustSource{Name: c.name, Kind: c.kind, URL: c.url}
	artifactType := map[string]string{
		"tuf":          bundle.ArtifactTypeTUF,
		"trusted-root": bundle.ArtifactTypeTrustedRoot,
		"public-key":   bundle.ArtifactTypePublicKey,
	}[c.kind]
	var files []bundle.File
	for _, f := range c.files {
		mt := types.MediaType("application/json")
		if !strings.HasSuffix(f.Path, ".json") {
			mt = "application/octet-stream"
		}
		h, size, err := v1.SHA256(bytes.NewReader(f.Data))
		if err != nil {
			return ts, err
		}
		files = append(files, bundle.File{Name: f.Path, MediaType: mt, Data: f.Data})
		ts.Files = append(ts.Files, bundle.TrustFile{Path: f.Path, Digest: h.String(), Size: size})
	}
	for _, r := range c.roles {
		ts.Roles = append(ts.Roles, bundle.Role{Role: r.Name, Version: r.Version, Expires: r.Expires})
	}
	mdesc, err := w.PutArtifact(artifactType, files, map[string]string{annotationTrustName: c.name})
	if err != nil {
		return ts, err
	}
	ts.Manifest = mdesc.Digest.String()
	mdesc.Annotations = map[string]string{bundle.AnnotationRole: bundle.RoleTrust, annotationTrustName: c.name}
	w.AddIndex(mdesc)
	return ts, nil
}

// annotationTrustName names a trust source on its artifact manifest and
// index.json entry.
const annotationTrustName = "dev.airlock.trust.name"

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

func (o *options) emit(p Progress) {
	if o.progress != nil {
		o.progress(p)
	}
}

func (o *options) registryClient() (*registry.Client, error) {
	ropts := []registry.Option{registry.WithKeychain(o.keychain), registry.WithLogger(o.logger),
		registry.WithUserAgent("airlock/" + Version)}
	if b := o.backoff; b != nil {
		ropts = append(ropts, registry.WithBackoff(b[0], b[1]))
	}
	if len(o.insecure) > 0 {
		ropts = append(ropts, registry.WithInsecureRegistries(o.insecure...))
	}
	rt := o.transport
	if len(o.registryCAs) > 0 || o.skipTLSVerify {
		t, err := o.registryTLSTransport()
		if err != nil {
			return nil, err
		}
		rt = t
	}
	if rt != nil {
		ropts = append(ropts, registry.WithTransport(rt))
	}
	return registry.New(ropts...), nil
}

// registryTLSTransport is the default transport with the registry CA and
// skip-verify options applied.
func (o *options) registryTLSTransport() (http.RoundTripper, error) {
	base, ok := remote.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("%w: the default transport is not an *http.Transport", ErrUsage)
	}
	t := base.Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.TLSClientConfig != nil {
		cfg = t.TLSClientConfig.Clone()
	}
	if len(o.registryCAs) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		for _, f := range o.registryCAs {
			pem, err := readFileLimited(f, 1<<20)
			if err != nil {
				return nil, fmt.Errorf("%w: registry CA: %w", ErrUsage, err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: registry CA %s: no PEM certificate in it", ErrUsage, f)
			}
		}
		cfg.RootCAs = pool
	}
	if o.skipTLSVerify {
		cfg.InsecureSkipVerify = true
	}
	t.TLSClientConfig = cfg
	return t, nil
}

func parsePlatforms(ss []string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, s := range ss {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			p, err := v1.ParsePlatform(part)
			if err != nil || p.OS == "" || p.Architecture == "" {
				return nil, fmt.Errorf("%w: platform %q: want os/arch[/variant]", ErrUsage, part)
			}
			out = append(out, *p)
		}
	}
	return out, nil
}

func readFileLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}
