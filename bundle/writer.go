package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Fetcher streams the content of a reserved blob. The Writer checks size and
// digest as it reads and closes the stream. It is called once per blob: a
// Fetcher whose source can fail transiently retries, or resumes the stream,
// itself (the registry client's blob streams do). It may be called from
// several goroutines at once.
type Fetcher func(ctx context.Context, desc v1.Descriptor) (io.ReadCloser, error)

// Progress reports the streaming of reserved blobs during Commit.
type Progress struct {
	// Blob is the blob this update is about.
	Blob v1.Hash
	// BlobDone of BlobSize bytes of Blob have been written.
	BlobDone, BlobSize int64
	// Done of Total bytes of all reserved blobs are written and verified.
	Done, Total int64
	// BlobsDone of Blobs reserved blobs are complete.
	BlobsDone, Blobs int
}

// WriterOption configures Create.
type WriterOption func(*writerOptions)

type writerOptions struct {
	concurrency int
	progress    func(Progress)
	logger      *slog.Logger
	modTime     time.Time
	partSize    int64 // WithSplit (parts.go)
	parity      int
	partsSigner func(digest string) ([]byte, error)
}

// WithConcurrency sets how many large reserved blobs are streamed at once
// (default 4); blobs of at most 1 MiB, which cost a round trip more than
// bandwidth, stream beside them, up to four times as many.
func WithConcurrency(n int) WriterOption { return func(o *writerOptions) { o.concurrency = n } }

// WithProgress sets a callback for Commit's progress. The callback belongs to
// the caller: the Writer calls it from its worker goroutines but never two
// calls at once (calls are serialised), and never after Commit returns. It
// must return quickly; it must not call the Writer.
func WithProgress(f func(Progress)) WriterOption { return func(o *writerOptions) { o.progress = f } }

// WithLogger sets a logger for debug messages (default: discard).
func WithLogger(l *slog.Logger) WriterOption { return func(o *writerOptions) { o.logger = l } }

// WithModTime sets the modification time of every tar entry (default: the
// Unix epoch, so that the same input gives the same bytes).
func WithModTime(t time.Time) WriterOption { return func(o *writerOptions) { o.modTime = t } }

func (o *writerOptions) validate() error {
	if o.concurrency < 1 {
		return fmt.Errorf("%w: concurrency %d must be at least 1", ErrInvalidOption, o.concurrency)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o.validateSplit()
}

// smallBlob is a blob given to Put. Its content waits in the spill file
// until Commit, so that a catalogue's manifests and signatures are not all
// held in memory: only this, about 40 bytes a blob.
type smallBlob struct {
	mediaType types.MediaType
	off, size int64 // its content in the spill file
}

// Writer writes a bundle: blobs are registered with Put (small, kept in an
// unlinked spill file until Commit) and Reserve (large, streamed at
// Commit), index.json entries with AddIndex; Commit writes the archive under a temporary name in the
// destination directory and renames it into place. Nothing is left behind
// when Commit fails or Abort is called.
//
// The registration methods (Put, PutArtifact, PutInventory, Reserve,
// AddIndex) are safe for concurrent use. Commit and Abort end the Writer;
// Abort after Commit does nothing, so `defer w.Abort()` is the way to make
// sure an abandoned export leaves no temporary file.
type Writer struct {
	path string
	opts writerOptions

	mu        sync.Mutex
	tmp       *os.File
	spill     *spillFile
	small     map[v1.Hash]smallBlob
	reserved  map[v1.Hash]v1.Descriptor
	index     []v1.Descriptor
	indexKeys map[[sha256.Size]byte]bool // digests of the entries' JSON, to drop repeats
	closed    bool
	omitted   map[v1.Hash]v1.Descriptor // Omit (delta.go)
	blobDone  func(*entry)              // called as each streamed blob is verified (split resume journal)
	writeback chan<- *entry             // finished large blobs to hand to the kernel's writeback (Commit)
}

// Create starts a bundle that Commit will write to path. The temporary file
// is created now, in the same directory, so that a missing or read-only
// directory fails early.
func Create(path string, opts ...WriterOption) (*Writer, error) {
	o := writerOptions{concurrency: 4, modTime: time.Unix(0, 0).UTC()}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("creating bundle %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating bundle %s: %w", path, err)
	}
	spill, err := newSpillFile(filepath.Dir(abs), "."+filepath.Base(abs)+".small-*")
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("creating bundle %s: %w", path, err)
	}
	return &Writer{
		path:      abs,
		opts:      o,
		tmp:       tmp,
		spill:     spill,
		small:     make(map[v1.Hash]smallBlob),
		reserved:  make(map[v1.Hash]v1.Descriptor),
		indexKeys: make(map[[sha256.Size]byte]bool),
	}, nil
}

// Blobs returns how many distinct blobs the bundle holds (stored and
// reserved) and their total size: what a reader of the finished bundle
// counts under blobs/.
func (w *Writer) Blobs() (n int, size int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.small {
		n++
		size += b.size
	}
	for h, d := range w.reserved {
		if _, ok := w.small[h]; !ok {
			n++
			size += d.Size
		}
	}
	return n, size
}

// Put stores a small blob (manifest, config, signature layer, inventory, TUF
// file) in memory until Commit and returns its descriptor. The same content
// is stored once. Blobs over 64 MiB are refused: Reserve them instead.
func (w *Writer) Put(mediaType types.MediaType, data []byte) (v1.Descriptor, error) {
	if int64(len(data)) > maxSmallBlobSize {
		return v1.Descriptor{}, fmt.Errorf("%w: blob of %d bytes given to Put, limit %d: use Reserve", ErrInvalidOption, len(data), maxSmallBlobSize)
	}
	sum := sha256.Sum256(data)
	h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	desc := v1.Descriptor{MediaType: mediaType, Size: int64(len(data)), Digest: h}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return v1.Descriptor{}, ErrClosed
	}
	if _, ok := w.small[h]; !ok {
		off, err := w.spill.add(data)
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("storing blob %s: %w", h, err)
		}
		w.small[h] = smallBlob{mediaType: mediaType, off: off, size: int64(len(data))}
		delete(w.reserved, h) // known content: no need to fetch it
	}
	return desc, nil
}

// Reserve registers a large blob whose content the Fetcher streams at
// Commit. Reserving a digest twice (or one already Put) stores it once; the
// sizes must agree.
func (w *Writer) Reserve(desc v1.Descriptor) error {
	if err := checkHash(desc.Digest); err != nil {
		return fmt.Errorf("reserving blob: %w", err)
	}
	if desc.Size < 0 {
		return fmt.Errorf("%w: reserving blob %s: negative size %d", ErrInvalidOption, desc.Digest, desc.Size)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if b, ok := w.small[desc.Digest]; ok {
		if b.size != desc.Size {
			return fmt.Errorf("%w: reserving blob %s with size %d, already stored with size %d", ErrSizeMismatch, desc.Digest, desc.Size, b.size)
		}
		return nil
	}
	if prev, ok := w.reserved[desc.Digest]; ok {
		if prev.Size != desc.Size {
			return fmt.Errorf("%w: reserving blob %s with size %d, already reserved with size %d", ErrSizeMismatch, desc.Digest, desc.Size, prev.Size)
		}
		return nil
	}
	w.reserved[desc.Digest] = v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest, URLs: slices.Clone(desc.URLs)}
	return nil
}

// Reserved reports whether h is reserved and not stored: a blob Commit
// will fetch.
func (w *Writer) Reserved(h v1.Hash) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.reserved[h]
	return ok
}

// AddIndex adds an entry to index.json, in call order. Annotations (for
// example AnnotationRefName, AnnotationRole) and platform are kept. An entry
// equal to one already added is dropped. The blob must be Put or Reserved
// before Commit.
func (w *Writer) AddIndex(desc v1.Descriptor) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	key, err := json.Marshal(desc) // map keys are sorted: equal entries, equal keys
	if err == nil {
		k := sha256.Sum256(key)
		if w.indexKeys[k] {
			return
		}
		w.indexKeys[k] = true
	}
	d := desc
	d.Annotations = maps.Clone(desc.Annotations)
	if desc.Platform != nil {
		p := *desc.Platform
		d.Platform = &p
	}
	w.index = append(w.index, d)
}

// PutArtifact stores files as an OCI 1.1 artifact manifest (empty config,
// artifactType set, one layer per file titled with its name) and returns the
// manifest's descriptor with ArtifactType set. It does not add an index
// entry: add one with AddIndex and the role annotation.
func (w *Writer) PutArtifact(artifactType string, files []File, annotations map[string]string) (v1.Descriptor, error) {
	if _, err := w.Put(types.OCIEmptyJSON, EmptyJSON); err != nil {
		return v1.Descriptor{}, err
	}
	layers := make([]v1.Descriptor, 0, len(files))
	for _, f := range files {
		if f.Name == "" {
			return v1.Descriptor{}, fmt.Errorf("%w: artifact %s: a file has no name", ErrInvalidOption, artifactType)
		}
		mt := f.MediaType
		if mt == "" {
			mt = "application/octet-stream"
		}
		d, err := w.Put(mt, f.Data)
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("artifact %s file %s: %w", artifactType, f.Name, err)
		}
		d.Annotations = maps.Clone(f.Annotations)
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[AnnotationTitle] = f.Name
		layers = append(layers, d)
	}
	m, err := NewArtifactManifest(artifactType, layers, annotations)
	if err != nil {
		return v1.Descriptor{}, err
	}
	raw, err := marshalJSON(m)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("encoding artifact manifest %s: %w", artifactType, err)
	}
	d, err := w.Put(types.OCIManifestSchema1, raw)
	if err != nil {
		return v1.Descriptor{}, err
	}
	d.ArtifactType = artifactType
	return d, nil
}

// PutInventory validates inv, stores it as an artifact manifest of type
// MediaTypeInventory and adds its index.json entry with role "inventory".
func (w *Writer) PutInventory(inv *Inventory) (v1.Descriptor, error) {
	raw, err := inv.Marshal()
	if err != nil {
		return v1.Descriptor{}, err
	}
	d, err := w.PutArtifact(MediaTypeInventory, []File{{Name: "inventory.json", MediaType: MediaTypeInventory, Data: raw}}, nil)
	if err != nil {
		return v1.Descriptor{}, err
	}
	d.Annotations = map[string]string{AnnotationRole: RoleInventory}
	w.AddIndex(d)
	return d, nil
}

// Abort discards the bundle and removes the temporary file.
func (w *Writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.small, w.reserved = nil, nil
	return w.removeTemp()
}

func (w *Writer) removeTemp() error {
	w.spill.close()
	name := w.tmp.Name()
	cerr := w.tmp.Close()
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing temporary bundle %s: %w", name, err)
	}
	if cerr != nil && !errors.Is(cerr, os.ErrClosed) {
		return fmt.Errorf("closing temporary bundle %s: %w", name, cerr)
	}
	return nil
}

// entry is one tar entry with its position in the archive. Its header
// block(s) are made again when written (header), not kept: a catalogue
// has tens of thousands of entries.
type entry struct {
	hdr     tarHeader
	offset  int64 // where the header starts
	dataOff int64 // where the content starts
	size    int64
	data    []byte         // content of oci-layout and index.json
	spilled *smallBlob     // content of a small blob, in the spill file
	desc    *v1.Descriptor // reserved blob to stream
}

// writeContent writes a small entry's content (index.json, oci-layout, or
// a Put blob from the spill file) at its place in dst.
func (w *Writer) writeContent(dst io.WriterAt, e *entry, buf []byte) error {
	if e.spilled != nil {
		_, err := io.CopyBuffer(io.NewOffsetWriter(dst, e.dataOff), readerOnly{w.spill.section(*e.spilled)}, buf)
		return err
	}
	if len(e.data) == 0 {
		return nil
	}
	_, err := dst.WriteAt(e.data, e.dataOff)
	return err
}

// Commit writes the archive: oci-layout, index.json, the directories blobs/
// and blobs/sha256/, the small blobs, then the reserved blobs, each in digest
// order; reserved blobs are streamed by concurrent workers straight to their
// precomputed offsets, checking size and sha256. On any error, including ctx
// cancellation, the temporary file is removed and nothing is left at path.
func (w *Writer) Commit(ctx context.Context, fetch Fetcher) (err error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closed = true
	small, reserved, index := w.small, w.reserved, w.index
	w.small, w.reserved, w.indexKeys = nil, nil, nil
	w.mu.Unlock()

	defer func() {
		if err != nil {
			if rerr := w.removeTemp(); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if len(reserved) > 0 && fetch == nil {
		return fmt.Errorf("%w: committing bundle %s: %d reserved blobs but no Fetcher", ErrInvalidOption, w.path, len(reserved))
	}
	if err := checkWriterGraph(small, w.spill, withOmitted(reserved, w.omitted), index); err != nil {
		return fmt.Errorf("committing bundle %s: %w", w.path, err)
	}
	entries, total, err := w.layout(small, reserved, index)
	if err != nil {
		return fmt.Errorf("committing bundle %s: %w", w.path, err)
	}
	if w.opts.partSize > 0 {
		return w.commitSplit(ctx, entries, total, fetch)
	}
	f := w.tmp
	if err := f.Truncate(total); err != nil {
		return fmt.Errorf("sizing bundle %s: %w", f.Name(), err)
	}
	// Headers and small contents, sequentially; what is written is let go
	// of, so the streaming below holds only the streams' own entries.
	nSmall, nReserved, nIndex := len(small), len(reserved), len(index)
	small, reserved, index = nil, nil, nil
	var streams []*entry
	var buf bytes.Buffer
	cbuf := make([]byte, 64<<10)
	for _, e := range entries {
		hb, err := w.header(e, &buf)
		if err != nil {
			return fmt.Errorf("writing bundle %s: %w", f.Name(), err)
		}
		if _, err := f.WriteAt(hb, e.offset); err != nil {
			return fmt.Errorf("writing bundle %s: %w", f.Name(), err)
		}
		if e.desc != nil {
			streams = append(streams, e)
		} else if err := w.writeContent(f, e, cbuf); err != nil {
			return fmt.Errorf("writing bundle %s: %w", f.Name(), err)
		}
		e.data, e.spilled = nil, nil
	}
	entries = nil
	w.spill.close() // every small blob is in place
	wbDone := w.startWritebacks(f)
	err = w.stream(ctx, f, streams, fetch)
	wbDone()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("committing bundle %s: %w", w.path, err)
	}
	// CreateTemp made it 0600; a finished bundle gets the mode os.Create
	// gives under the usual umask.
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("setting the mode of bundle %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing bundle %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing bundle %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), w.path); err != nil {
		return fmt.Errorf("renaming bundle into place at %s: %w", w.path, err)
	}
	if d, err := os.Open(filepath.Dir(w.path)); err == nil {
		_ = d.Sync() // best effort: make the rename durable
		_ = d.Close()
	}
	w.opts.logger.Debug("bundle written", "path", w.path, "bytes", total, "small", nSmall, "reserved", nReserved, "index", nIndex)
	return nil
}

// checkWriterGraph refuses to write a bundle that Reader.Graph would reject
// for a missing blob: every index entry and every descriptor of a small
// manifest or index must name a blob of the bundle with the same size.
func checkWriterGraph(small map[v1.Hash]smallBlob, spill *spillFile, reserved map[v1.Hash]v1.Descriptor, index []v1.Descriptor) error {
	sizeOf := func(h v1.Hash) (int64, bool) {
		if b, ok := small[h]; ok {
			return b.size, true
		}
		if d, ok := reserved[h]; ok {
			return d.Size, true
		}
		return 0, false
	}
	check := func(where string, d v1.Descriptor) error {
		if err := checkHash(d.Digest); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		size, ok := sizeOf(d.Digest)
		if !ok {
			if isExternal(d) {
				return nil
			}
			return fmt.Errorf("%w: %s names %s, which was neither Put nor Reserved", ErrDanglingDescriptor, where, d.Digest)
		}
		if size != d.Size {
			return fmt.Errorf("%w: %s names %s with size %d, stored with size %d", ErrSizeMismatch, where, d.Digest, d.Size, size)
		}
		return nil
	}
	for i, d := range index {
		if err := check(fmt.Sprintf("index.json manifests[%d]", i), d); err != nil {
			return err
		}
	}
	for h, b := range small {
		if !isManifestType(b.mediaType) && !isIndexType(b.mediaType) {
			continue // parseNode has nothing to say about it
		}
		data, err := spill.read(b)
		if err != nil {
			return fmt.Errorf("blob %s: %w", h, err)
		}
		node, err := parseNode(b.mediaType, data)
		if err != nil {
			return fmt.Errorf("blob %s put as %s: %w", h, b.mediaType, err)
		}
		for _, c := range node.children() {
			if err := check(fmt.Sprintf("%s %s", b.mediaType, h), c.desc); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Writer) layout(small map[v1.Hash]smallBlob, reserved map[v1.Hash]v1.Descriptor, index []v1.Descriptor) ([]*entry, int64, error) {
	if index == nil {
		index = []v1.Descriptor{}
	}
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: index}
	idxJSON, err := marshalJSON(idx)
	if err != nil {
		return nil, 0, fmt.Errorf("encoding index.json: %w", err)
	}
	var entries []*entry
	var buf bytes.Buffer
	add := func(th tarHeader, data []byte, desc *v1.Descriptor) error {
		e := &entry{hdr: th, size: th.size, data: data, desc: desc}
		hb, err := w.header(e, &buf)
		if err != nil {
			return err
		}
		e.hdr.n = len(hb)
		entries = append(entries, e)
		return nil
	}
	file := func(name string, data []byte) error {
		return add(tarHeader{name: name, size: int64(len(data))}, data, nil)
	}
	if err := file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return nil, 0, err
	}
	if err := file("index.json", idxJSON); err != nil {
		return nil, 0, err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := add(tarHeader{name: dir, dir: true}, nil, nil); err != nil {
			return nil, 0, err
		}
	}
	for _, h := range sortedHashes(small) {
		b := small[h]
		if err := add(tarHeader{name: "blobs/sha256/" + h.Hex, size: b.size}, nil, nil); err != nil {
			return nil, 0, err
		}
		entries[len(entries)-1].spilled = &b
	}
	for _, h := range sortedHashes(reserved) {
		d := reserved[h]
		if err := add(tarHeader{name: "blobs/sha256/" + h.Hex, size: d.Size}, nil, &d); err != nil {
			return nil, 0, err
		}
	}
	var off int64
	for _, e := range entries {
		e.offset = off
		e.dataOff = off + int64(e.hdr.n)
		off = e.dataOff + roundBlock(e.size)
	}
	return entries, off + 2*blockSize, nil // end of archive: two zero blocks
}

// tarHeader is what an entry's tar header is made from.
type tarHeader struct {
	name string
	dir  bool
	size int64
	n    int // length of the header block(s)
}

// header returns e's tar header block(s), made in buf (reused: the bytes
// are valid until the next call with the same buf).
func (w *Writer) header(e *entry, buf *bytes.Buffer) ([]byte, error) {
	h := &tar.Header{Typeflag: tar.TypeReg, Name: e.hdr.name, Mode: 0o644, Size: e.hdr.size,
		ModTime: w.opts.modTime, Format: tar.FormatUnknown} // USTAR when it fits, else PAX (blobs over 8 GiB)
	if e.hdr.dir {
		h.Typeflag, h.Mode = tar.TypeDir, 0o755
	}
	buf.Reset()
	if err := tar.NewWriter(buf).WriteHeader(h); err != nil {
		return nil, fmt.Errorf("tar header for %s: %w", h.Name, err)
	}
	return buf.Bytes(), nil
}

const blockSize = 512

func roundBlock(n int64) int64 { return (n + blockSize - 1) / blockSize * blockSize }

func sortedHashes[V any](m map[v1.Hash]V) []v1.Hash {
	hs := slices.Collect(maps.Keys(m))
	slices.SortFunc(hs, func(a, b v1.Hash) int {
		if a.Hex < b.Hex {
			return -1
		} else if a.Hex > b.Hex {
			return 1
		}
		return 0
	})
	return hs
}

// stream fetches every reserved blob into place with a bounded worker pool.
func (w *Writer) stream(ctx context.Context, f outFile, streams []*entry, fetch Fetcher) error {
	var pr *progressReporter
	if w.opts.progress != nil {
		pr = &progressReporter{fn: w.opts.progress, blobs: len(streams)}
		for _, e := range streams {
			pr.total += e.size
		}
	}
	// Two pools: large blobs are bandwidth-bound and take the configured
	// concurrency; small ones (signature layers, configs, small layers)
	// cost a round trip each, so more of them run at once, beside the
	// large ones rather than queued behind them.
	var large, small []*entry
	for _, e := range streams {
		if e.size <= smallStreamSize {
			small = append(small, e)
		} else {
			large = append(large, e)
		}
	}
	// A failed blob stops new streams; those in flight finish, so that a
	// split export keeps them for its resume. Cancelling ctx stops all.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		stop     = make(chan struct{})
		stopOnce sync.Once
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		stopOnce.Do(func() { close(stop) })
	}
	pool := func(es []*entry, limit int) {
		sem := make(chan struct{}, limit)
		for _, e := range es {
			select {
			case sem <- struct{}{}:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
			select {
			case <-stop:
				return
			default:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := w.streamOne(ctx, f, e, fetch, pr); err != nil {
					fail(err)
				}
			}()
		}
	}
	var feeders sync.WaitGroup
	feeders.Add(1)
	go func() { defer feeders.Done(); pool(small, smallStreamsPer*w.opts.concurrency) }()
	pool(large, w.opts.concurrency)
	feeders.Wait()
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fetching blobs: %w", err)
	}
	return nil
}

// startWritebacks starts the goroutine that hands each finished large
// blob's range of f to the kernel's writeback (startWriteback), off the
// streams' path: starting writeback can block on a busy disk. The
// returned func stops it and waits for it.
func (w *Writer) startWritebacks(f *os.File) (stop func()) {
	ch := make(chan *entry, 64)
	done := make(chan struct{})
	w.writeback = ch
	go func() {
		defer close(done)
		for e := range ch {
			startWriteback(f, e.dataOff, e.size)
		}
	}()
	return func() {
		w.writeback = nil
		close(ch)
		<-done
	}
}

// smallStreamSize is the size up to which a reserved blob counts as small
// (latency-bound) when streaming; smallStreamsPer small blobs stream at
// once per unit of WithConcurrency.
const (
	smallStreamSize = 1 << 20
	smallStreamsPer = 4
)

// streamOne fetches one reserved blob into place, once: retrying is the
// Fetcher's business.
func (w *Writer) streamOne(ctx context.Context, f outFile, e *entry, fetch Fetcher, pr *progressReporter) error {
	desc := *e.desc
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fetching blob %s: %w", desc.Digest, err)
	}
	if err := w.streamBlob(ctx, f, e, fetch, pr); err != nil {
		if errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrSizeMismatch) || errors.Is(err, errLocal) || ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w %s: %w", ErrFetch, desc.Digest, err)
	}
	if w.writeback != nil && e.size > smallStreamSize {
		select {
		case w.writeback <- e:
		default: // the writeback is behind: the fsync does it
		}
	}
	pr.blobDone(desc)
	if w.blobDone != nil {
		w.blobDone(e)
	}
	return nil
}

func (w *Writer) streamBlob(ctx context.Context, f outFile, e *entry, fetch Fetcher, pr *progressReporter) error {
	desc := *e.desc
	rc, err := fetch(ctx, desc)
	if err != nil {
		return err
	}
	defer rc.Close()
	hw := &hashingWriter{w: io.NewOffsetWriter(f, e.dataOff), h: sha256.New(), limit: desc.Size}
	if pr != nil {
		hw.onWrite = func(n int64) { pr.blobProgress(desc, n) }
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	_, err = io.CopyBuffer(hw, readerOnly{rc}, *bp)
	if hw.werr != nil {
		return fmt.Errorf("%w: writing blob %s to %s: %w", errLocal, desc.Digest, f.Name(), hw.werr)
	}
	if errors.Is(err, errTooMuch) {
		return fmt.Errorf("%w: blob %s: the Fetcher gave more than the %d bytes its descriptor says", ErrSizeMismatch, desc.Digest, desc.Size)
	}
	if err != nil {
		return fmt.Errorf("fetching blob %s: %w", desc.Digest, err)
	}
	if hw.n != desc.Size {
		return fmt.Errorf("%w: blob %s: the Fetcher gave %d bytes, its descriptor says %d", ErrSizeMismatch, desc.Digest, hw.n, desc.Size)
	}
	if got := hex.EncodeToString(hw.h.Sum(nil)); got != desc.Digest.Hex {
		return fmt.Errorf("%w: blob %s: the Fetcher's content hashes to sha256:%s", ErrDigestMismatch, desc.Digest, got)
	}
	return nil
}

// outFile is where Commit streams blobs: the temporary file, or the parts
// of a split bundle.
type outFile interface {
	io.WriterAt
	Name() string
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

var (
	errTooMuch = errors.New("more data than declared")
	errLocal   = errors.New("local failure") // the bundle file, not the Fetcher
)

// readerOnly hides WriterTo so that io.CopyBuffer uses our buffer and writer.
type readerOnly struct{ io.Reader }

type hashingWriter struct {
	w       io.Writer
	h       hash.Hash
	n       int64
	limit   int64
	onWrite func(n int64)
	werr    error // the bundle file could not be written
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	if hw.n+int64(len(p)) > hw.limit {
		return 0, errTooMuch
	}
	n, err := hw.w.Write(p)
	if err != nil {
		hw.werr = err
	}
	hw.h.Write(p[:n])
	hw.n += int64(n)
	if hw.onWrite != nil {
		hw.onWrite(hw.n)
	}
	return n, err
}

// progressReporter serialises calls to the caller's callback.
type progressReporter struct {
	fn        func(Progress)
	mu        sync.Mutex
	total     int64
	done      int64
	blobs     int
	blobsDone int
}

func (p *progressReporter) blobProgress(d v1.Descriptor, n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fn(Progress{Blob: d.Digest, BlobDone: n, BlobSize: d.Size, Done: p.done, Total: p.total, BlobsDone: p.blobsDone, Blobs: p.blobs})
}

func (p *progressReporter) blobDone(d v1.Descriptor) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += d.Size
	p.blobsDone++
	p.fn(Progress{Blob: d.Digest, BlobDone: d.Size, BlobSize: d.Size, Done: p.done, Total: p.total, BlobsDone: p.blobsDone, Blobs: p.blobs})
}

// spillFile holds the content of small blobs between Put and Commit. It is
// unlinked as soon as it is created where the system allows, so a crash
// leaves nothing behind; else it is removed when closed.
type spillFile struct {
	f    *os.File
	name string // set when it could not be unlinked at once
	end  int64
}

func newSpillFile(dir, pattern string) (*spillFile, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	s := &spillFile{f: f}
	if os.Remove(f.Name()) != nil {
		s.name = f.Name()
	}
	return s, nil
}

// add appends data and returns where it starts. The caller serializes.
func (s *spillFile) add(data []byte) (int64, error) {
	off := s.end
	if _, err := s.f.WriteAt(data, off); err != nil {
		return 0, err
	}
	s.end += int64(len(data))
	return off, nil
}

func (s *spillFile) section(b smallBlob) *io.SectionReader {
	return io.NewSectionReader(s.f, b.off, b.size)
}

func (s *spillFile) read(b smallBlob) ([]byte, error) {
	data := make([]byte, b.size)
	if _, err := s.f.ReadAt(data, b.off); err != nil {
		return nil, fmt.Errorf("reading it back from %s: %w", s.f.Name(), err)
	}
	return data, nil
}

// close closes and, if it is still there, removes the file. It may be
// called more than once.
func (s *spillFile) close() {
	s.f.Close()
	if s.name != "" {
		os.Remove(s.name)
		s.name = ""
	}
}
