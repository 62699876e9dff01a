package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Staged is a blob streamed into an upload session but not committed. The
// registry holds the bytes, but no repository has the blob until Commit
// (PUT ?digest=, where the registry checks the digest, as the distribution
// spec requires); Cancel discards them. Import stages blobs while the
// bundle is still being verified and commits them only once every check
// passed, so a bundle that fails leaves nothing behind.
//
// A Staged is not safe for concurrent use.
type Staged struct {
	c        *Client
	repo     name.Repository
	desc     v1.Descriptor
	location string // the session after the data; "" when the blob was already present
	done     bool
}

// Present reports whether the target already had the blob (nothing was
// uploaded and Commit has nothing to do).
func (s *Staged) Present() bool { return s.location == "" }

// StageBlob streams a blob into a new upload session of repo: HEAD first
// (a blob already present is not uploaded again), then POST and one
// streaming PATCH. Transient failures are retried with a new session,
// calling open again. The content is not checked here: the registry checks
// it against the digest at Commit.
func (c *Client) StageBlob(ctx context.Context, repo name.Repository, desc v1.Descriptor, open func() (io.ReadCloser, error)) (*Staged, error) {
	if c.err != nil {
		return nil, c.err
	}
	what := fmt.Sprintf("blob %s@%s", repo, desc.Digest)
	if desc.Digest.Algorithm != "sha256" || len(desc.Digest.Hex) != 64 || desc.Size < 0 || open == nil {
		return nil, fmt.Errorf("%w: staging %s: bad descriptor or nil open", ErrInvalidOption, what)
	}
	scopes := pushScope(repo)
	s := &Staged{c: c, repo: repo, desc: desc}
	exists, err := c.hasBlob(ctx, repo, desc, scopes)
	if err != nil {
		return nil, fmt.Errorf("staging %s: %w", what, err)
	}
	if exists {
		return s, nil
	}
	err = c.retry(ctx, "uploading "+what, func() error {
		resp, err := c.send(ctx, request{method: http.MethodPost, repo: repo, scopes: scopes, url: c.url(repo, "blobs/uploads/", nil), ok: []int{http.StatusAccepted}})
		if err != nil {
			return err
		}
		resp.Body.Close()
		location, err := resolveLocation(resp)
		if err != nil {
			return err
		}
		resp, err = c.send(ctx, request{
			method: http.MethodPatch, repo: repo, scopes: scopes, url: location,
			contentType: "application/octet-stream", length: desc.Size,
			body: func() (io.ReadCloser, error) {
				rc, err := open()
				if err != nil {
					return nil, &openError{err}
				}
				return rc, nil
			},
			ok: []int{http.StatusAccepted, http.StatusNoContent},
		})
		if err != nil {
			// Discard the session rather than leave it to expire (the
			// caller may be cancelling because the bundle failed).
			c.deleteSession(context.WithoutCancel(ctx), repo, location)
			return err
		}
		resp.Body.Close()
		if s.location, err = resolveLocation(resp); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("staging %s: %w", what, err)
	}
	return s, nil
}

// Commit finishes the upload: the registry checks the content against the
// digest and makes the blob part of the repository.
func (s *Staged) Commit(ctx context.Context) error {
	if s.location == "" || s.done {
		return nil
	}
	what := fmt.Sprintf("blob %s@%s", s.repo, s.desc.Digest)
	u, err := url.Parse(s.location)
	if err != nil {
		return fmt.Errorf("%w: upload location %q: %w", ErrRegistry, s.location, err)
	}
	q := u.Query()
	q.Set("digest", s.desc.Digest.String())
	u.RawQuery = q.Encode()
	err = s.c.retry(ctx, "committing "+what, func() error {
		resp, err := s.c.send(ctx, request{method: http.MethodPut, repo: s.repo, scopes: pushScope(s.repo), url: u.String(),
			contentType: "application/octet-stream", ok: []int{http.StatusCreated, http.StatusAccepted, http.StatusNoContent}})
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	if err != nil {
		return fmt.Errorf("committing %s: %w", what, err)
	}
	s.done = true
	return nil
}

// Cancel discards an uncommitted upload. It is best effort: a registry
// that cannot cancel sessions (ggcr's in-memory one answers 400) expires
// abandoned ones; either way the blob never becomes part of the repository.
func (s *Staged) Cancel(ctx context.Context) error {
	if s.location == "" || s.done {
		return nil
	}
	s.done = true
	if err := s.c.deleteSession(ctx, s.repo, s.location); err != nil {
		return fmt.Errorf("cancelling the upload of blob %s@%s: %w", s.repo, s.desc.Digest, err)
	}
	return nil
}

// deleteSession discards an upload session. Registries that cannot (ggcr's
// in-memory one answers 400) expire abandoned sessions instead.
func (c *Client) deleteSession(ctx context.Context, repo name.Repository, location string) error {
	resp, err := c.send(ctx, request{method: http.MethodDelete, repo: repo, scopes: pushScope(repo), url: location,
		ok: []int{http.StatusNoContent, http.StatusAccepted, http.StatusOK, http.StatusNotFound, http.StatusBadRequest, http.StatusMethodNotAllowed}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
