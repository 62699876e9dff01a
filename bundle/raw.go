package bundle

import (
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// UnsafeRawBlob streams a blob's bytes as the archive holds them, WITHOUT
// checking size or digest. It exists for one caller: an import that has
// already verified every blob (VerifyBlobs) and pushes through a registry
// client that hashes what it uploads, so each pushed byte is re-checked
// once instead of twice. Anything else must use Blob.
func (r *Reader) UnsafeRawBlob(h v1.Hash) (io.ReadCloser, error) {
	s, ok := r.blobs[h]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", h, ErrNotFound)
	}
	return io.NopCloser(io.NewSectionReader(r.f, s.off, s.size)), nil
}
