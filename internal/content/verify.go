// Package content checks content as it streams: one reader that counts and
// hashes what passes through it and fails when the content is not exactly
// the size and sha256 digest its descriptor promised (after oras-go's
// content.NewVerifyReader). The bundle reader, the bundle verification, the
// registry client's uploads and the import's hashing of what it pushes all
// use it.
//
// It is a leaf: it imports nothing of this module.
package content

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Default errors a VerifyReader's failures wrap; see VerifyReader.Wrap.
var (
	ErrSizeMismatch   = errors.New("size mismatch")
	ErrDigestMismatch = errors.New("digest mismatch")
)

// VerifyReader reads from an underlying reader and checks, as the content
// streams, that it is exactly the declared size and hashes to the declared
// sha256 digest. It never reads more than one byte past the declared size.
// A failure replaces the io.EOF that would end the stream and is returned
// by every later Read.
//
// Read is not safe for concurrent use; Err may be called while another
// goroutine reads (an HTTP transport may still be reading a request body
// when the caller looks at the outcome).
type VerifyReader struct {
	r       io.Reader
	what    string
	h       hash.Hash
	want    v1.Hash
	size    int64
	n       int64
	sizeErr error
	hashErr error
	done    func(error)

	mu  sync.Mutex
	err error
}

// NewVerifyReader checks r against want and size; what names the content in
// errors ("blob sha256:…"). want must be a sha256 digest.
func NewVerifyReader(r io.Reader, what string, want v1.Hash, size int64) *VerifyReader {
	return &VerifyReader{r: r, what: what, h: sha256.New(), want: want, size: size,
		sizeErr: ErrSizeMismatch, hashErr: ErrDigestMismatch}
}

// Wrap sets the errors that size and digest failures wrap (defaults
// ErrSizeMismatch, ErrDigestMismatch), so that each caller reports them in
// its own vocabulary. It returns v.
func (v *VerifyReader) Wrap(sizeErr, digestErr error) *VerifyReader {
	v.sizeErr, v.hashErr = sizeErr, digestErr
	return v
}

// OnDone sets a function called once, when the stream has been read to its
// end (nil: verified) or has failed verification. It returns v.
func (v *VerifyReader) OnDone(f func(error)) *VerifyReader {
	v.done = f
	return v
}

// Err returns the verification failure seen so far (nil before the end of a
// good stream). It is nil-safe.
func (v *VerifyReader) Err() error {
	if v == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.err
}

func (v *VerifyReader) fail(err error) error {
	v.mu.Lock()
	v.err = err
	v.mu.Unlock()
	v.finish(err)
	return err
}

func (v *VerifyReader) finish(err error) {
	if v.done != nil {
		f := v.done
		v.done = nil
		f(err)
	}
}

func (v *VerifyReader) Read(p []byte) (int, error) {
	if err := v.Err(); err != nil {
		return 0, err
	}
	if rem := v.size - v.n + 1; int64(len(p)) > rem {
		p = p[:rem] // read at most one byte past the declared size
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.h.Write(p[:n])
	if v.n > v.size {
		return 0, v.fail(fmt.Errorf("%w: %s: more than the declared %d bytes", v.sizeErr, v.what, v.size))
	}
	if errors.Is(err, io.EOF) {
		if v.n != v.size {
			return n, v.fail(fmt.Errorf("%w: %s: read %d bytes, want %d", v.sizeErr, v.what, v.n, v.size))
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			return n, v.fail(fmt.Errorf("%w: %s: content hashes to sha256:%s", v.hashErr, v.what, got))
		}
		v.finish(nil)
	}
	return n, err
}
