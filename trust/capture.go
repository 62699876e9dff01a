package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	sgtuf "github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// PublicGoodName is the pin name of Sigstore's public-good instance.
const PublicGoodName = "sigstore"

// Source is a TUF repository to capture: a name for the operator, the
// repository URL (metadata at URL/, targets at URL/targets/, as Sigstore
// serves them) and the root.json the capture starts from.
type Source struct {
	Name, URL string
	Root      []byte
}

// PublicGood returns Sigstore's public-good repository
// (https://tuf-repo-cdn.sigstore.dev) with the root that sigstore-go embeds.
func PublicGood() (Source, error) {
	root := sgtuf.DefaultRoot()
	if len(root) == 0 {
		return Source{}, fmt.Errorf("%w: sigstore-go has no embedded root", ErrNotFound)
	}
	return Source{Name: PublicGoodName, URL: sgtuf.DefaultMirror, Root: root}, nil
}

// File is one file of a captured repository, at its path in the repository
// layout: "metadata/<v>.root.json", "metadata/timestamp.json",
// "metadata/<v>.snapshot.json", "metadata/<v>.targets.json",
// "metadata/<v>.<delegated>.json", and "targets/<sha256>.<name>" in a
// consistent-snapshot repository or "targets/<name>" otherwise.
type File struct {
	Path string
	Data []byte
}

// Captured is a verified copy of a TUF repository, ready to travel.
type Captured struct {
	Name, URL string
	// Files holds every file the TUF client verified, roots in version order.
	Files []File
	// Roles are the newest verified roles.
	Roles []Role
	// Targets are the names of the captured target files.
	Targets []string
}

// CaptureOption configures Capture.
type CaptureOption func(*captureOptions)

type captureOptions struct {
	client  *http.Client
	targets []string
	logger  *slog.Logger
	refTime time.Time
}

// WithHTTPClient sets the HTTP client (default: a client with
// http.DefaultTransport and a 60 s timeout per request).
func WithHTTPClient(c *http.Client) CaptureOption {
	return func(o *captureOptions) { o.client = c }
}

// WithTransport sets the HTTP transport (proxies, private CAs).
func WithTransport(rt http.RoundTripper) CaptureOption {
	return func(o *captureOptions) { o.client = &http.Client{Transport: rt, Timeout: 60 * time.Second} }
}

// WithTargets adds target names to capture, besides trusted_root.json and
// signing_config*.json. A name that the repository does not list is an error.
func WithTargets(names ...string) CaptureOption {
	return func(o *captureOptions) { o.targets = append(o.targets, names...) }
}

// WithLogger sets a logger (default: discard).
func WithLogger(l *slog.Logger) CaptureOption {
	return func(o *captureOptions) { o.logger = l }
}

// WithUnsafeCaptureTime makes the capture check expiry against t instead
// of the clock. For tests and for re-capturing a mirror snapshot only.
func WithUnsafeCaptureTime(t time.Time) CaptureOption {
	return func(o *captureOptions) { o.refTime = t }
}

// Capture runs the TUF client workflow (TUF spec 5.3-5.6) online against
// src and returns every file it verified: the root chain from the oldest
// version that chains to src.Root (walking back towards 1) to the newest,
// timestamp, snapshot, targets, all delegated targets roles, and the target
// files trusted_root.json, signing_config*.json and those named WithTargets.
func Capture(ctx context.Context, src Source, opts ...CaptureOption) (*Captured, error) {
	o := captureOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.client == nil {
		o.client = &http.Client{Timeout: 60 * time.Second}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	for _, n := range o.targets {
		if err := checkTargetName(n); err != nil {
			return nil, fmt.Errorf("capture option WithTargets: %w", err)
		}
	}
	u, err := url.Parse(src.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: source %q: URL %q is not an http(s) URL", ErrInvalid, src.Name, src.URL)
	}
	pin, err := parseRoot(src.Root)
	if err != nil {
		return nil, fmt.Errorf("source %q: pinned root: %w", src.Name, err)
	}
	base := strings.TrimSuffix(src.URL, "/") + "/"
	f := &httpFetcher{ctx: ctx, client: o.client, metaBase: base, targetsBase: base + "targets/", got: map[string][]byte{}}

	tmp, err := os.MkdirTemp("", "airlock-capture-")
	if err != nil {
		return nil, fmt.Errorf("capture %q: temp dir: %w", src.Name, err)
	}
	defer os.RemoveAll(tmp)
	o.logger.DebugContext(ctx, "capturing TUF repository", "source", src.Name, "url", src.URL, "root", pin.Signed.Version)
	up, err := refresh(ctx, src, base, tmp, f, o.refTime)
	if err != nil {
		return nil, err
	}
	trusted := up.GetTrustedMetadataSet()
	if err := loadDelegations(&trusted, f.fetch, false); err != nil {
		return nil, fmt.Errorf("capture %q: %w", src.Name, err)
	}
	rec := &recorder{c: &Captured{Name: src.Name, URL: src.URL}, got: f.got, consistent: trusted.Root.Signed.ConsistentSnapshot}
	if err := rec.metadata(f, pin, src.Root, &trusted); err != nil {
		return nil, err
	}
	if err := rec.targets(up, f, trusted.Targets[metadata.TARGETS].Signed.Targets, o.targets); err != nil {
		return nil, err
	}
	// Delegated roles loaded on demand by GetTargetInfo are already in the
	// trusted set; record any that appeared.
	c := rec.c
	c.Roles = roles(&trusted)
	for _, r := range c.Roles {
		if r.Name == metadata.ROOT || r.Name == metadata.TIMESTAMP || r.Name == metadata.SNAPSHOT || r.Name == metadata.TARGETS {
			continue
		}
		p := metadataPath(r.Name, rec.version(r.Version))
		if !slices.ContainsFunc(c.Files, func(f File) bool { return f.Path == p }) {
			if err := rec.add(p); err != nil {
				return nil, err
			}
		}
	}
	o.logger.DebugContext(ctx, "captured TUF repository", "source", src.Name, "files", len(c.Files), "targets", c.Targets)
	return c, nil
}

// refresh runs go-tuf's updater from the pinned root through f, which
// records every file it verifies, with metadata cached in tmp.
func refresh(ctx context.Context, src Source, base, tmp string, f *httpFetcher, refTime time.Time) (*updater.Updater, error) {
	cfg, err := config.New(base, src.Root)
	if err != nil {
		return nil, fmt.Errorf("%w: source %q: %v", ErrInvalid, src.Name, err)
	}
	setLimits(cfg)
	cfg.Fetcher = f
	cfg.LocalMetadataDir = tmp
	cfg.LocalTargetsDir = tmp
	up, err := updater.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: source %q: loading pinned root: %v", ErrVerification, src.Name, err)
	}
	if !refTime.IsZero() {
		up.UnsafeSetRefTime(refTime)
	}
	if err := up.Refresh(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("capture %q: %w", src.Name, ctx.Err())
		}
		return nil, fmt.Errorf("capture %q from %s: %w", src.Name, src.URL, tufError(err))
	}
	return up, nil
}

// recorder collects the files of a capture from what the updater verified.
type recorder struct {
	c          *Captured
	got        map[string][]byte
	consistent bool
}

// add records a file the updater verified under path p.
func (r *recorder) add(p string) error {
	data, ok := r.got[p]
	if !ok {
		return fmt.Errorf("%w: capture %q: %s was verified but not recorded", ErrNotFound, r.c.Name, p)
	}
	r.c.Files = append(r.c.Files, File{p, data})
	return nil
}

// version is the version in a metadata file name: none without
// consistent snapshots.
func (r *recorder) version(v int64) int64 {
	if r.consistent {
		return v
	}
	return 0
}

// metadata records the root chain (older roots that chain to the pin, so
// that a far side pinned at an older version can walk forward; the pin;
// newer roots the updater fetched), then timestamp, snapshot and every
// targets role.
func (r *recorder) metadata(f *httpFetcher, pin *metadata.Metadata[metadata.RootType], pinned []byte, trusted *trustedmetadata.TrustedMetadata) error {
	r.c.Files = append(r.c.Files, olderRoots(f, pin)...)
	r.c.Files = append(r.c.Files, File{metadataPath(metadata.ROOT, pin.Signed.Version), pinned})
	for v := pin.Signed.Version + 1; v <= trusted.Root.Signed.Version; v++ {
		p := metadataPath(metadata.ROOT, v)
		data, ok := r.got[p]
		if !ok {
			return fmt.Errorf("%w: capture %q: root v%d was verified but not recorded", ErrVerification, r.c.Name, v)
		}
		r.c.Files = append(r.c.Files, File{p, data})
	}
	if err := r.add(metadataPath(metadata.TIMESTAMP, 0)); err != nil {
		return err
	}
	if err := r.add(metadataPath(metadata.SNAPSHOT, r.version(trusted.Snapshot.Signed.Version))); err != nil {
		return err
	}
	for _, role := range roles(trusted) {
		if role.Name == metadata.ROOT || role.Name == metadata.TIMESTAMP || role.Name == metadata.SNAPSHOT {
			continue
		}
		if err := r.add(metadataPath(role.Name, r.version(role.Version))); err != nil {
			return err
		}
	}
	return nil
}

// targets fetches and checks the default targets plus the extra names
// asked for, each against its length and hashes in signed targets
// metadata.
func (r *recorder) targets(up *updater.Updater, f *httpFetcher, top map[string]*metadata.TargetFiles, extra []string) error {
	names := defaultTargets(top)
	for _, n := range extra {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, name := range names {
		tf, err := up.GetTargetInfo(name)
		if err != nil {
			return fmt.Errorf("%w: capture %q: target %q: %v", ErrNotFound, r.c.Name, name, err)
		}
		p, err := targetPath(tf, r.consistent)
		if err != nil {
			return fmt.Errorf("capture %q: %w", r.c.Name, err)
		}
		if tf.Length > TargetMaxLength {
			return fmt.Errorf("%w: capture %q: target %q is %d bytes, limit %d", ErrTooLarge, r.c.Name, name, tf.Length, TargetMaxLength)
		}
		data, err := f.fetch(p, tf.Length)
		if err != nil {
			return fmt.Errorf("capture %q: target %q: %w", r.c.Name, name, err)
		}
		if err := tf.VerifyLengthHashes(data); err != nil {
			return fmt.Errorf("%w: capture %q: target %q (%s): %v", ErrVerification, r.c.Name, name, p, err)
		}
		r.c.Files = append(r.c.Files, File{p, data})
		r.c.Targets = append(r.c.Targets, name)
	}
	return nil
}

// defaultTargets: trusted_root.json and signing_config*.json, sorted.
func defaultTargets(ts map[string]*metadata.TargetFiles) []string {
	var names []string
	for name := range ts {
		if ok, _ := path.Match("signing_config*.json", name); ok || name == "trusted_root.json" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// olderRoots walks from pin back towards version 1 and keeps each older root
// under which the next one verifies, stopping at the first that is missing,
// unparsable (Sigstore's v1-v4 use key encodings go-tuf cannot read) or does
// not chain.
func olderRoots(f *httpFetcher, pin *metadata.Metadata[metadata.RootType]) []File {
	var out []File
	next := pin
	for v := pin.Signed.Version - 1; v >= 1 && pin.Signed.Version-v <= MaxRootRotations; v-- {
		p := metadataPath(metadata.ROOT, v)
		data, err := f.fetch(p, RootMaxLength)
		if err != nil {
			break
		}
		r, err := metadata.Root().FromBytes(data)
		if err != nil || r.Signed.Version != v || r.VerifyDelegate(metadata.ROOT, next) != nil {
			break
		}
		out = append(out, File{p, data})
		next = r
	}
	slices.Reverse(out)
	return out
}

func setLimits(cfg *config.UpdaterConfig) {
	cfg.MaxRootRotations = MaxRootRotations
	cfg.MaxDelegations = MaxDelegations
	cfg.RootMaxLength = RootMaxLength
	cfg.TimestampMaxLength = TimestampMaxLength
	cfg.SnapshotMaxLength = SnapshotMaxLength
	cfg.TargetsMaxLength = TargetsMaxLength
	cfg.PrefixTargetsWithHash = true
	cfg.UnsafeLocalMode = false
}

// httpFetcher is a go-tuf fetcher.Fetcher over HTTP that honours a context
// and records what it fetched, by repository path.
type httpFetcher struct {
	ctx                   context.Context
	client                *http.Client
	metaBase, targetsBase string
	got                   map[string][]byte
}

var _ fetcher.Fetcher = (*httpFetcher)(nil)

// DownloadFile implements fetcher.Fetcher.
func (f *httpFetcher) DownloadFile(u string, maxLength int64, _ time.Duration) ([]byte, error) {
	var p string
	switch {
	case strings.HasPrefix(u, f.targetsBase):
		p = "targets/" + strings.TrimPrefix(u, f.targetsBase)
	case strings.HasPrefix(u, f.metaBase):
		p = "metadata/" + strings.TrimPrefix(u, f.metaBase)
	default:
		return nil, fmt.Errorf("%w: refusing to fetch %s outside the repository", ErrInvalid, u)
	}
	data, err := f.fetch(p, maxLength)
	if errors.Is(err, ErrNotFound) {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: http.StatusNotFound, URL: u}
	}
	return data, err
}

func (f *httpFetcher) fetch(p string, maxLength int64) ([]byte, error) {
	var u string
	if rest, ok := strings.CutPrefix(p, "targets/"); ok {
		u = f.targetsBase + rest
	} else {
		u = f.metaBase + strings.TrimPrefix(p, "metadata/")
	}
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFetch, u, err)
	}
	res, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %w", ErrFetch, u, err)
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusForbidden:
		// S3-style mirrors answer 403 for a missing key.
		return nil, fmt.Errorf("%w: GET %s: %s", ErrNotFound, u, res.Status)
	case res.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: GET %s: %s", ErrFetch, u, res.Status)
	}
	if res.ContentLength > maxLength {
		return nil, fmt.Errorf("%w: GET %s: %d bytes, limit %d", ErrTooLarge, u, res.ContentLength, maxLength)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxLength+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrFetch, u, err)
	}
	if int64(len(data)) > maxLength {
		return nil, fmt.Errorf("%w: GET %s: more than %d bytes", ErrTooLarge, u, maxLength)
	}
	f.got[p] = data
	return data, nil
}
