package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WithSplit makes Commit write the archive as data parts of partSize bytes
// (the last one shorter) named path.000, path.001, ..., parity Reed–Solomon
// parity parts path.p00, ... (0 for none) and the parts manifest
// path.parts.json, instead of one file at path. partSize must be at least
// MinPartSize; at most MaxDataParts data parts and MaxParityParts parity
// parts (256 in all when parity is used). Default: no split.
//
// A split Commit that fails (or whose context is cancelled) leaves its
// partial parts and a journal (.path.resume.json) beside path: Commit with
// the same layout keeps every blob already written, after re-checking its
// sha256, and fetches only the rest. Any other layout starts afresh.
func WithSplit(partSize int64, parity int) WriterOption {
	return func(o *writerOptions) { o.partSize, o.parity = partSize, parity }
}

// WithPartsSigner sets a function that signs the parts manifest: it gets
// Parts.SignedDigest and returns a Sigstore bundle (JSON), stored as the
// manifest's signature. Only used with WithSplit.
func WithPartsSigner(sign func(digest string) ([]byte, error)) WriterOption {
	return func(o *writerOptions) { o.partsSigner = sign }
}

func (o *writerOptions) validateSplit() error {
	if o.partSize == 0 {
		if o.parity != 0 {
			return fmt.Errorf("%w: parity parts need a split", ErrInvalidOption)
		}
		return nil
	}
	if o.partSize < MinPartSize || o.partSize > MaxPartSize {
		return fmt.Errorf("%w: part size %d is not between %d and %d", ErrInvalidOption, o.partSize, MinPartSize, int64(MaxPartSize))
	}
	if o.parity < 0 || o.parity > MaxParityParts {
		return fmt.Errorf("%w: %d parity parts, want 0 to %d", ErrInvalidOption, o.parity, MaxParityParts)
	}
	return nil
}

// commitSplit writes the laid-out archive as parts (see WithSplit): it
// opens the parts (keeping an interrupted run's blobs), writes headers and
// small files, streams the blobs, then hashes, protects, signs and renames
// the parts into place, the parts manifest last.
func (w *Writer) commitSplit(ctx context.Context, entries []*entry, total int64, fetch Fetcher) error {
	ps := w.opts.partSize
	n := int((total + ps - 1) / ps)
	if n > MaxDataParts {
		return fmt.Errorf("%w: %d bytes in parts of %d bytes make %d parts, limit %d", ErrInvalidOption, total, ps, n, MaxDataParts)
	}
	if w.opts.parity > 0 && n+w.opts.parity > maxShards {
		return fmt.Errorf("%w: %d data and %d parity parts, Reed–Solomon allows %d in all", ErrInvalidOption, n, w.opts.parity, maxShards)
	}
	sp := splitPaths{dir: filepath.Dir(w.path), base: filepath.Base(w.path)}
	journal := &resumeJournal{path: filepath.Join(sp.dir, "."+sp.base+".resume.json"), st: resumeState{Key: layoutKey(entries, total, ps)}}
	set, kept, err := sp.openParts(n, ps, total, loadResume(journal.path, journal.st.Key))
	if set != nil {
		defer set.Close()
	}
	if err != nil {
		return err
	}
	streams, err := w.layOut(set, entries, kept, journal, total)
	if err != nil {
		return err
	}
	w.spill.close() // every small blob is in place
	w.blobDone = func(e *entry) {
		if err := journal.done(e.desc.Digest.String()); err != nil {
			w.opts.logger.Debug("resume journal not updated", "path", journal.path, "error", err)
		}
	}
	if err := w.stream(ctx, set, streams, fetch); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("committing bundle %s: %w", w.path, err)
	}
	man, err := sp.hashParts(set, ps, total)
	if err != nil {
		return err
	}
	if err := w.addParity(man, set, sp); err != nil {
		return err
	}
	if w.opts.partsSigner != nil {
		d, err := man.SignedDigest()
		if err != nil {
			return err
		}
		if man.Signature, err = w.opts.partsSigner(d); err != nil {
			return fmt.Errorf("signing the parts manifest of %s: %w", w.path, err)
		}
	}
	if err := man.validate(sp.base); err != nil {
		return fmt.Errorf("parts manifest of %s: %w", w.path, err)
	}
	raw, err := marshalJSON(man)
	if err != nil {
		return fmt.Errorf("encoding parts manifest: %w", err)
	}
	if err := os.WriteFile(sp.partial(sp.base+".parts.json"), raw, 0o644); err != nil {
		return fmt.Errorf("writing parts manifest: %w", err)
	}
	if err := w.placeParts(sp, n); err != nil {
		return err
	}
	_ = os.Remove(journal.path)
	if d, err := os.Open(sp.dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	w.opts.logger.Debug("split bundle written", "path", w.path, "bytes", total, "parts", n, "parity", w.opts.parity, "kept", len(journal.st.Done))
	return w.removeTemp()
}

// splitPaths names the files of a split bundle: the parts sit beside the
// bundle path, written under a hidden ".partial" name until complete.
type splitPaths struct{ dir, base string }

func (sp splitPaths) partial(name string) string {
	return filepath.Join(sp.dir, "."+name+".partial")
}

// openParts opens (or creates) the n partial data parts at their final
// sizes. kept, the blobs an interrupted run finished, is returned as nil
// when a part has another size: nothing written before can be trusted to
// be in place. The set is returned for closing even on error.
func (sp splitPaths) openParts(n int, ps, total int64, kept map[string]bool) (*partSet, map[string]bool, error) {
	set := &partSet{partSize: ps, size: total, name: filepath.Join(sp.dir, sp.base), files: make([]*os.File, n)}
	for i := range n {
		size := ps
		if i == n-1 {
			size = total - int64(i)*ps
		}
		name := sp.partial(dataPartName(sp.base, i))
		flag := os.O_RDWR | os.O_CREATE
		if kept == nil {
			flag |= os.O_TRUNC
		}
		f, err := os.OpenFile(name, flag, 0o644)
		if err != nil {
			return set, nil, fmt.Errorf("creating part %s: %w", name, err)
		}
		set.files[i] = f
		if fi, err := f.Stat(); err == nil && fi.Size() != size {
			kept = nil
		}
		if err := f.Truncate(size); err != nil {
			return set, nil, fmt.Errorf("sizing part %s: %w", name, err)
		}
	}
	return set, kept, nil
}

// layOut writes every tar header, the small files and the end-of-archive
// marker, records the blobs kept from an interrupted run in the journal,
// and returns the blobs still to stream.
func (w *Writer) layOut(set *partSet, entries []*entry, kept map[string]bool, journal *resumeJournal, total int64) ([]*entry, error) {
	var streams []*entry
	var hbuf bytes.Buffer
	cbuf := make([]byte, 64<<10)
	for _, e := range entries {
		hb, err := w.header(e, &hbuf)
		if err != nil {
			return nil, err
		}
		if _, err := set.WriteAt(hb, e.offset); err != nil {
			return nil, fmt.Errorf("writing bundle parts of %s: %w", w.path, err)
		}
		switch {
		case e.desc == nil:
			if err := w.writeContent(set, e, cbuf); err != nil {
				return nil, fmt.Errorf("writing bundle parts of %s: %w", w.path, err)
			}
		case kept[e.desc.Digest.String()] && sectionHas(set, e):
			journal.st.Done = append(journal.st.Done, e.desc.Digest.String())
			w.opts.logger.Debug("kept blob from the interrupted export", "digest", e.desc.Digest.String())
		default:
			streams = append(streams, e)
		}
	}
	// The end-of-archive marker: two zero blocks (parts reused from an
	// interrupted run may hold anything there).
	if _, err := set.WriteAt(make([]byte, 2*blockSize), total-2*blockSize); err != nil {
		return nil, fmt.Errorf("writing bundle parts of %s: %w", w.path, err)
	}
	if err := journal.save(); err != nil {
		return nil, fmt.Errorf("writing resume journal %s: %w", journal.path, err)
	}
	return streams, nil
}

// hashParts syncs the data parts and starts the parts manifest: each
// part's size and digest, and the digest of the whole archive.
func (sp splitPaths) hashParts(set *partSet, ps, total int64) (*Parts, error) {
	man := &Parts{SchemaVersion: PartsSchemaVersion, MediaType: MediaTypeParts, PartSize: ps, Size: total}
	whole := sha256.New()
	for i, f := range set.files {
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("syncing part %s: %w", f.Name(), err)
		}
		d, size, err := hashFile(f, whole)
		if err != nil {
			return nil, fmt.Errorf("hashing part %s: %w", f.Name(), err)
		}
		man.Data = append(man.Data, PartFile{Name: dataPartName(sp.base, i), Size: size, Digest: d})
	}
	man.Digest = "sha256:" + hex.EncodeToString(whole.Sum(nil))
	return man, nil
}

// addParity writes the Reed–Solomon parity parts (if any were asked for)
// and records them in the manifest.
func (w *Writer) addParity(man *Parts, set *partSet, sp splitPaths) error {
	m, n, ps := w.opts.parity, len(set.files), w.opts.partSize
	if m == 0 {
		return nil
	}
	enc, err := newParityCoder(n, m)
	if err != nil {
		return fmt.Errorf("%w: parity: %v", ErrInvalidOption, err)
	}
	data := make([]io.Reader, n)
	for i, f := range set.files {
		data[i] = zeroPadded(io.NewSectionReader(f, 0, man.Data[i].Size), man.Data[i].Size, ps)
	}
	var parity []*os.File
	defer func() {
		for _, f := range parity {
			f.Close()
		}
	}()
	outs := make([]io.Writer, m)
	for i := range m {
		f, err := os.Create(sp.partial(parityPartName(sp.base, i)))
		if err != nil {
			return fmt.Errorf("creating parity part: %w", err)
		}
		parity = append(parity, f)
		outs[i] = f
	}
	if err := enc.Encode(data, outs); err != nil {
		return fmt.Errorf("computing parity for %s: %w", w.path, err)
	}
	man.Parity = &Parity{Algorithm: ParityReedSolomon}
	for i, f := range parity {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("syncing parity part %s: %w", f.Name(), err)
		}
		d, size, err := hashFile(f, nil)
		if err != nil {
			return fmt.Errorf("hashing parity part %s: %w", f.Name(), err)
		}
		man.Parity.Parts = append(man.Parity.Parts, PartFile{Name: parityPartName(sp.base, i), Size: size, Digest: d})
	}
	return nil
}

// placeParts renames the finished parts into place. Stale parts of an
// earlier, larger export and a plain tar at the bundle path (which readers
// would prefer) go first, the parts manifest last.
func (w *Writer) placeParts(sp splitPaths, n int) error {
	for i := n; i < MaxDataParts; i++ {
		if os.Remove(filepath.Join(sp.dir, dataPartName(sp.base, i))) != nil {
			break
		}
	}
	for i := w.opts.parity; i < MaxParityParts; i++ {
		if os.Remove(filepath.Join(sp.dir, parityPartName(sp.base, i))) != nil {
			break
		}
	}
	if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the plain bundle %s that the parts replace: %w", w.path, err)
	}
	for i := range n {
		if err := os.Rename(sp.partial(dataPartName(sp.base, i)), filepath.Join(sp.dir, dataPartName(sp.base, i))); err != nil {
			return fmt.Errorf("renaming part into place: %w", err)
		}
	}
	for i := range w.opts.parity {
		if err := os.Rename(sp.partial(parityPartName(sp.base, i)), filepath.Join(sp.dir, parityPartName(sp.base, i))); err != nil {
			return fmt.Errorf("renaming parity part into place: %w", err)
		}
	}
	if err := os.Rename(sp.partial(sp.base+".parts.json"), PartsPath(w.path)); err != nil {
		return fmt.Errorf("renaming parts manifest into place: %w", err)
	}
	return nil
}

// sectionHas re-checks a blob an interrupted run wrote: its bytes at its
// offset must hash to its digest.
func sectionHas(set *partSet, e *entry) bool {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(set, e.dataOff, e.size)); err != nil {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == e.desc.Digest.Hex
}
