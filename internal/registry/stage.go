package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
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
	present  bool   // the target had the blob before: nothing was uploaded
	// open, for a blob checked but not staged (CheckBlob), reads it again
	// for Commit's whole upload.
	open func() (io.ReadCloser, error)
	done bool
}

// Present reports whether the target already had the blob (nothing was
// uploaded and Commit has nothing to do).
func (s *Staged) Present() bool { return s.present }

// StageBlob streams a blob into a new upload session of repo: HEAD first
// (a blob already present is not uploaded again), then POST and one
// streaming PATCH. Transient failures are retried with a new session,
// calling open again. The content is not checked here: the registry checks
// it against the digest at Commit (and import hashes what it sends).
func (c *Client) StageBlob(ctx context.Context, repo name.Repository, desc v1.Descriptor, open func() (io.ReadCloser, error)) (*Staged, error) {
	return c.upload(ctx, repo, desc, open, uploadMode{})
}

// CheckBlob is StageBlob for a small blob: it only asks whether the
// target has it (HEAD). A blob the target lacks gets no session now:
// Commit uploads it whole, a POST and a PUT ?digest= carrying the content
// (checked against desc as it streams), calling open then. Two requests
// where staging makes three, and no partial upload the registry must hold:
// a registry's cost per blob is in its requests, not in a small blob's
// bytes, which cost nothing to send once every check passed.
func (c *Client) CheckBlob(ctx context.Context, repo name.Repository, desc v1.Descriptor, open func() (io.ReadCloser, error)) (*Staged, error) {
	if c.err != nil {
		return nil, c.err
	}
	what := fmt.Sprintf("blob %s@%s", repo, desc.Digest)
	if !validBlob(desc) || open == nil {
		return nil, fmt.Errorf("%w: checking %s: bad descriptor (size %d) or nil open", ErrInvalidOption, what, desc.Size)
	}
	exists, err := c.hasBlob(ctx, repo, desc, pushScope(repo))
	if err != nil {
		return nil, fmt.Errorf("checking %s: %w", what, err)
	}
	s := &Staged{c: c, repo: repo, desc: desc, present: exists}
	if !exists {
		s.open = open
	}
	return s, nil
}

// PushBlob uploads a blob to repo unless it is already there (HEAD first;
// present reports that case: nothing was mounted or uploaded).
// It tries a cross-repository mount from each mountFrom repository on the
// same registry, then a streamed monolithic upload, committed in the same
// request. The content is checked against desc as it streams. Transient
// failures are retried by calling open again; open's own errors and wrong
// content are not retried.
func (c *Client) PushBlob(ctx context.Context, repo name.Repository, desc v1.Descriptor, open func() (io.ReadCloser, error), mountFrom ...name.Repository) (present bool, err error) {
	s, err := c.upload(ctx, repo, desc, open, uploadMode{commit: true, mountFrom: mountFrom})
	return err == nil && s.present, err
}

// uploadMode is what upload does beyond staging.
type uploadMode struct {
	commit    bool              // PUT the content with its digest: committed at once
	absent    bool              // the caller asked HEAD already: the target lacks the blob
	mountFrom []name.Repository // try a mount from each first
}

func validBlob(desc v1.Descriptor) bool {
	return desc.Digest.Algorithm == "sha256" && len(desc.Digest.Hex) == 64 && desc.Size >= 0
}

// upload is the one upload path, after the distribution spec's "Pushing
// blobs": HEAD (present: done; skipped when m.absent), a mount from each
// of m.mountFrom (201: done), else the session a POST (or a refused mount)
// opened, into which the content streams: a PUT ?digest= that commits it
// at once (m.commit), or a PATCH that leaves it staged for Staged.Commit.
// A session whose content could not be sent is discarded (DELETE) before
// the next attempt. It is hand-written because ggcr's remote cannot hold a
// session open until every check passed, nor report a staged blob.
func (c *Client) upload(ctx context.Context, repo name.Repository, desc v1.Descriptor, open func() (io.ReadCloser, error), m uploadMode) (*Staged, error) {
	if c.err != nil {
		return nil, c.err
	}
	commit := m.commit
	verb := "staging"
	if commit {
		verb = "pushing"
	}
	what := fmt.Sprintf("blob %s@%s", repo, desc.Digest)
	if !validBlob(desc) || open == nil {
		return nil, fmt.Errorf("%w: %s %s: bad descriptor (size %d) or nil open", ErrInvalidOption, verb, what, desc.Size)
	}
	scopes := pushScope(repo)
	var mounts []name.Repository
	for _, from := range m.mountFrom {
		if from.RegistryStr() == repo.RegistryStr() && from.RepositoryStr() != repo.RepositoryStr() {
			mounts = append(mounts, from)
			scopes = append(scopes, from.Scope(transport.PullScope))
		}
	}
	s := &Staged{c: c, repo: repo, desc: desc}
	if !m.absent {
		exists, err := c.hasBlob(ctx, repo, desc, scopes)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", verb, what, err)
		}
		if exists {
			c.log.LogAttrs(ctx, slog.LevelDebug, "blob already present", slog.String("blob", what))
			s.present = true
			return s, nil
		}
	}
	err := c.retry(ctx, "uploading "+what, func() error {
		location, err := c.startUpload(ctx, repo, desc, scopes, mounts, what)
		if err != nil || location == "" {
			return err // failed, or mounted
		}
		req := request{method: http.MethodPatch, repo: repo, scopes: scopes, url: location,
			contentType: "application/octet-stream", length: desc.Size, ok: []int{http.StatusAccepted, http.StatusNoContent}}
		if commit {
			req.method, req.url, req.ok = http.MethodPut, withDigest(location, desc.Digest), []int{http.StatusCreated, http.StatusAccepted, http.StatusNoContent}
		}
		var vr *verifyReader
		req.body = func() (io.ReadCloser, error) {
			rc, err := open()
			if err != nil {
				return nil, &openError{err}
			}
			if !commit {
				return rc, nil
			}
			if vr, err = newVerifyReader(rc, desc, what); err != nil {
				rc.Close()
				return nil, err
			}
			return vr, nil
		}
		resp, err := c.send(ctx, req)
		if verr := vr.failed(); verr != nil || err != nil {
			if resp != nil {
				resp.Body.Close()
			}
			// Discard the session rather than leave it to expire (the
			// caller may be cancelling because the bundle failed).
			c.deleteSession(context.WithoutCancel(ctx), repo, location)
			if verr != nil {
				return verr // the source is wrong: not retried
			}
			return err
		}
		defer resp.Body.Close()
		if !commit {
			s.location, err = resolveLocation(resp)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", verb, what, err)
	}
	return s, nil
}

// startUpload tries a cross-repository mount from each of mounts, then
// opens an upload session. It returns the session's URL, or "" when a
// mount made the blob part of repo.
func (c *Client) startUpload(ctx context.Context, repo name.Repository, desc v1.Descriptor, scopes []string, mounts []name.Repository, what string) (string, error) {
	for _, from := range mounts {
		q := url.Values{"mount": {desc.Digest.String()}, "from": {from.RepositoryStr()}}
		resp, err := c.send(ctx, request{method: http.MethodPost, repo: repo, scopes: scopes, url: c.url(repo, "blobs/uploads/", q), ok: []int{http.StatusCreated, http.StatusAccepted}})
		if err != nil {
			if transient(err) {
				return "", err
			}
			c.log.LogAttrs(ctx, slog.LevelDebug, "mount refused", slog.String("blob", what), slog.String("from", from.String()), slog.String("error", err.Error()))
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			c.log.LogAttrs(ctx, slog.LevelDebug, "blob mounted", slog.String("blob", what), slog.String("from", from.String()))
			return "", nil
		}
		return resolveLocation(resp) // mount refused, session opened
	}
	resp, err := c.send(ctx, request{method: http.MethodPost, repo: repo, scopes: scopes, url: c.url(repo, "blobs/uploads/", nil), ok: []int{http.StatusAccepted}})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return resolveLocation(resp)
}

// withDigest adds ?digest= to an upload URL (which may carry a query of its own).
func withDigest(location string, h v1.Hash) string {
	u, err := url.Parse(location) // resolveLocation parsed it already
	if err != nil {
		return location
	}
	q := u.Query()
	q.Set("digest", h.String())
	u.RawQuery = q.Encode()
	return u.String()
}

// Commit finishes the upload: the registry checks the content against the
// digest and makes the blob part of the repository. A blob CheckBlob found
// missing is uploaded whole now.
func (s *Staged) Commit(ctx context.Context) error {
	if s.done {
		return nil
	}
	if s.open != nil {
		if _, err := s.c.upload(ctx, s.repo, s.desc, s.open, uploadMode{commit: true, absent: true}); err != nil {
			return err
		}
		s.done = true
		return nil
	}
	if s.location == "" {
		return nil
	}
	what := fmt.Sprintf("blob %s@%s", s.repo, s.desc.Digest)
	u := withDigest(s.location, s.desc.Digest)
	err := s.c.retry(ctx, "committing "+what, func() error {
		resp, err := s.c.send(ctx, request{method: http.MethodPut, repo: s.repo, scopes: pushScope(s.repo), url: u,
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
		s.done = true // a checked blob has no session: nothing to discard
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
