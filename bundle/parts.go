package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/reedsolomon"
)

// Split bundles: the archive cut into numbered data parts of a fixed size
// ("bundle.tar.000", "bundle.tar.001", ...; `cat bundle.tar.[0-9]*` gives the
// plain tar), optional Reed–Solomon parity parts ("bundle.tar.p00", ...) and
// a parts manifest ("bundle.tar.parts.json"). docs/bundle-format.md
// specifies the manifest.

// MediaTypeParts is the media type of a parts manifest.
const MediaTypeParts = "application/vnd.airlock.parts.v1+json"

// PartsSchemaVersion is the only parts manifest version this package reads and writes.
const PartsSchemaVersion = 1

// ParityReedSolomon names the parity scheme: Reed–Solomon over GF(2^8)
// (github.com/klauspost/reedsolomon, its default Vandermonde-derived
// matrix), each data part zero-padded to PartSize, parity parts PartSize
// bytes long.
const ParityReedSolomon = "reed-solomon-gf8"

// Split limits.
const (
	MinPartSize      = 4 << 10 // 4 KiB
	MaxPartSize      = 1 << 40 // 1 TiB
	MaxDataParts     = 1000    // three-digit part numbers
	MaxParityParts   = 100     // two-digit parity numbers
	maxShards        = 256     // data + parity parts when parity is used (GF(2^8))
	maxPartsManifest = 1 << 20 // 1 MiB
)

// Errors about parts. Both wrap ErrInvalidBundle.
var (
	// ErrPartsDamaged: more parts are missing or corrupt than parity can
	// rebuild. The message names them.
	ErrPartsDamaged = fmt.Errorf("%w: parts missing or damaged beyond repair", ErrInvalidBundle)
	// ErrPartsManifest: the parts manifest does not parse, breaks its schema
	// or disagrees with the parts (for example the whole-archive digest).
	ErrPartsManifest = fmt.Errorf("%w: parts manifest", ErrInvalidBundle)
)

// Parts is a parts manifest.
type Parts struct {
	SchemaVersion int    `json:"schemaVersion"`
	MediaType     string `json:"mediaType"`
	// PartSize is the size of every data part but the last.
	PartSize int64 `json:"partSize"`
	// Size and Digest are those of the whole tar (the data parts in order).
	Size   int64  `json:"size"`
	Digest string `json:"digest"`
	// Data parts in order.
	Data   []PartFile `json:"parts"`
	Parity *Parity    `json:"parity,omitempty"`
	// Signature, when present, is a Sigstore bundle (JSON) whose DSSE
	// statement names this manifest without its signature (SignedDigest).
	Signature json.RawMessage `json:"signature,omitempty"`
}

// Parity describes the parity parts.
type Parity struct {
	Algorithm string     `json:"algorithm"`
	Parts     []PartFile `json:"parts"`
}

// PartFile is one part: its file name (a base name in the manifest's
// directory), size and sha256.
type PartFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Digest string `json:"digest"`
}

// PartsPath returns the parts manifest's name for a bundle path.
func PartsPath(bundlePath string) string { return bundlePath + ".parts.json" }

func dataPartName(base string, i int) string   { return fmt.Sprintf("%s.%03d", base, i) }
func parityPartName(base string, i int) string { return fmt.Sprintf("%s.p%02d", base, i) }

// SignedDigest is the sha256 of the manifest encoded without its
// signature: what a parts signature's statement names.
func (p *Parts) SignedDigest() (string, error) {
	c := *p
	c.Signature = nil
	raw, err := marshalJSON(&c)
	if err != nil {
		return "", fmt.Errorf("encoding parts manifest: %w", err)
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// ParseParts decodes a parts manifest and checks it against the bundle
// base name it belongs to: part names must be exactly base.000, base.001,
// ... and base.p00, ...; sizes must add up.
func ParseParts(data []byte, base string) (*Parts, error) {
	if len(data) > maxPartsManifest {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrPartsManifest, len(data), maxPartsManifest)
	}
	var p Parts
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPartsManifest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON document", ErrPartsManifest)
	}
	if err := p.validate(base); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *Parts) validate(base string) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrPartsManifest, fmt.Sprintf(format, a...))
	}
	if p.SchemaVersion != PartsSchemaVersion {
		return bad("schemaVersion %d, want %d", p.SchemaVersion, PartsSchemaVersion)
	}
	if p.MediaType != MediaTypeParts {
		return bad("mediaType %q, want %q", p.MediaType, MediaTypeParts)
	}
	if p.PartSize < MinPartSize || p.PartSize > MaxPartSize {
		return bad("partSize %d is not between %d and %d", p.PartSize, MinPartSize, int64(MaxPartSize))
	}
	if err := checkDigest(p.Digest); err != nil {
		return bad("digest: %v", err)
	}
	n := len(p.Data)
	if n == 0 || n > MaxDataParts {
		return bad("%d data parts, want 1 to %d", n, MaxDataParts)
	}
	if p.Size <= 0 || p.Size > MaxPartSize*MaxDataParts || (p.Size+p.PartSize-1)/p.PartSize != int64(n) {
		return bad("size %d in parts of %d bytes is not %d parts", p.Size, p.PartSize, n)
	}
	for i, f := range p.Data {
		want := p.PartSize
		if i == n-1 {
			want = p.Size - int64(n-1)*p.PartSize
		}
		if err := checkPart(f, dataPartName(base, i), want); err != nil {
			return bad("parts[%d]: %v", i, err)
		}
	}
	if p.Parity != nil {
		if p.Parity.Algorithm != ParityReedSolomon {
			return bad("parity algorithm %q, want %q", p.Parity.Algorithm, ParityReedSolomon)
		}
		m := len(p.Parity.Parts)
		if m == 0 || m > MaxParityParts || n+m > maxShards {
			return bad("%d parity parts for %d data parts (1 to %d, at most %d in all)", m, n, MaxParityParts, maxShards)
		}
		for i, f := range p.Parity.Parts {
			if err := checkPart(f, parityPartName(base, i), p.PartSize); err != nil {
				return bad("parity.parts[%d]: %v", i, err)
			}
		}
	}
	return nil
}

func checkPart(f PartFile, name string, size int64) error {
	if f.Name != name {
		return fmt.Errorf("name %q, want %q", f.Name, name)
	}
	if f.Size != size {
		return fmt.Errorf("%s: size %d, want %d", f.Name, f.Size, size)
	}
	if err := checkDigest(f.Digest); err != nil {
		return fmt.Errorf("%s: %v", f.Name, err)
	}
	return nil
}

// PartsStatus is what reading a split bundle found: the manifest as read
// (with the raw bytes and signature), and the parts that were missing or
// corrupt and rebuilt from parity.
type PartsStatus struct {
	Manifest *Parts `json:"-"`
	// Path of the parts manifest.
	Path string `json:"path"`
	// DataParts and ParityParts count the parts the manifest lists.
	DataParts   int `json:"dataParts"`
	ParityParts int `json:"parityParts"`
	// Damaged names the parts (data or parity) that were missing, of the
	// wrong size or whose sha256 differed, each with why.
	Damaged []DamagedPart `json:"damaged,omitempty"`
	// Repaired names the data parts rebuilt from parity.
	Repaired []string `json:"repaired,omitempty"`
}

// DamagedPart is one missing or corrupt part.
type DamagedPart struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// partSet is a split archive seen as one file: data parts of partSize
// bytes (the last shorter) read and written at archive offsets.
type partSet struct {
	files    []*os.File
	partSize int64
	size     int64
	name     string
	cleanup  func() // removes rebuilt parts (reader side)
}

func (p *partSet) Name() string { return p.name }

// span maps an archive offset to (part, offset in part, bytes left in that part).
func (p *partSet) at(off int64) (int, int64, int64) {
	i := int(off / p.partSize)
	in := off - int64(i)*p.partSize
	end := p.partSize
	if i == len(p.files)-1 {
		end = p.size - int64(i)*p.partSize
	}
	return i, in, end - in
}

func (p *partSet) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	n := 0
	for n < len(b) {
		if off >= p.size {
			return n, io.EOF
		}
		i, in, left := p.at(off)
		chunk := b[n:min(len(b), n+int(min(left, int64(len(b)-n))))]
		m, err := p.files[i].ReadAt(chunk, in)
		n += m
		off += int64(m)
		if err != nil && !(errors.Is(err, io.EOF) && m == len(chunk)) {
			if errors.Is(err, io.EOF) {
				return n, io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	return n, nil
}

func (p *partSet) WriteAt(b []byte, off int64) (int, error) {
	n := 0
	for n < len(b) {
		if off >= p.size {
			return n, fmt.Errorf("write at %d beyond the archive's %d bytes", off, p.size)
		}
		i, in, left := p.at(off)
		chunk := b[n : n+int(min(left, int64(len(b)-n)))]
		m, err := p.files[i].WriteAt(chunk, in)
		n += m
		off += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (p *partSet) Close() error {
	var errs []error
	for _, f := range p.files {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	if p.cleanup != nil {
		p.cleanup()
	}
	return errors.Join(errs...)
}

// zeroPadded reads r then zeros up to n bytes in all.
func zeroPadded(r io.Reader, rsize, n int64) io.Reader {
	if rsize >= n {
		return r
	}
	return io.MultiReader(r, io.LimitReader(zeros{}, n-rsize))
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// hashFile returns the sha256 of a whole file and its size.
func hashFile(f *os.File, whole hash.Hash) (string, int64, error) {
	h := sha256.New()
	var w io.Writer = h
	if whole != nil {
		w = io.MultiWriter(h, whole)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	n, err := io.CopyBuffer(w, readerOnly{io.NewSectionReader(f, 0, 1<<62)}, *bp)
	if err != nil {
		return "", n, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}

// openParts opens the split bundle whose plain tar would be at path: it
// reads the parts manifest, hashes every part, rebuilds up to as many
// damaged data parts as there are parity parts (into a temporary directory
// removed on Close) and checks the whole archive's digest. It reads every
// byte once (twice when a part was rebuilt).
func openParts(path string) (*partSet, *PartsStatus, error) {
	mpath := PartsPath(path)
	mf, err := os.Open(mpath)
	if err != nil {
		return nil, nil, fmt.Errorf("opening parts manifest: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(mf, maxPartsManifest+1))
	mf.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("reading parts manifest %s: %w", mpath, err)
	}
	base := filepath.Base(path)
	man, err := ParseParts(raw, base)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", mpath, err)
	}
	dir := filepath.Dir(path)
	st := &PartsStatus{Manifest: man, Path: mpath, DataParts: len(man.Data)}
	all := slices.Clone(man.Data)
	if man.Parity != nil {
		st.ParityParts = len(man.Parity.Parts)
		all = append(all, man.Parity.Parts...)
	}
	ps := &partSet{partSize: man.PartSize, size: man.Size, name: path, files: make([]*os.File, len(man.Data))}
	ok := false
	defer func() {
		if !ok {
			ps.Close()
		}
	}()
	files := make([]*os.File, len(all))
	defer func() {
		for i, f := range files {
			if f != nil && (i >= len(man.Data) || ps.files[i] != f) {
				f.Close()
			}
		}
	}()
	whole := sha256.New()
	wholeOK := true
	for i, pf := range all {
		damaged := func(why string) {
			st.Damaged = append(st.Damaged, DamagedPart{Name: pf.Name, Reason: why})
			if i < len(man.Data) {
				wholeOK = false
			}
		}
		f, err := os.Open(filepath.Join(dir, pf.Name))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				damaged("missing")
			} else {
				damaged(err.Error())
			}
			continue
		}
		var w hash.Hash
		if i < len(man.Data) && wholeOK {
			w = whole
		}
		d, n, err := hashFile(f, w)
		switch {
		case err != nil:
			damaged(fmt.Sprintf("reading: %v", err))
		case n != pf.Size:
			damaged(fmt.Sprintf("%d bytes, want %d", n, pf.Size))
		case d != pf.Digest:
			damaged(fmt.Sprintf("sha256 %s, want %s", d, pf.Digest))
		default:
			files[i] = f
			continue
		}
		f.Close()
	}
	if len(st.Damaged) > st.ParityParts {
		names := make([]string, len(st.Damaged))
		for i, d := range st.Damaged {
			names[i] = d.Name + " (" + d.Reason + ")"
		}
		return nil, nil, fmt.Errorf("%w: %s: %d of %d parts damaged, %d parity parts can rebuild at most %d: %s",
			ErrPartsDamaged, mpath, len(st.Damaged), len(all), st.ParityParts, st.ParityParts, strings.Join(names, "; "))
	}
	for i := range man.Data {
		ps.files[i] = files[i]
	}
	if !wholeOK { // a data part is damaged (a lost parity part needs no rebuild)
		if err := rebuild(man, files, ps, st); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", mpath, err)
		}
		whole = sha256.New()
		if _, err := io.Copy(whole, io.NewSectionReader(ps, 0, ps.size)); err != nil {
			return nil, nil, fmt.Errorf("%w: re-reading the repaired parts: %v", ErrPartsDamaged, err)
		}
	}
	if got := "sha256:" + hex.EncodeToString(whole.Sum(nil)); got != man.Digest {
		return nil, nil, fmt.Errorf("%w: %s: the parts join to a tar with sha256 %s, the manifest says %s", ErrPartsManifest, mpath, got, man.Digest)
	}
	ok = true
	return ps, st, nil
}

// rebuild reconstructs the damaged data parts from the good ones and the
// parity into a temporary directory and checks each against its digest.
func rebuild(man *Parts, files []*os.File, ps *partSet, st *PartsStatus) error {
	n, m := len(man.Data), len(man.Parity.Parts)
	enc, err := newParityCoder(n, m)
	if err != nil {
		return fmt.Errorf("%w: parity: %v", ErrPartsDamaged, err)
	}
	tmp, err := os.MkdirTemp("", "airlock-parts-")
	if err != nil {
		return fmt.Errorf("making a directory for rebuilt parts: %w", err)
	}
	ps.cleanup = func() { os.RemoveAll(tmp) }
	valid := make([]io.Reader, n+m)
	fill := make([]io.Writer, n+m)
	rebuilt := map[int]*os.File{}
	sizeOf := func(i int) int64 {
		if i < n {
			return man.Data[i].Size
		}
		return man.PartSize
	}
	for i, f := range files {
		if f != nil {
			valid[i] = zeroPadded(io.NewSectionReader(f, 0, sizeOf(i)), sizeOf(i), man.PartSize)
			continue
		}
		if i >= n {
			continue // a lost parity part need not be rebuilt
		}
		out, err := os.Create(filepath.Join(tmp, man.Data[i].Name))
		if err != nil {
			return fmt.Errorf("creating rebuilt part: %w", err)
		}
		rebuilt[i] = out
		fill[i] = &capWriter{w: out, left: sizeOf(i)}
	}
	if err := enc.Reconstruct(valid, fill); err != nil {
		for _, f := range rebuilt {
			f.Close()
		}
		return fmt.Errorf("%w: rebuilding from parity: %v", ErrPartsDamaged, err)
	}
	for i, f := range rebuilt {
		d, size, err := hashFile(f, nil)
		if err != nil || size != man.Data[i].Size || d != man.Data[i].Digest {
			f.Close()
			return fmt.Errorf("%w: %s rebuilt from parity has sha256 %s (%d bytes), the manifest says %s: the parts manifest or the parity parts are wrong",
				ErrPartsDamaged, man.Data[i].Name, d, size, man.Data[i].Digest)
		}
		ps.files[i] = f
		st.Repaired = append(st.Repaired, man.Data[i].Name)
	}
	slices.Sort(st.Repaired)
	return nil
}

// newParityCoder is the streaming Reed–Solomon coder for n data and m
// parity parts, with a block size that keeps its buffers (one block per
// part) near 32 MiB whatever the number of parts: memory does not grow with
// the bundle (zarf #2231 used twice the package size).
func newParityCoder(n, m int) (reedsolomon.StreamEncoder, error) {
	bs := min(max((32<<20)/(n+m), 64<<10), 4<<20)
	return reedsolomon.NewStream(n, m, reedsolomon.WithStreamBlockSize(bs))
}

// capWriter writes the first left bytes and drops the zero padding after.
type capWriter struct {
	w    io.Writer
	left int64
}

func (c *capWriter) Write(b []byte) (int, error) {
	k := min(int64(len(b)), c.left)
	if k > 0 {
		if _, err := c.w.Write(b[:k]); err != nil {
			return 0, err
		}
		c.left -= k
	}
	return len(b), nil
}

// resumeState is what an interrupted split Commit leaves beside the
// bundle so that a re-run with the same layout keeps the blobs it already
// wrote (each re-checked against its digest).
type resumeState struct {
	Key  string   `json:"key"`
	Done []string `json:"done"`
}

type resumeJournal struct {
	mu   sync.Mutex
	path string
	st   resumeState
}

func (j *resumeJournal) save() error {
	raw, err := json.Marshal(j.st)
	if err != nil {
		return err
	}
	tmp := j.path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, j.path)
}

func (j *resumeJournal) done(h string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.st.Done = append(j.st.Done, h)
	return j.save()
}

// layoutKey identifies the placement of every streamed blob: a re-run
// whose key matches may keep what the last run wrote.
func layoutKey(entries []*entry, total, partSize int64) string {
	h := sha256.New()
	fmt.Fprintf(h, "airlock-split-v1 %d %d\n", total, partSize)
	for _, e := range entries {
		if e.desc != nil {
			fmt.Fprintf(h, "%s %d %d\n", e.desc.Digest, e.dataOff, e.size)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func loadResume(path, key string) map[string]bool {
	raw, err := os.ReadFile(path)
	if err != nil || len(raw) > 64<<20 {
		return nil
	}
	var st resumeState
	if json.NewDecoder(bytes.NewReader(raw)).Decode(&st) != nil || st.Key != key {
		return nil
	}
	done := make(map[string]bool, len(st.Done))
	for _, d := range st.Done {
		done[d] = true
	}
	return done
}

// archiveFile is what a Reader reads: the bundle file, or its parts.
type archiveFile interface {
	io.ReaderAt
	io.Closer
}

// openArchive opens the plain tar at path or, when no file is there and
// path.parts.json is, its parts in place (checking and, with parity,
// repairing them).
func openArchive(path string) (archiveFile, int64, *PartsStatus, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(PartsPath(path)); serr == nil {
			set, st, err := openParts(path)
			if err != nil {
				return nil, 0, nil, fmt.Errorf("opening split bundle %s: %w", path, err)
			}
			return set, set.size, st, nil
		}
	}
	if err != nil {
		return nil, 0, nil, fmt.Errorf("opening bundle: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("opening bundle %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalidBundle, path)
	}
	return f, st.Size(), nil, nil
}

// Parts returns what reading a split bundle found (nil for a plain tar).
func (r *Reader) Parts() *PartsStatus { return r.parts }
