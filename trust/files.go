package trust

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MemFiles is a Files held in memory, by repository path. It is safe for
// concurrent reads.
type MemFiles map[string][]byte

var _ Files = MemFiles(nil)

// ReadFile implements Files.
func (m MemFiles) ReadFile(p string, max int64) ([]byte, error) {
	data, ok := m[p]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, p, len(data), max)
	}
	return data, nil
}

// MemFiles returns the captured files as MemFiles, ready for Store.Verify.
func (c *Captured) MemFiles() MemFiles {
	m := MemFiles{}
	for _, f := range c.Files {
		m[f.Path] = f.Data
	}
	return m
}

// DirFiles is a Files over a directory laid out as a TUF repository mirror
// (metadata/, targets/). Paths are checked with fs.ValidPath and files are
// read through os.Root, so nothing outside dir is read.
func DirFiles(dir string) Files { return dirFiles(dir) }

type dirFiles string

// ReadFile implements Files.
func (d dirFiles) ReadFile(p string, max int64) ([]byte, error) {
	if !fs.ValidPath(p) {
		return nil, fmt.Errorf("%w: path %q", ErrInvalid, p)
	}
	r, err := os.OpenRoot(string(d))
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", d, err)
	}
	defer r.Close()
	f, err := r.Open(filepath.FromSlash(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s in %s", ErrNotFound, p, d)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s in %s: %w", p, d, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s in %s: %w", p, d, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %s in %s is larger than %d bytes", ErrTooLarge, p, d, max)
	}
	return data, nil
}
