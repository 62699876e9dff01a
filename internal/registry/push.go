package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Resolve HEADs ref and returns its descriptor. A registry that does not
// announce the digest on HEAD is asked with GET (and the digest computed).
// 404 wraps ErrNotFound.
func (c *Client) Resolve(ctx context.Context, ref name.Reference) (v1.Descriptor, error) {
	repo := ref.Context()
	var desc v1.Descriptor
	var want *v1.Hash
	if d, ok := ref.(name.Digest); ok {
		h, err := v1.NewHash(d.DigestStr())
		if err != nil {
			return desc, fmt.Errorf("%w: %s: %w", ErrInvalidOption, ref, err)
		}
		want = &h
	}
	var fallback bool
	err := c.retry(ctx, "resolving "+ref.String(), func() error {
		resp, err := c.send(ctx, request{method: http.MethodHead, repo: repo, url: c.url(repo, "manifests/"+ref.Identifier(), nil), accept: manifestAccept, ok: []int{http.StatusOK}})
		if err != nil {
			return err
		}
		resp.Body.Close()
		h, err := v1.NewHash(resp.Header.Get("Docker-Content-Digest"))
		if err != nil || resp.ContentLength < 0 || (want != nil && h != *want) {
			fallback = true
			return nil
		}
		desc = v1.Descriptor{MediaType: types.MediaType(mediaTypeOnly(resp.Header.Get("Content-Type"))), Size: resp.ContentLength, Digest: h}
		return nil
	})
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("resolving %s: %w", ref, err)
	}
	if fallback {
		node, _, err := c.fetchManifest(ctx, repo, ref.Identifier(), want)
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("resolving %s: %w", ref, err)
		}
		return v1.Descriptor{MediaType: node.MediaType, Size: node.Size, Digest: node.Digest, ArtifactType: node.ArtifactType}, nil
	}
	return desc, nil
}

// PushManifest uploads raw as a manifest of mediaType to repo, under tag, or by
// digest when tag is "". It returns the digest. It does not maintain referrer
// fallback tags: see AddFallbackReferrer. Pushing a manifest whose blobs or
// children are missing fails with the registry's answer (push subjects and
// blobs first).
func (c *Client) PushManifest(ctx context.Context, repo name.Repository, mediaType types.MediaType, raw []byte, tag string) (v1.Hash, error) {
	if c.err != nil {
		return v1.Hash{}, c.err
	}
	h := sha256Hash(raw)
	if len(raw) > MaxManifestSize {
		return h, fmt.Errorf("pushing manifest %s@%s: %w", repo, h, ErrManifestTooLarge)
	}
	if !mediaType.IsImage() && !mediaType.IsIndex() {
		return h, fmt.Errorf("%w: pushing manifest %s@%s: media type %q is not a manifest type", ErrInvalidOption, repo, h, mediaType)
	}
	id := h.String()
	if tag != "" {
		if _, err := name.NewTag(repo.String()+":"+tag, name.StrictValidation); err != nil {
			return h, fmt.Errorf("%w: pushing manifest %s@%s: tag %q: %w", ErrInvalidOption, repo, h, tag, err)
		}
		id = tag
	}
	what := fmt.Sprintf("manifest %s@%s", repo, h)
	if tag != "" {
		what = fmt.Sprintf("manifest %s:%s (%s)", repo, tag, h)
	}
	err := c.retry(ctx, "pushing "+what, func() error {
		resp, err := c.send(ctx, request{
			method: http.MethodPut, repo: repo, scopes: pushScope(repo), url: c.url(repo, "manifests/"+id, nil),
			contentType: string(mediaType), length: int64(len(raw)),
			body: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
			ok:   []int{http.StatusOK, http.StatusCreated, http.StatusAccepted},
		})
		if err != nil {
			return err
		}
		resp.Body.Close()
		if dcd := resp.Header.Get("Docker-Content-Digest"); dcd != "" {
			if got, err := v1.NewHash(dcd); err == nil && got.Algorithm == h.Algorithm && got != h {
				return fmt.Errorf("%w: registry stored %s as %s", ErrDigestMismatch, what, got)
			}
		}
		return nil
	})
	if err != nil {
		return h, fmt.Errorf("pushing %s: %w", what, err)
	}
	return h, nil
}

// PushBlob uploads a blob to repo unless it is already there (HEAD first).
// It tries a cross-repository mount from each mountFrom repository on the
// same registry, then a streamed monolithic upload. The content is checked
// against desc as it streams. Transient failures are retried by calling open
// again; open's own errors are not retried.
func (c *Client) PushBlob(ctx context.Context, repo name.Repository, desc v1.Descriptor, open func() (io.ReadCloser, error), mountFrom ...name.Repository) error {
	if c.err != nil {
		return c.err
	}
	what := fmt.Sprintf("blob %s@%s", repo, desc.Digest)
	if desc.Digest.Algorithm != "sha256" || len(desc.Digest.Hex) != 64 || desc.Size < 0 {
		return fmt.Errorf("%w: pushing %s: bad descriptor (size %d)", ErrInvalidOption, what, desc.Size)
	}
	if open == nil {
		return fmt.Errorf("%w: pushing %s: nil open", ErrInvalidOption, what)
	}
	scopes := pushScope(repo)
	var mounts []name.Repository
	for _, m := range mountFrom {
		if m.RegistryStr() == repo.RegistryStr() && m.RepositoryStr() != repo.RepositoryStr() {
			mounts = append(mounts, m)
			scopes = append(scopes, m.Scope("pull"))
		}
	}

	exists, err := c.hasBlob(ctx, repo, desc, scopes)
	if err != nil {
		return fmt.Errorf("pushing %s: %w", what, err)
	}
	if exists {
		c.log.LogAttrs(ctx, slog.LevelDebug, "blob already present", slog.String("blob", what))
		return nil
	}

	err = c.retry(ctx, "uploading "+what, func() error {
		location := ""
		for _, from := range mounts {
			q := url.Values{"mount": {desc.Digest.String()}, "from": {from.RepositoryStr()}}
			resp, err := c.send(ctx, request{method: http.MethodPost, repo: repo, scopes: scopes, url: c.url(repo, "blobs/uploads/", q), ok: []int{http.StatusCreated, http.StatusAccepted}})
			if err != nil {
				if transient(err) {
					return err
				}
				c.log.LogAttrs(ctx, slog.LevelDebug, "mount refused", slog.String("blob", what), slog.String("from", from.String()), slog.String("error", err.Error()))
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated {
				c.log.LogAttrs(ctx, slog.LevelDebug, "blob mounted", slog.String("blob", what), slog.String("from", from.String()))
				return nil
			}
			location, err = resolveLocation(resp)
			if err != nil {
				return err
			}
			break
		}
		if location == "" {
			resp, err := c.send(ctx, request{method: http.MethodPost, repo: repo, scopes: scopes, url: c.url(repo, "blobs/uploads/", nil), ok: []int{http.StatusAccepted}})
			if err != nil {
				return err
			}
			resp.Body.Close()
			if location, err = resolveLocation(resp); err != nil {
				return err
			}
		}
		u, err := url.Parse(location)
		if err != nil {
			return fmt.Errorf("%w: upload location %q: %w", ErrRegistry, location, err)
		}
		q := u.Query()
		q.Set("digest", desc.Digest.String())
		u.RawQuery = q.Encode()
		var vr *verifyReader
		resp, err := c.send(ctx, request{
			method: http.MethodPut, repo: repo, scopes: scopes, url: u.String(),
			contentType: "application/octet-stream", length: desc.Size,
			body: func() (io.ReadCloser, error) {
				rc, err := open()
				if err != nil {
					return nil, &openError{err}
				}
				vr, err = newVerifyReader(rc, desc, what)
				if err != nil {
					rc.Close()
					return nil, err
				}
				return vr, nil
			},
			ok: []int{http.StatusCreated, http.StatusAccepted, http.StatusNoContent},
		})
		if verr := vr.failed(); verr != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return verr // the source is wrong: not retried
		}
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	if err != nil {
		return fmt.Errorf("pushing %s: %w", what, err)
	}
	return nil
}

// HasBlob asks (HEAD, pull access only) whether repo has the blob. It
// writes nothing: a dry run uses it where an import would mount.
func (c *Client) HasBlob(ctx context.Context, repo name.Repository, desc v1.Descriptor) (bool, error) {
	return c.hasBlob(ctx, repo, desc, pullScope(repo))
}

// hasBlob asks (HEAD) whether repo already has the blob.
func (c *Client) hasBlob(ctx context.Context, repo name.Repository, desc v1.Descriptor, scopes []string) (bool, error) {
	exists := false
	err := c.retry(ctx, fmt.Sprintf("checking blob %s@%s", repo, desc.Digest), func() error {
		resp, err := c.send(ctx, request{method: http.MethodHead, repo: repo, scopes: scopes, url: c.url(repo, "blobs/"+desc.Digest.String(), nil), ok: []int{http.StatusOK, http.StatusNotFound}})
		if err != nil {
			return err
		}
		resp.Body.Close()
		exists = resp.StatusCode == http.StatusOK
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("checking presence: %w", err)
	}
	return exists, nil
}

// openError is a failure of the caller's open function.
type openError struct{ err error }

func (e *openError) Error() string { return "opening content: " + e.err.Error() }
func (e *openError) Unwrap() error { return e.err }

// resolveLocation returns the absolute upload URL of a 202 answer.
func resolveLocation(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", &StatusError{Method: resp.Request.Method, URL: redactURL(resp.Request.URL.String()), StatusCode: resp.StatusCode, Message: "no Location header in upload answer"}
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("%w: upload location %q: %w", ErrRegistry, loc, err)
	}
	return resp.Request.URL.ResolveReference(u).String(), nil
}
