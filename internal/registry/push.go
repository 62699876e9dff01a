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
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Resolve HEADs ref (through ggcr's remote.Head) and returns its
// descriptor. A registry that does not announce the digest (or the size,
// or the type) on HEAD is asked with GET, and the digest computed. 404
// wraps ErrNotFound.
func (c *Client) Resolve(ctx context.Context, ref name.Reference) (v1.Descriptor, error) {
	if c.err != nil {
		return v1.Descriptor{}, c.err
	}
	repo := ref.Context()
	var want *v1.Hash
	if d, ok := ref.(name.Digest); ok {
		h, err := v1.NewHash(d.DigestStr())
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("%w: %s: %w", ErrInvalidOption, ref, err)
		}
		want = &h
	}
	var desc *v1.Descriptor
	err := c.retry(ctx, "resolving "+ref.String(), func() error {
		opts, ra, err := c.remoteOptions(ctx, repo, pullScope(repo))
		if err != nil {
			return err
		}
		desc, err = remote.Head(ref, opts...)
		if err == nil {
			desc.MediaType = types.MediaType(mediaTypeOnly(string(desc.MediaType)))
			return nil
		}
		if rerr, ok := remoteError(ctx, err, *ra); ok {
			return rerr
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "HEAD gave no usable descriptor: asking with GET", slog.String("ref", ref.String()), slog.String("error", err.Error()))
		desc = nil
		return nil
	})
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("resolving %s: %w", ref, err)
	}
	if desc != nil {
		return *desc, nil
	}
	node, _, err := c.fetchManifest(ctx, repo, ref.Identifier(), want)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("resolving %s: %w", ref, err)
	}
	return v1.Descriptor{MediaType: node.MediaType, Size: node.Size, Digest: node.Digest, ArtifactType: node.ArtifactType}, nil
}

// PushManifest uploads raw as a manifest of mediaType to repo, under tag, or by
// digest when tag is "". It returns the digest. It does not maintain referrer
// fallback tags: see AddFallbackReferrer. Pushing a manifest whose blobs or
// children are missing fails with the registry's answer (push subjects and
// blobs first). Hand-written: ggcr's remote.Put probes the referrers API and
// writes (or refuses to write) the fallback tag for any manifest with a subject.
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

// HasBlob asks (HEAD, pull access only) whether repo has the blob. It
// writes nothing: a dry run uses it where an import would mount.
func (c *Client) HasBlob(ctx context.Context, repo name.Repository, desc v1.Descriptor) (bool, error) {
	return c.hasBlob(ctx, repo, desc, pullScope(repo))
}

// hasBlob asks (HEAD) whether repo already has the blob. Hand-written:
// ggcr's remote exports no blob HEAD.
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
