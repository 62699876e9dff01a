package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/artifact"
)

// maxReferrerPages bounds Link pagination.
const maxReferrerPages = 1000

// emptyDigest is the digest of the OCI empty descriptor "{}", used to probe the API.
var emptyDigest = v1.Hash{Algorithm: "sha256", Hex: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}

// FallbackTag is the OCI referrers tag schema tag for subject: "sha256-<hex>".
func FallbackTag(subject v1.Hash) string { return subject.Algorithm + "-" + subject.Hex }

// noReferrersAPI reports whether an answer to GET /v2/<repo>/referrers/<digest>
// means the registry does not serve the API (the spec says 404; registries also
// answer 400, 405 or 501).
func noReferrersAPI(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.StatusCode {
	case http.StatusNotFound, http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	}
	return false
}

// Referrers lists the manifests referring to subject in repo, through the
// referrers API when the registry serves it (following Link pagination), else
// through the fallback tag. The descriptors are as listed (their artifactType
// may be wrong in fallback indexes: read the manifests). foundBy is
// artifact.FoundByReferrersAPI or artifact.FoundByFallbackTag. No referrers is (nil, foundBy, nil);
// a registry that does not answer is an error.
//
// A repository that answered once that it has no API is not asked again
// (as ORAS does): a catalogue's signatures, attestations and their own
// signatures go straight to the fallback tag, one request each instead of
// two. Only the answers noReferrersAPI names count, and only per
// repository, since proxies may serve the API for some and not others.
func (c *Client) Referrers(ctx context.Context, repo name.Repository, subject v1.Hash) ([]v1.Descriptor, artifact.FoundBy, error) {
	if !c.knownWithoutAPI(repo) {
		descs, err := c.referrersAPI(ctx, repo, subject)
		if err == nil {
			return descs, artifact.FoundByReferrersAPI, nil
		}
		if !noReferrersAPI(err) {
			return nil, artifact.FoundByReferrersAPI, fmt.Errorf("listing referrers of %s@%s: %w", repo, subject, err)
		}
		c.mu.Lock()
		c.noAPI[repo.Name()] = true
		c.mu.Unlock()
		c.log.LogAttrs(ctx, slog.LevelDebug, "no referrers API, reading fallback tags", slog.String("repo", repo.String()), slog.String("subject", subject.String()))
	}
	descs, err := c.fallbackReferrers(ctx, repo, subject)
	if err != nil {
		return nil, artifact.FoundByFallbackTag, fmt.Errorf("listing referrers of %s@%s through tag %s: %w", repo, subject, FallbackTag(subject), err)
	}
	return descs, artifact.FoundByFallbackTag, nil
}

// knownWithoutAPI reports whether repo has already answered that it serves
// no referrers API.
func (c *Client) knownWithoutAPI(repo name.Repository) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.noAPI[repo.Name()]
}

// referrersAPI lists referrers through the API, following Link pagination.
// Hand-written: ggcr's remote.Referrers reads only the first page and falls
// back to the tag by itself.
func (c *Client) referrersAPI(ctx context.Context, repo name.Repository, subject v1.Hash) ([]v1.Descriptor, error) {
	var all []v1.Descriptor
	next := c.url(repo, "referrers/"+subject.String(), nil)
	seen := map[string]bool{}
	for page := 0; next != ""; page++ {
		if page >= maxReferrerPages || seen[next] {
			return nil, fmt.Errorf("%w: referrers of %s@%s: pagination loops or exceeds %d pages", ErrInvalidManifest, repo, subject, maxReferrerPages)
		}
		seen[next] = true
		var descs []v1.Descriptor
		var link string
		pageURL := next
		err := c.retry(ctx, "listing referrers", func() error {
			raw, header, err := c.getDocument(ctx, repo, pageURL, []string{string(types.OCIImageIndex)}, "referrers page of "+subject.String())
			if err != nil {
				return err
			}
			descs, err = parseReferrersPage(raw)
			if err != nil {
				// A 200 that is not an index: a registry without the API
				// answering something else (a web page). Treat it as no API.
				ct := mediaTypeOnly(header.Get("Content-Type"))
				if ct != string(types.OCIImageIndex) && page == 0 {
					return &StatusError{Method: http.MethodGet, URL: redactURL(pageURL), StatusCode: http.StatusNotFound, Message: "answer is not an OCI image index (" + ct + "): no referrers API"}
				}
				return fmt.Errorf("referrers of %s@%s: %w", repo, subject, err)
			}
			link = header.Get("Link")
			return nil
		})
		if err != nil {
			return nil, err
		}
		all = append(all, descs...)
		next = ""
		if link != "" {
			u, ok := parseNextLink(link)
			if ok {
				base, _ := url.Parse(pageURL)
				ref, err := url.Parse(u)
				if err != nil {
					return nil, fmt.Errorf("%w: referrers of %s: bad Link %q: %w", ErrInvalidManifest, subject, link, err)
				}
				abs := base.ResolveReference(ref)
				if abs.Host != base.Host {
					return nil, fmt.Errorf("%w: referrers of %s: Link points to another host %q", ErrInvalidManifest, subject, abs.Host)
				}
				next = abs.String()
			}
		}
	}
	return all, nil
}

// parseReferrersPage parses one page of the referrers API (an OCI image index).
func parseReferrersPage(raw []byte) ([]v1.Descriptor, error) {
	var idx struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     types.MediaType `json:"mediaType"`
		Manifests     []v1.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("%w: referrers list: %w", ErrInvalidManifest, err)
	}
	if idx.SchemaVersion != 2 || (idx.MediaType != "" && idx.MediaType != types.OCIImageIndex) {
		return nil, fmt.Errorf("%w: referrers list is not an OCI image index (schemaVersion %d, mediaType %q)", ErrInvalidManifest, idx.SchemaVersion, idx.MediaType)
	}
	for _, d := range idx.Manifests {
		if d.Digest.Algorithm != "sha256" || len(d.Digest.Hex) != 64 {
			return nil, fmt.Errorf("%w: referrers list names digest %q", ErrInvalidManifest, d.Digest)
		}
	}
	return idx.Manifests, nil
}

// parseNextLink returns the target of the rel="next" link of an RFC 8288 Link header.
func parseNextLink(h string) (string, bool) {
	for part := range strings.SplitSeq(h, ",") {
		part = strings.TrimSpace(part)
		if !strings.HasPrefix(part, "<") {
			continue
		}
		end := strings.Index(part, ">")
		if end < 0 {
			continue
		}
		target := part[1:end]
		for p := range strings.SplitSeq(part[end+1:], ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "rel") {
				if slices.Contains(strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)), "next") {
					return target, true
				}
			}
		}
	}
	return "", false
}

// fallbackReferrers reads the sha256-<hex> tag. Missing tag: none. A tag that
// resolves to the subject itself (some registries answer so) or to anything
// that is not an OCI index listing referrers: none.
func (c *Client) fallbackReferrers(ctx context.Context, repo name.Repository, subject v1.Hash) ([]v1.Descriptor, error) {
	node, m, err := c.fetchManifest(ctx, repo, FallbackTag(subject), nil)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if node.Digest == subject {
		c.log.LogAttrs(ctx, slog.LevelDebug, "fallback tag answered with the subject itself: no referrers", slog.String("repo", repo.String()), slog.String("subject", subject.String()))
		return nil, nil
	}
	if m.MediaType != types.OCIImageIndex {
		c.log.LogAttrs(ctx, slog.LevelWarn, "fallback tag is not an OCI index: ignored", slog.String("repo", repo.String()), slog.String("tag", FallbackTag(subject)), slog.String("mediaType", string(m.MediaType)))
		return nil, nil
	}
	return m.Manifests, nil
}

// ReferrersAPI reports whether the registry serving repo answers the referrers
// API. Call it once the repository exists (after pushing a subject): a
// registry that serves the API but does not know the repository answers 404
// NAME_UNKNOWN, reported as an error wrapping ErrNotFound.
func (c *Client) ReferrersAPI(ctx context.Context, repo name.Repository) (bool, error) {
	var ok bool
	err := c.retry(ctx, "probing referrers API", func() error {
		raw, _, err := c.getDocument(ctx, repo, c.url(repo, "referrers/"+emptyDigest.String(), nil), []string{string(types.OCIImageIndex)}, "referrers probe")
		if errors.Is(err, ErrManifestTooLarge) {
			ok = false // not a referrers list
			return nil
		}
		if err != nil {
			return err
		}
		_, perr := parseReferrersPage(raw)
		ok = perr == nil
		return nil
	})
	if err == nil {
		return ok, nil
	}
	var se *StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusNotFound && strings.Contains(se.Message, "NAME_UNKNOWN") {
		return false, fmt.Errorf("probing referrers API of %s: repository does not exist yet (push the subject first): %w", repo, err)
	}
	if noReferrersAPI(err) {
		return false, nil
	}
	return false, fmt.Errorf("probing referrers API of %s: %w", repo, err)
}

// AddFallbackReferrer records referrer in the fallback index tagged
// sha256-<hex of subject> in repo (read, merge, write), for registries without
// the referrers API. Existing entries and fields are kept; adding a referrer
// already listed writes nothing. Calls for the same repo and subject are
// serialised within this Client; other writers are not locked out.
//
// PushManifest never does this by itself: call it for each referrer when
// ReferrersAPI reports false.
func (c *Client) AddFallbackReferrer(ctx context.Context, repo name.Repository, subject v1.Hash, referrer v1.Descriptor) error {
	if c.err != nil {
		return c.err
	}
	if subject.Algorithm != "sha256" || len(subject.Hex) != 64 || referrer.Digest.Algorithm != "sha256" || len(referrer.Digest.Hex) != 64 {
		return fmt.Errorf("%w: fallback referrer %s of %s: want sha256 digests", ErrInvalidOption, referrer.Digest, subject)
	}
	tag := FallbackTag(subject)
	key := repo.String() + ":" + tag
	c.mu.Lock()
	l := c.locks[key]
	if l == nil {
		l = &sync.Mutex{}
		c.locks[key] = l
	}
	c.mu.Unlock()
	l.Lock()
	defer l.Unlock()

	fields := map[string]json.RawMessage{}
	var entries []json.RawMessage
	node, m, err := c.fetchManifest(ctx, repo, tag, nil)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return fmt.Errorf("adding referrer %s to %s:%s: %w", referrer.Digest, repo, tag, err)
	case node.Digest == subject:
		// The registry answers the tag with the subject: nothing listed yet.
	case m.MediaType != types.OCIImageIndex:
		return fmt.Errorf("%w: adding referrer %s: %s:%s holds a %s, not an OCI image index", ErrInvalidManifest, referrer.Digest, repo, tag, m.MediaType)
	default:
		for _, d := range m.Manifests {
			if d.Digest == referrer.Digest {
				return nil
			}
		}
		if err := json.Unmarshal(node.Raw, &fields); err != nil {
			return fmt.Errorf("%w: %s:%s: %w", ErrInvalidManifest, repo, tag, err)
		}
		if raw, ok := fields["manifests"]; ok {
			if err := json.Unmarshal(raw, &entries); err != nil {
				return fmt.Errorf("%w: %s:%s manifests: %w", ErrInvalidManifest, repo, tag, err)
			}
		}
	}
	add, err := json.Marshal(referrer)
	if err != nil {
		return fmt.Errorf("encoding referrer %s: %w", referrer.Digest, err)
	}
	entries = append(entries, add)
	slices.SortStableFunc(entries, func(a, b json.RawMessage) int {
		return strings.Compare(entryDigest(a), entryDigest(b))
	})
	fields["schemaVersion"] = json.RawMessage(`2`)
	fields["mediaType"] = json.RawMessage(`"` + types.OCIImageIndex + `"`)
	if fields["manifests"], err = json.Marshal(entries); err != nil {
		return fmt.Errorf("encoding %s:%s: %w", repo, tag, err)
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return fmt.Errorf("encoding %s:%s: %w", repo, tag, err)
	}
	if _, err := c.PushManifest(ctx, repo, types.OCIImageIndex, raw, tag); err != nil {
		return fmt.Errorf("adding referrer %s to %s:%s: %w", referrer.Digest, repo, tag, err)
	}
	return nil
}

func entryDigest(raw json.RawMessage) string {
	var d struct {
		Digest string `json:"digest"`
	}
	_ = json.Unmarshal(raw, &d)
	return d.Digest
}
