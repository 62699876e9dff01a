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
// Export announces the fetch phase with one event per image (Done 0, its
// Total and BlobsTotal) before the first byte moves, so a caller can show
// the size of the whole transfer from the start; each blob counts for the
// first image that needs it, so an image whose blobs all belong to earlier
// ones has Total 0.
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
	// Discover everything first: manifests are small, and knowing every
	// descriptor up front lets the bundle writer lay out the whole archive.
	found, err := o.discover(ctx, client, refs)
	if err != nil {
		return nil, err
	}

	captured, err := o.captureTrust(ctx)
	if err != nil {
		return nil, err
	}

	pred := &verify.BundlePredicate{Sources: refs}
	wopts := []bundle.WriterOption{bundle.WithConcurrency(o.concurrency), bundle.WithLogger(o.logger),
		bundle.WithProgress(o.fetchProgress(found))}
	w, err := bundle.Create(out, append(wopts, o.splitOptions(ctx, pred)...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	committed := false
	defer func() {
		if !committed {
			w.Abort()
		}
	}()

	inv := &bundle.Inventory{
		SchemaVersion: 1,
		MediaType:     bundle.MediaTypeInventory,
		Exporter:      bundle.Exporter{Name: "airlock", Version: Version, Time: bundleTime(o.now())},
	}
	res := &ExportResult{Bundle: out}
	repoOf := map[v1.Hash]name.Repository{} // where each blob is fetched from
	for i, d := range found {
		img, err := addDiscovery(w, d, refs[i], repoOf)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrExport, refs[i], err)
		}
		inv.Images = append(inv.Images, img)
		res.Images = append(res.Images, summarizeImage(img))
	}
	if o.referrersTags {
		if err := addReferrersIndexes(w, found); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrExport, err)
		}
	}
	for _, c := range captured {
		ts, err := addTrust(w, c)
		if err != nil {
			return nil, fmt.Errorf("%w: trust material %s: %w", ErrExport, c.name, err)
		}
		inv.Trust = append(inv.Trust, ts)
		res.Trust = append(res.Trust, ExportedTrust{Name: ts.Name, Kind: ts.Kind, Roles: ts.Roles, Files: len(ts.Files)})
	}
	if err := omitHeld(held, w, inv, found); err != nil {
		return nil, err
	}
	if _, err := w.PutInventory(inv); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	if err := o.signBundle(ctx, w, inv, pred); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}

	res.Blobs, res.BlobBytes = w.Blobs()
	if err := w.Commit(ctx, blobFetcher(client, repoOf)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	committed = true
	res.Bytes = o.exportedBytes(out)
	res.Transfer = o.exportedTransfer(out, inv)
	return res, nil
}

// discover resolves each image and finds everything attached to it, with
// the platform filter and the extra signature repositories applied.
func (o *options) discover(ctx context.Context, client *registry.Client, refs []string) ([]*registry.Discovery, error) {
	platforms, err := parsePlatforms(o.platforms)
	if err != nil {
		return nil, err
	}
	var sigRepos []name.Repository
	for _, s := range o.signaturesFrom {
		r, err := client.ParseRepository(s)
		if err != nil {
			return nil, fmt.Errorf("%w: --signatures-from %q: %v", ErrUsage, s, err)
		}
		sigRepos = append(sigRepos, r)
	}
	var found []*registry.Discovery
	for _, s := range refs {
		ref, err := client.ParseReference(s)
		if err != nil {
			return nil, fmt.Errorf("%w: image %q: %v", ErrUsage, s, err)
		}
		o.emit(Progress{Phase: "discover", Image: s})
		d, err := client.Discover(ctx, ref, registry.DiscoverOptions{Platforms: platforms, SignaturesFrom: sigRepos})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrExport, err) // err names the image (registry.Discover)
		}
		o.logger.Debug("discovered", "image", s, "digest", d.Root.Digest, "platforms", len(d.Platforms), "attached", len(d.Attached))
		if err := singlePlatform(ctx, client, d); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrExport, s, err)
		}
		found = append(found, d)
	}
	return found, nil
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

// singlePlatform gives a single-manifest image its one platform, read from
// its config (a small blob), so the inventory lists it like any other.
func singlePlatform(ctx context.Context, c *registry.Client, d *registry.Discovery) error {
	if len(d.Platforms) > 0 || d.Root.MediaType.IsIndex() {
		return nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(d.Root.Raw))
	if err != nil {
		return fmt.Errorf("manifest %s: %w", d.Root.Digest, err)
	}
	p := v1.Platform{}
	if m.Config.MediaType.IsConfig() && m.Config.Size <= maxConfigSize {
		rc, err := c.FetchBlob(ctx, d.Root.Repo, m.Config)
		if err != nil {
			return fmt.Errorf("reading the config of %s: %w", d.Root.Digest, err)
		}
		cfg, err := v1.ParseConfigFile(io.LimitReader(rc, maxConfigSize))
		rc.Close()
		if err == nil && cfg.OS != "" {
			p = v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
		}
	}
	d.Platforms = append(d.Platforms, registry.PlatformNode{Platform: p, Node: d.Root})
	return nil
}

// maxConfigSize bounds the image config read for its platform.
const maxConfigSize = 1 << 20

// addDiscovery records one discovered image in the bundle and returns its
// inventory entry.
func addDiscovery(w *bundle.Writer, d *registry.Discovery, asked string, repoOf map[v1.Hash]name.Repository) (bundle.Image, error) {
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

// addReferrersIndexes writes, for every subject with OCI 1.1 referrers, the
// referrers fallback index the distribution spec defines ("Referrers Tag
// Schema": an image index listing the referrers' descriptors) as an
// index.json entry named by its tag, sha256-<hex>. Layout readers look
// referrers up that way (regctl's ocidir, oras's --oci-layout); the index
// is written from the referrer manifests carried, whatever way they were
// found, so it lists exactly what the bundle holds. Subjects shared by
// several images get one index.
func addReferrersIndexes(w *bundle.Writer, found []*registry.Discovery) error {
	bySubject := map[v1.Hash][]v1.Descriptor{}
	seen := map[[2]v1.Hash]bool{}
	var subjects []v1.Hash
	for _, d := range found {
		for _, a := range d.Attached {
			if a.FoundBy != artifact.FoundByReferrersAPI && a.FoundBy != artifact.FoundByFallbackTag {
				continue
			}
			k := [2]v1.Hash{a.Subject, a.Manifest.Digest}
			if seen[k] {
				continue
			}
			seen[k] = true
			if _, ok := bySubject[a.Subject]; !ok {
				subjects = append(subjects, a.Subject)
			}
			bySubject[a.Subject] = append(bySubject[a.Subject], a.Manifest.Descriptor())
		}
	}
	for _, subj := range subjects {
		idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: bySubject[subj]}
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
// blob counts for the first image that needs it.
func (o *options) fetchProgress(found []*registry.Discovery) func(bundle.Progress) {
	if o.progress == nil {
		return nil
	}
	type agg struct {
		done, total      int64
		blobsDone, blobs int
	}
	owner := map[v1.Hash]string{}
	images := map[string]*agg{}
	for _, d := range found {
		a := &agg{}
		images[d.Ref.String()] = a
		for _, b := range d.Blobs {
			if _, ok := owner[b.Desc.Digest]; !ok {
				owner[b.Desc.Digest] = d.Ref.String()
				a.total += b.Desc.Size
				a.blobs++
			}
		}
	}
	for _, d := range found {
		a := images[d.Ref.String()]
		o.progress(Progress{Phase: "fetch", Image: d.Ref.String(), Total: a.total, BlobsTotal: a.blobs})
	}
	var mu sync.Mutex
	blobDone := map[v1.Hash]int64{}
	return func(p bundle.Progress) {
		img, ok := owner[p.Blob]
		if !ok {
			return
		}
		mu.Lock()
		a := images[img]
		prev := blobDone[p.Blob]
		if p.BlobDone != prev {
			a.done += p.BlobDone - prev
			blobDone[p.Blob] = p.BlobDone
			if p.BlobDone == p.BlobSize && p.BlobSize > 0 || p.BlobSize == 0 {
				a.blobsDone++
			}
		}
		ev := Progress{Phase: "fetch", Image: img, Done: a.done, Total: a.total, BlobsDone: a.blobsDone, BlobsTotal: a.blobs}
		mu.Unlock()
		o.progress(ev)
	}
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
