package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FetchBlob opens a blob of repo for streaming. The returned reader checks
// size and digest as it is read: the Read that reaches the end returns an
// error wrapping ErrDigestMismatch when the content is wrong. A stream that
// breaks is resumed under the Client's retry policy (see FetchBlobUnsafeUnhashed);
// the check covers the whole stream as delivered, end to end. Nothing is
// buffered. The caller closes it.
func (c *Client) FetchBlob(ctx context.Context, repo name.Repository, desc v1.Descriptor) (io.ReadCloser, error) {
	br, err := c.openBlob(ctx, repo, desc)
	if err != nil {
		return nil, err
	}
	vr, err := newVerifyReader(br, desc, br.what)
	if err != nil {
		br.Close()
		return nil, err
	}
	return vr, nil
}

// FetchBlobUnsafeUnhashed is FetchBlob without the digest check: only a
// Content-Length that differs from desc.Size is refused. It is for a
// caller that itself checks the size and sha256 of every byte as it reads
// them (the bundle writer does, and refuses the blob otherwise), so that
// each blob is hashed once, not twice. Anyone else wants FetchBlob.
//
// The stream resumes where it broke (a dropped connection, a reset, a body
// cut short), under the Client's retry policy, so the caller need not retry:
// with a Range request when the registry honours it, else by fetching
// the blob again and skipping the N bytes already delivered. Every failure,
// opening or streaming, spends one attempt of the same budget.
func (c *Client) FetchBlobUnsafeUnhashed(ctx context.Context, repo name.Repository, desc v1.Descriptor) (io.ReadCloser, error) {
	return c.openBlob(ctx, repo, desc)
}

func (c *Client) openBlob(ctx context.Context, repo name.Repository, desc v1.Descriptor) (*blobReader, error) {
	if c.err != nil {
		return nil, c.err
	}
	r := &blobReader{c: c, ctx: ctx, repo: repo, desc: desc, what: fmt.Sprintf("blob %s@%s", repo, desc.Digest)}
	if desc.Size < 0 {
		return nil, fmt.Errorf("%w: %s: negative size %d", ErrInvalidOption, r.what, desc.Size)
	}
	if err := r.connect(nil); err != nil {
		return nil, err
	}
	return r, nil
}

// blobReader streams a blob and resumes it where it broke. It keeps the
// context of the FetchBlob call that made it, as an http.Response body
// does: it is that call's stream. Not safe for concurrent use.
type blobReader struct {
	c       *Client
	ctx     context.Context
	repo    name.Repository
	desc    v1.Descriptor
	what    string
	body    io.ReadCloser // nil between a break and the resumption
	off     int64         // bytes delivered to the caller
	tries   int           // attempts made, opening or streaming
	broken  error         // why body was dropped; the next Read resumes
	noRange bool          // the registry refused a Range request
	err     error         // final: every later Read returns it
}

// connect opens the stream at r.off, trying again under the retry policy;
// last is the failure that made it necessary (nil for the first opening).
func (r *blobReader) connect(last error) error {
	for {
		if last != nil {
			if err := r.c.policy.again(r.ctx, "fetching "+r.what, r.tries, last); err != nil {
				return fmt.Errorf("fetching %s: %w", r.what, err)
			}
		}
		r.tries++
		if last = r.open(); last == nil {
			return nil
		}
	}
}

// open sends one GET for the bytes from r.off on. Hand-written: ggcr's
// remote.Layer neither resumes a broken stream nor lets the caller hash once.
func (r *blobReader) open() error {
	// The bytes as stored: no transparent decompression by net/http.
	h := http.Header{"Accept-Encoding": {"identity"}}
	ranged := r.off > 0 && !r.noRange
	if ranged {
		// The closed form: some registries (ggcr's) refuse "bytes=N-".
		h.Set("Range", fmt.Sprintf("bytes=%d-%d", r.off, r.desc.Size-1))
	}
	resp, err := r.c.send(r.ctx, request{method: http.MethodGet, repo: r.repo, url: r.c.url(r.repo, "blobs/"+r.desc.Digest.String(), nil),
		header: h, ok: []int{http.StatusOK, http.StatusPartialContent, http.StatusRequestedRangeNotSatisfiable}})
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		resp.Body.Close()
		if !ranged {
			return &StatusError{Method: http.MethodGet, URL: redactURL(resp.Request.URL.String()), StatusCode: resp.StatusCode}
		}
		r.noRange = true // fetch it all again and skip
		return r.open()
	}
	want, skip := r.desc.Size, r.off // a 200 sends it all: skip what was delivered
	if resp.StatusCode == http.StatusPartialContent {
		cr := resp.Header.Get("Content-Range")
		if start, ok := rangeStart(cr); !ranged || !ok || start != r.off {
			resp.Body.Close()
			return fmt.Errorf("%w: %s: asked for the bytes from %d, the registry sent Content-Range %q", ErrRegistry, r.what, r.off, cr)
		}
		want, skip = r.desc.Size-r.off, 0
	}
	if resp.ContentLength >= 0 && resp.ContentLength != want {
		resp.Body.Close()
		return fmt.Errorf("%w: %s: registry sends %d bytes, descriptor says %d", ErrDigestMismatch, r.what, resp.ContentLength+r.desc.Size-want, r.desc.Size)
	}
	if skip > 0 {
		r.c.log.Debug("registry ignored Range: skipping what was delivered", "blob", r.what, "bytes", skip)
		if n, err := io.CopyN(io.Discard, resp.Body, skip); err != nil {
			resp.Body.Close()
			return &netError{op: fmt.Sprintf("skipping to byte %d of %s (at %d)", skip, r.what, n), err: unexpectedEOF(err)}
		}
	}
	r.body = resp.Body
	return nil
}

func (r *blobReader) Read(p []byte) (int, error) {
	for {
		if r.err != nil {
			return 0, r.err
		}
		if r.body == nil {
			if r.err = r.connect(r.broken); r.err != nil {
				return 0, r.err
			}
			r.broken = nil
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil {
			return n, nil
		}
		if r.off >= r.desc.Size {
			// All there (a break after the last byte does not matter); a
			// stream longer than the descriptor is the checker's to refuse.
			return n, io.EOF
		}
		// Broken, or ended short of the size: resume on the next Read.
		r.body.Close()
		r.body = nil
		r.broken = &netError{op: fmt.Sprintf("reading %s at byte %d", r.what, r.off), err: unexpectedEOF(err)}
		r.c.log.Debug("blob stream broke: resuming", "blob", r.what, "at", r.off, "error", err)
		if n > 0 {
			return n, nil
		}
	}
}

func (r *blobReader) Close() error {
	if r.err == nil {
		r.err = fmt.Errorf("reading %s: %w", r.what, os.ErrClosed)
	}
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// rangeStart returns the first byte of a Content-Range "bytes first-last/size".
func rangeStart(cr string) (int64, bool) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(cr), "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	return n, err == nil
}
