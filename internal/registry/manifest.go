package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/internal/content"
)

// manifestAccept lists every manifest type airlock handles.
var manifestAccept = []string{
	string(types.OCIManifestSchema1),
	string(types.OCIImageIndex),
	string(types.DockerManifestSchema2),
	string(types.DockerManifestList),
}

// manifest is the union of the fields of image manifests and indexes that
// discovery reads.
type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        *v1.Descriptor    `json:"config,omitempty"`
	Layers        []v1.Descriptor   `json:"layers,omitempty"`
	Manifests     []v1.Descriptor   `json:"manifests,omitempty"`
	Subject       *v1.Descriptor    `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

func (m *manifest) isIndex() bool { return m.MediaType.IsIndex() }

// parseManifest parses untrusted manifest bytes. served is the Content-Type
// the registry sent (used when the document does not name its type).
func parseManifest(raw []byte, served types.MediaType) (*manifest, error) {
	if len(raw) > MaxManifestSize {
		return nil, ErrManifestTooLarge
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion %d, want 2", ErrInvalidManifest, m.SchemaVersion)
	}
	if m.MediaType == "" {
		switch {
		case served.IsIndex() || served.IsImage():
			m.MediaType = served
		case m.Manifests != nil:
			m.MediaType = types.OCIImageIndex
		default:
			m.MediaType = types.OCIManifestSchema1
		}
	}
	switch {
	case m.MediaType.IsIndex():
		if m.Config != nil || m.Layers != nil {
			return nil, fmt.Errorf("%w: index %s has config or layers", ErrInvalidManifest, m.MediaType)
		}
	case m.MediaType.IsImage():
		if m.Config == nil {
			return nil, fmt.Errorf("%w: image manifest %s has no config", ErrInvalidManifest, m.MediaType)
		}
		if m.Manifests != nil {
			return nil, fmt.Errorf("%w: image manifest %s lists manifests", ErrInvalidManifest, m.MediaType)
		}
	default:
		return nil, fmt.Errorf("%w: unsupported media type %q", ErrInvalidManifest, m.MediaType)
	}
	descs := append(append([]v1.Descriptor{}, m.Layers...), m.Manifests...)
	if m.Config != nil {
		descs = append(descs, *m.Config)
	}
	if m.Subject != nil {
		descs = append(descs, *m.Subject)
	}
	for i, d := range descs {
		if d.Digest.Algorithm != "sha256" || len(d.Digest.Hex) != 64 {
			return nil, fmt.Errorf("%w: descriptor %d has digest %q (want sha256)", ErrInvalidManifest, i, d.Digest)
		}
		if d.Size < 0 {
			return nil, fmt.Errorf("%w: descriptor %s has negative size %d", ErrInvalidManifest, d.Digest, d.Size)
		}
	}
	return &m, nil
}

// artifactType is the type a referrers listing would give the manifest: its
// artifactType, else (for manifests with a subject) its config media type.
func (m *manifest) artifactType() string {
	if m.ArtifactType != "" {
		return m.ArtifactType
	}
	if m.Subject != nil && m.Config != nil {
		return string(m.Config.MediaType)
	}
	return ""
}

// fetchManifest GETs repo's manifest identifier (tag or digest). When want is
// set the bytes must hash to it; when the registry announces a digest the
// bytes must hash to that. Hand-written: ggcr's remote.Get reads up to
// 100 MiB (not MaxManifestSize) and skips the Docker-Content-Digest check.
func (c *Client) fetchManifest(ctx context.Context, repo name.Repository, identifier string, want *v1.Hash) (Node, *manifest, error) {
	var node Node
	var m *manifest
	what := fmt.Sprintf("manifest %s@%s", repo, identifier)
	if want != nil {
		what = fmt.Sprintf("manifest %s@%s", repo, want)
	}
	err := c.retry(ctx, "fetching "+what, func() error {
		raw, header, err := c.getDocument(ctx, repo, c.url(repo, "manifests/"+identifier, nil), manifestAccept, what)
		if err != nil {
			return err
		}
		got := sha256Hash(raw)
		if want != nil && got != *want {
			return fmt.Errorf("%w: %s: got %s", ErrDigestMismatch, what, got)
		}
		if dcd := header.Get("Docker-Content-Digest"); dcd != "" {
			if h, err := v1.NewHash(dcd); err == nil && h.Algorithm == "sha256" && h != got {
				return fmt.Errorf("%w: %s: registry announced %s, content hashes to %s", ErrDigestMismatch, what, h, got)
			}
		}
		m, err = parseManifest(raw, types.MediaType(mediaTypeOnly(header.Get("Content-Type"))))
		if err != nil {
			return fmt.Errorf("%s (%s): %w", what, got, err)
		}
		node = Node{Digest: got, MediaType: m.MediaType, Size: int64(len(raw)), ArtifactType: m.artifactType(), Raw: raw, Repo: repo}
		return nil
	})
	return node, m, err
}

// getDocument GETs a manifest or a referrers page (one attempt), capped at
// MaxManifestSize: an announced Content-Length is checked first, then the
// bytes as they are read.
func (c *Client) getDocument(ctx context.Context, repo name.Repository, url string, accept []string, what string) ([]byte, http.Header, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, repo: repo, url: url, accept: accept, ok: []int{http.StatusOK}})
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > MaxManifestSize {
		return nil, nil, fmt.Errorf("%w: %s announces %d bytes", ErrManifestTooLarge, what, resp.ContentLength)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
	if err != nil {
		return nil, nil, &netError{op: "reading " + what, err: err}
	}
	if len(raw) > MaxManifestSize {
		return nil, nil, fmt.Errorf("%w: %s", ErrManifestTooLarge, what)
	}
	return raw, resp.Header, nil
}

func mediaTypeOnly(ct string) string {
	ct, _, _ = strings.Cut(ct, ";")
	return strings.TrimSpace(ct)
}

func sha256Hash(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// verifyReader checks size and digest as content streams through it
// (content.VerifyReader) and closes the stream it reads.
type verifyReader struct {
	*content.VerifyReader
	io.Closer
}

func newVerifyReader(rc io.ReadCloser, desc v1.Descriptor, what string) (*verifyReader, error) {
	if desc.Digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("%w: %s: digest algorithm %q (want sha256)", ErrInvalidOption, what, desc.Digest.Algorithm)
	}
	if desc.Size < 0 {
		return nil, fmt.Errorf("%w: %s: negative size %d", ErrInvalidOption, what, desc.Size)
	}
	return &verifyReader{content.NewVerifyReader(rc, what, desc.Digest, desc.Size).Wrap(ErrDigestMismatch, ErrDigestMismatch), rc}, nil
}

// failed returns the size or digest error seen so far; nil-safe.
func (v *verifyReader) failed() error {
	if v == nil {
		return nil
	}
	return v.Err()
}
