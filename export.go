package airlock

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/registry"
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
			return &OptionError{Option: "WithSignaturesFrom", Value: s, Err: err}
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
