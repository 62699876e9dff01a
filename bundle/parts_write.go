package bundle

import (
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

// commitSplit writes the laid-out archive as parts (see WithSplit).
func (w *Writer) commitSplit(ctx context.Context, entries []*entry, total int64, fetch Fetcher) error {
	ps := w.opts.partSize
	n := int((total + ps - 1) / ps)
	if n > MaxDataParts {
		return fmt.Errorf("%w: %d bytes in parts of %d bytes make %d parts, limit %d", ErrInvalidOption, total, ps, n, MaxDataParts)
	}
	if w.opts.parity > 0 && n+w.opts.parity > maxShards {
		return fmt.Errorf("%w: %d data and %d parity parts, Reed–Solomon allows %d in all", ErrInvalidOption, n, w.opts.parity, maxShards)
	}
	dir, base := filepath.Dir(w.path), filepath.Base(w.path)
	partial := func(name string) string { return filepath.Join(dir, "."+name+".partial") }
	journal := &resumeJournal{path: filepath.Join(dir, "."+base+".resume.json"), st: resumeState{Key: layoutKey(entries, total, ps)}}
	kept := loadResume(journal.path, journal.st.Key)

	set := &partSet{partSize: ps, size: total, name: w.path, files: make([]*os.File, n)}
	defer set.Close()
	for i := range n {
		size := ps
		if i == n-1 {
			size = total - int64(i)*ps
		}
		name := partial(dataPartName(base, i))
		flag := os.O_RDWR | os.O_CREATE
		if kept == nil {
			flag |= os.O_TRUNC
		}
		f, err := os.OpenFile(name, flag, 0o644)
		if err != nil {
			return fmt.Errorf("creating part %s: %w", name, err)
		}
		set.files[i] = f
		if fi, err := f.Stat(); err == nil && fi.Size() != size {
			kept = nil // a part of another size: nothing written before can be trusted to be in place
		}
		if err := f.Truncate(size); err != nil {
			return fmt.Errorf("sizing part %s: %w", name, err)
		}
	}
	var streams []*entry
	for _, e := range entries {
		if _, err := set.WriteAt(e.header, e.offset); err != nil {
			return fmt.Errorf("writing bundle parts of %s: %w", w.path, err)
		}
		switch {
		case e.desc == nil:
			if len(e.data) > 0 {
				if _, err := set.WriteAt(e.data, e.dataOff); err != nil {
					return fmt.Errorf("writing bundle parts of %s: %w", w.path, err)
				}
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
		return fmt.Errorf("writing bundle parts of %s: %w", w.path, err)
	}
	if err := journal.save(); err != nil {
		return fmt.Errorf("writing resume journal %s: %w", journal.path, err)
	}
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

	man := &Parts{SchemaVersion: PartsSchemaVersion, MediaType: MediaTypeParts, PartSize: ps, Size: total}
	whole := sha256.New()
	for i, f := range set.files {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("syncing part %s: %w", f.Name(), err)
		}
		d, size, err := hashFile(f, whole)
		if err != nil {
			return fmt.Errorf("hashing part %s: %w", f.Name(), err)
		}
		man.Data = append(man.Data, PartFile{Name: dataPartName(base, i), Size: size, Digest: d})
	}
	man.Digest = "sha256:" + hex.EncodeToString(whole.Sum(nil))
	var parity []*os.File
	defer func() {
		for _, f := range parity {
			f.Close()
		}
	}()
	if m := w.opts.parity; m > 0 {
		enc, err := newParityCoder(n, m)
		if err != nil {
			return fmt.Errorf("%w: parity: %v", ErrInvalidOption, err)
		}
		data := make([]io.Reader, n)
		for i, f := range set.files {
			data[i] = zeroPadded(io.NewSectionReader(f, 0, man.Data[i].Size), man.Data[i].Size, ps)
		}
		outs := make([]io.Writer, m)
		for i := range m {
			f, err := os.Create(partial(parityPartName(base, i)))
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
			man.Parity.Parts = append(man.Parity.Parts, PartFile{Name: parityPartName(base, i), Size: size, Digest: d})
		}
	}
	if w.opts.partsSigner != nil {
		d, err := man.SignedDigest()
		if err != nil {
			return err
		}
		sig, err := w.opts.partsSigner(d)
		if err != nil {
			return fmt.Errorf("signing the parts manifest of %s: %w", w.path, err)
		}
		man.Signature = sig
	}
	if err := man.validate(base); err != nil {
		return fmt.Errorf("parts manifest of %s: %w", w.path, err)
	}
	raw, err := marshalJSON(man)
	if err != nil {
		return fmt.Errorf("encoding parts manifest: %w", err)
	}
	mtmp := partial(base + ".parts.json")
	if err := os.WriteFile(mtmp, raw, 0o644); err != nil {
		return fmt.Errorf("writing parts manifest: %w", err)
	}
	// Into place: stale parts of an earlier, larger export and a plain tar
	// at path (which readers would prefer) go first, the manifest last.
	for i := n; i < MaxDataParts; i++ {
		if os.Remove(filepath.Join(dir, dataPartName(base, i))) != nil {
			break
		}
	}
	for i := w.opts.parity; i < MaxParityParts; i++ {
		if os.Remove(filepath.Join(dir, parityPartName(base, i))) != nil {
			break
		}
	}
	if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the plain bundle %s that the parts replace: %w", w.path, err)
	}
	for i := range n {
		if err := os.Rename(partial(dataPartName(base, i)), filepath.Join(dir, dataPartName(base, i))); err != nil {
			return fmt.Errorf("renaming part into place: %w", err)
		}
	}
	for i := range w.opts.parity {
		if err := os.Rename(partial(parityPartName(base, i)), filepath.Join(dir, parityPartName(base, i))); err != nil {
			return fmt.Errorf("renaming parity part into place: %w", err)
		}
	}
	if err := os.Rename(mtmp, PartsPath(w.path)); err != nil {
		return fmt.Errorf("renaming parts manifest into place: %w", err)
	}
	_ = os.Remove(journal.path)
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	w.opts.logger.Debug("split bundle written", "path", w.path, "bytes", total, "parts", n, "parity", w.opts.parity, "kept", len(journal.st.Done)-0)
	return w.removeTemp()
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
