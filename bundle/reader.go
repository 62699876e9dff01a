package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/internal/content"
)

// ReaderOption configures Open.
type ReaderOption func(*readerOptions)

type readerOptions struct {
	limits    Limits
	logger    *slog.Logger
	cacheSize int64
}

// WithLimits replaces the default Limits.
func WithLimits(l Limits) ReaderOption { return func(o *readerOptions) { o.limits = l } }

// WithReaderLogger sets a logger for debug messages (default: discard).
func WithReaderLogger(l *slog.Logger) ReaderOption { return func(o *readerOptions) { o.logger = l } }

// WithCacheSize bounds the bytes of small verified blobs (manifests)
// that the Reader keeps in memory (default 1 MiB; 0 disables the cache).
// The cache saves reading and hashing a manifest again, and serves the
// bytes once verified even if the file changes; it is bounded so that a
// catalogue's memory does not grow with it.
func WithCacheSize(n int64) ReaderOption { return func(o *readerOptions) { o.cacheSize = n } }

type span struct {
	off, size int64
}

// Reader gives random access to a bundle without unpacking it. Open checks
// the tar structure; content is verified as it is read (Blob, ReadBlob) or
// all at once (VerifyBlobs); Graph checks that every reference resolves.
//
// A Reader is safe for concurrent use once Open returns.
type Reader struct {
	f      archiveFile
	parts  *PartsStatus // split bundles (parts.go)
	omit   omittedSet   // delta bundles (delta.go)
	path   string
	size   int64
	opts   readerOptions
	blobs  map[v1.Hash]span
	order  []v1.Hash // blobs in archive order
	index  *v1.IndexManifest
	cache  *blobCache
	closed bool
}

// Open reads the tar headers of the bundle at path once (seeking past
// content), refuses unsafe or unexpected entries, and reads oci-layout and
// index.json. Every index.json entry must name a blob of the bundle with the
// same size.
func Open(path string, opts ...ReaderOption) (*Reader, error) {
	o := readerOptions{limits: DefaultLimits(), cacheSize: 1 << 20}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.limits.Validate(); err != nil {
		return nil, err
	}
	if o.cacheSize < 0 {
		return nil, fmt.Errorf("%w: cache size %d is negative", ErrInvalidOption, o.cacheSize)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	f, size, parts, err := openArchive(path)
	if err != nil {
		return nil, err
	}
	r := &Reader{f: f, parts: parts, path: path, size: size, opts: o, blobs: make(map[v1.Hash]span), cache: newBlobCache(o.cacheSize)}
	if err := r.scan(); err != nil {
		f.Close()
		return nil, fmt.Errorf("reading bundle %s: %w", path, err)
	}
	o.logger.Debug("bundle opened", "path", path, "bytes", r.size, "blobs", len(r.blobs), "index", len(r.index.Manifests))
	return r, nil
}

// Close releases the file.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.f.Close()
}

// Path returns the bundle's file name.
func (r *Reader) Path() string { return r.path }

// Index returns index.json as read by Open. Callers must not modify it.
func (r *Reader) Index() *v1.IndexManifest { return r.index }

// Stat returns the size of a blob and whether the bundle holds it.
func (r *Reader) Stat(h v1.Hash) (int64, bool) {
	s, ok := r.blobs[h]
	return s.size, ok
}

// Blobs returns the digests of every blob, in archive order.
func (r *Reader) Blobs() []v1.Hash { return append([]v1.Hash(nil), r.order...) }

// countingSeeker tracks the offset of the file as archive/tar reads it.
type countingSeeker struct {
	f   io.ReadSeeker
	pos int64
}

func (c *countingSeeker) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.pos += int64(n)
	return n, err
}

func (c *countingSeeker) Seek(off int64, whence int) (int64, error) {
	n, err := c.f.Seek(off, whence)
	if err == nil {
		c.pos = n
	}
	return n, err
}

func (r *Reader) scan() error {
	cs := &countingSeeker{f: io.NewSectionReader(r.f, 0, r.size)}
	tr := tar.NewReader(cs)
	seen := make(map[string]bool)
	var layout, index *span
	var end int64 // end of the last entry's padded data
	count := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if hdr != nil && errors.Is(err, tar.ErrInsecurePath) {
				return fmt.Errorf("%w: entry %q: insecure path", ErrUnsafeEntry, hdr.Name)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: archive ends inside a tar header after offset %d", ErrTruncated, end)
			}
			return fmt.Errorf("%w: tar header after offset %d: %v", ErrMalformed, end, err)
		}
		count++
		if count > r.opts.limits.MaxEntries {
			return fmt.Errorf("%w: more than %d tar entries", ErrTooLarge, r.opts.limits.MaxEntries)
		}
		dataOff := cs.pos
		if hdr.Size < 0 || dataOff+hdr.Size > r.size || dataOff+hdr.Size < dataOff {
			return fmt.Errorf("%w: entry %q declares %d bytes at offset %d, the file has %d", ErrTruncated, hdr.Name, hdr.Size, dataOff, r.size)
		}
		end = dataOff + roundBlock(hdr.Size)
		name, isDir, err := classifyEntry(hdr)
		if err != nil {
			return err
		}
		if seen[name] {
			return fmt.Errorf("%w: %q appears twice", ErrDuplicateEntry, hdr.Name)
		}
		seen[name] = true
		if isDir {
			continue
		}
		s := span{off: dataOff, size: hdr.Size}
		switch name {
		case "oci-layout":
			layout = &s
		case "index.json":
			index = &s
		default:
			h := v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(name, "blobs/sha256/")}
			r.blobs[h] = s
			r.order = append(r.order, h)
		}
	}
	// archive/tar returns io.EOF both at the end-of-archive marker and at a
	// plain end of file: require the marker (two zero blocks).
	if err := r.checkTrailer(end); err != nil {
		return err
	}
	if layout == nil {
		return fmt.Errorf("%w: no oci-layout entry", ErrIncomplete)
	}
	if index == nil {
		return fmt.Errorf("%w: no index.json entry", ErrIncomplete)
	}
	if err := r.readLayout(*layout); err != nil {
		return err
	}
	return r.readIndex(*index)
}

func (r *Reader) checkTrailer(end int64) error {
	if r.size-end < 2*blockSize {
		return fmt.Errorf("%w: no end-of-archive marker after offset %d (file is %d bytes)", ErrTruncated, end, r.size)
	}
	var buf [2 * blockSize]byte
	if _, err := r.f.ReadAt(buf[:], end); err != nil {
		return fmt.Errorf("%w: reading end-of-archive marker at %d: %v", ErrTruncated, end, err)
	}
	for _, b := range buf {
		if b != 0 {
			return fmt.Errorf("%w: end-of-archive marker at %d is not zero", ErrMalformed, end)
		}
	}
	return nil
}

// classifyEntry maps a tar header to its name in the layout, refusing
// anything that is not oci-layout, index.json, blobs/, blobs/sha256/ or
// blobs/sha256/<64 lowercase hex>. A leading "./" is accepted.
func classifyEntry(hdr *tar.Header) (name string, isDir bool, err error) {
	raw := hdr.Name
	unsafe := func(why string) error { return fmt.Errorf("%w: entry %q: %s", ErrUnsafeEntry, raw, why) }
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir:
	case tar.TypeSymlink:
		return "", false, unsafe("symbolic link to " + fmt.Sprintf("%q", hdr.Linkname))
	case tar.TypeLink:
		return "", false, unsafe("hard link to " + fmt.Sprintf("%q", hdr.Linkname))
	case tar.TypeChar, tar.TypeBlock:
		return "", false, unsafe("device node")
	case tar.TypeFifo:
		return "", false, unsafe("fifo")
	default:
		return "", false, unsafe(fmt.Sprintf("entry type %q is not a regular file or directory", hdr.Typeflag))
	}
	for k := range hdr.PAXRecords {
		// GNU sparse files (PAX formats 0.x, 1.0): logical and stored sizes
		// differ and the name may be replaced; no layout needs them.
		if strings.HasPrefix(k, "GNU.sparse.") {
			return "", false, unsafe("GNU sparse file")
		}
	}
	if raw == "" {
		return "", false, unsafe("empty name")
	}
	if strings.ContainsAny(raw, "\\\x00") {
		return "", false, unsafe("backslash or NUL in name")
	}
	if strings.HasPrefix(raw, "/") {
		return "", false, unsafe("absolute path")
	}
	for _, part := range strings.Split(raw, "/") {
		if part == ".." {
			return "", false, unsafe("path traversal")
		}
	}
	name = strings.TrimPrefix(raw, "./")
	isDir = hdr.Typeflag == tar.TypeDir
	if isDir {
		name = strings.TrimSuffix(name, "/")
		switch name {
		case "", ".", "blobs", "blobs/sha256":
			return name, true, nil
		}
		return "", false, unsafe("directory outside the OCI layout")
	}
	switch {
	case name == "oci-layout", name == "index.json":
		return name, false, nil
	case strings.HasPrefix(name, "blobs/sha256/"):
		if !isHex64(strings.TrimPrefix(name, "blobs/sha256/")) {
			return "", false, unsafe("blob name is not 64 lowercase hex digits")
		}
		return name, false, nil
	case strings.HasPrefix(name, "blobs/"):
		algo, _, _ := strings.Cut(strings.TrimPrefix(name, "blobs/"), "/")
		return "", false, fmt.Errorf("%w: entry %q uses algorithm %q", ErrUnsupportedAlgorithm, raw, algo)
	}
	return "", false, unsafe("file outside the OCI layout")
}

func (r *Reader) readSpan(what string, s span, max int64) ([]byte, error) {
	if s.size > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, what, s.size, max)
	}
	buf := make([]byte, s.size)
	if _, err := r.f.ReadAt(buf, s.off); err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrTruncated, what, err)
	}
	return buf, nil
}

func (r *Reader) readLayout(s span) error {
	data, err := r.readSpan("oci-layout", s, maxOCILayoutSize)
	if err != nil {
		return err
	}
	var l struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := decodeStrict(data, &l); err != nil {
		return fmt.Errorf("%w: oci-layout: %v", ErrMalformed, err)
	}
	if l.Version != "1.0.0" {
		return fmt.Errorf("%w: oci-layout imageLayoutVersion %q, want \"1.0.0\"", ErrMalformed, l.Version)
	}
	return nil
}

func (r *Reader) readIndex(s span) error {
	data, err := r.readSpan("index.json", s, r.opts.limits.MaxIndexSize)
	if err != nil {
		return err
	}
	idx, err := parseIndex(types.OCIImageIndex, data)
	if err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	r.newInterner().index(idx)
	for i, d := range idx.Manifests {
		size, ok := r.Stat(d.Digest)
		if !ok {
			return fmt.Errorf("%w: index.json manifests[%d] names %s, which is not in the bundle", ErrDanglingDescriptor, i, d.Digest)
		}
		if size != d.Size {
			return fmt.Errorf("%w: index.json manifests[%d] names %s with size %d, the blob has %d bytes", ErrSizeMismatch, i, d.Digest, d.Size, size)
		}
	}
	r.index = idx
	return nil
}

// Blob streams a blob from the archive. The stream checks size and sha256:
// when the content does not match the digest, the final Read returns an
// error wrapping ErrDigestMismatch instead of io.EOF.
func (r *Reader) Blob(h v1.Hash) (io.ReadCloser, error) {
	s, ok := r.blobs[h]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", h, ErrNotFound)
	}
	return io.NopCloser(r.verifyingReader(h, s)), nil
}

// verifyingReader streams blob h, checking its size and sha256: a short
// blob fails with ErrTruncated, other content with ErrDigestMismatch.
func (r *Reader) verifyingReader(h v1.Hash, s span) *content.VerifyReader {
	return content.NewVerifyReader(io.NewSectionReader(r.f, s.off, s.size), "blob "+h.String(), h, s.size).Wrap(ErrTruncated, ErrDigestMismatch)
}

// ReadBlob reads a whole blob of at most max bytes and verifies it. A blob
// over max is refused with ErrTooLarge before anything is read. Small
// verified blobs are cached; the returned slice is the caller's.
func (r *Reader) ReadBlob(h v1.Hash, max int64) ([]byte, error) {
	return r.readBlob(h, max, true)
}

// ReadBlobOnce is ReadBlob for content read once (evidence, configs, trust
// files): it is served from the cache when there, but not added to it, so
// that it does not evict the manifests.
func (r *Reader) ReadBlobOnce(h v1.Hash, max int64) ([]byte, error) {
	return r.readBlob(h, max, false)
}

func (r *Reader) readBlob(h v1.Hash, max int64, keep bool) ([]byte, error) {
	s, ok := r.blobs[h]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", h, ErrNotFound)
	}
	if s.size > max {
		return nil, fmt.Errorf("%w: blob %s is %d bytes, limit %d", ErrTooLarge, h, s.size, max)
	}
	if data, ok := r.cache.get(h); ok {
		return bytes.Clone(data), nil
	}
	// s.size is the tar entry's size, already checked to lie within the
	// file, and is at most max: allocating it is bounded.
	buf := make([]byte, s.size)
	if _, err := r.f.ReadAt(buf, s.off); err != nil {
		return nil, fmt.Errorf("%w: reading blob %s: %v", ErrTruncated, h, err)
	}
	sum := sha256.Sum256(buf)
	if got := hex.EncodeToString(sum[:]); got != h.Hex {
		return nil, fmt.Errorf("%w: blob %s: content hashes to sha256:%s", ErrDigestMismatch, h, got)
	}
	if !keep {
		return buf, nil
	}
	r.cache.put(h, buf)
	return bytes.Clone(buf), nil
}

// ReadManifest reads, verifies and parses the image or artifact manifest h.
func (r *Reader) ReadManifest(h v1.Hash) (*v1.Manifest, error) {
	data, err := r.ReadBlob(h, r.opts.limits.MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	_ = json.Unmarshal(data, &probe)
	mt := probe.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	if !isManifestType(mt) {
		return nil, fmt.Errorf("%w: manifest %s has mediaType %q", ErrMalformed, h, mt)
	}
	m, err := parseManifest(mt, data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", h, err)
	}
	return m, nil
}

// ReadIndex reads, verifies and parses the image index h.
func (r *Reader) ReadIndex(h v1.Hash) (*v1.IndexManifest, error) {
	data, err := r.ReadBlob(h, r.opts.limits.MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("reading index: %w", err)
	}
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	_ = json.Unmarshal(data, &probe)
	mt := probe.MediaType
	if mt == "" {
		mt = types.OCIImageIndex
	}
	if !isIndexType(mt) {
		return nil, fmt.Errorf("%w: index %s has mediaType %q", ErrMalformed, h, mt)
	}
	idx, err := parseIndex(mt, data)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", h, err)
	}
	return idx, nil
}

// blobCache keeps verified small blobs up to a byte budget, evicting the
// oldest first.
type blobCache struct {
	mu    sync.Mutex
	max   int64
	used  int64
	items map[v1.Hash][]byte
	fifo  []v1.Hash
}

func newBlobCache(max int64) *blobCache {
	return &blobCache{max: max, items: make(map[v1.Hash][]byte)}
}

func (c *blobCache) get(h v1.Hash) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.items[h]
	return b, ok
}

func (c *blobCache) put(h v1.Hash, b []byte) {
	if int64(len(b)) > c.max/4 { // big blobs would evict everything
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[h]; ok {
		return
	}
	for c.used+int64(len(b)) > c.max && len(c.fifo) > 0 {
		old := c.fifo[0]
		c.fifo = c.fifo[1:]
		c.used -= int64(len(c.items[old]))
		delete(c.items, old)
	}
	c.items[h] = b
	c.fifo = append(c.fifo, h)
	c.used += int64(len(b))
}
