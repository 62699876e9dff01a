package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/airlock-oci/airlock/artifact"
)

// InventorySchemaVersion is the only inventory schema version this package reads and writes.
const InventorySchemaVersion = 1

// Inventory lists what a bundle carries and how each piece was found. It is
// stored as the single layer of an artifact manifest with artifactType
// MediaTypeInventory, indexed in index.json with role "inventory".
//
// The inventory is a description, not evidence: a reader must check every
// claim in it against the blobs it names.
type Inventory struct {
	SchemaVersion int           `json:"schemaVersion"`
	MediaType     string        `json:"mediaType"`
	Exporter      Exporter      `json:"exporter"`
	Images        []Image       `json:"images"`
	Trust         []TrustSource `json:"trust,omitempty"`
	// Omitted lists the blobs a delta bundle leaves out (delta.go).
	Omitted []OmittedBlob `json:"omitted,omitempty"`
}

// Exporter says which tool wrote the bundle and when. Informational only.
type Exporter struct {
	Name    string    `json:"name"`
	Version string    `json:"version"`
	Time    time.Time `json:"time"`
}

// Image is one image the user asked for.
type Image struct {
	// Reference as the user asked ("nginx:1.27", "localhost:5000/app@sha256:...").
	Reference string `json:"reference"`
	// Name is the fully qualified reference ("index.docker.io/library/nginx:1.27").
	Name string `json:"name"`
	// Digest of the image (index or manifest) as stored in the bundle.
	Digest string `json:"digest"`
	// SourceDigest is the digest in the source registry when it differs
	// from Digest (platform filtering rewrote the index).
	SourceDigest string     `json:"sourceDigest,omitempty"`
	MediaType    string     `json:"mediaType"`
	Size         int64      `json:"size"`
	Platforms    []Platform `json:"platforms"`
	Filter       *Filter    `json:"filter,omitempty"`
	Artifacts    []Artifact `json:"artifacts"`
}

// Platform is one platform manifest of an image.
type Platform struct {
	Platform string `json:"platform"` // "linux/amd64", "linux/arm64/v8"
	Digest   string `json:"digest"`
	Size     int64  `json:"size"`
}

// Filter says plainly what platform filtering changed.
type Filter struct {
	Requested []string `json:"requested"`
	Dropped   []string `json:"dropped"`
	Note      string   `json:"note"`
}

// Artifact is one signature, attestation, SBOM or other referrer carried for an image.
type Artifact struct {
	Kind         artifact.Kind `json:"kind"`
	Digest       string        `json:"digest"`
	MediaType    string        `json:"mediaType"`
	ArtifactType string        `json:"artifactType,omitempty"`
	Size         int64         `json:"size"`
	// Subject is the digest it is attached to (index, platform manifest or another artifact).
	Subject string           `json:"subject"`
	FoundBy artifact.FoundBy `json:"foundBy"`
	// Repository it was found in (may differ from the image's).
	Repository     string   `json:"repository"`
	Tag            string   `json:"tag,omitempty"`
	PredicateTypes []string `json:"predicateTypes,omitempty"`
}

// Trust source kinds (TrustSource.Kind).
const (
	TrustKindTUF         = "tuf"
	TrustKindTrustedRoot = "trusted-root"
	TrustKindPublicKey   = "public-key"
)

// TrustSource is one trust root carried in the bundle as an artifact manifest.
type TrustSource struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	URL  string `json:"url,omitempty"`
	// Manifest is the digest of its artifact manifest in the layout.
	Manifest string      `json:"manifest"`
	Files    []TrustFile `json:"files"`
	Roles    []Role      `json:"roles,omitempty"`
}

// TrustFile is one file of a trust source.
type TrustFile struct {
	// Path is relative and slash-separated: "metadata/1.root.json",
	// "targets/<hex>.trusted_root.json", "key.pub".
	Path   string `json:"path"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Role is a TUF role's version and expiry as captured (informational).
type Role struct {
	Role    string    `json:"role"`
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
}

// NewInventory returns an empty inventory with schemaVersion and mediaType set.
func NewInventory(exporter Exporter) *Inventory {
	return &Inventory{
		SchemaVersion: InventorySchemaVersion,
		MediaType:     MediaTypeInventory,
		Exporter:      exporter,
		Images:        []Image{},
	}
}

// Marshal validates the inventory and encodes it as JSON.
func (inv *Inventory) Marshal() ([]byte, error) {
	if err := inv.Validate(); err != nil {
		return nil, err
	}
	return marshalJSON(inv)
}

// ParseInventory decodes and validates an inventory. Input larger than
// DefaultMaxInventorySize is refused.
func ParseInventory(data []byte) (*Inventory, error) {
	return parseInventory(data, DefaultMaxInventorySize)
}

func parseInventory(data []byte, max int64) (*Inventory, error) {
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: inventory is %d bytes, limit %d", ErrTooLarge, len(data), max)
	}
	var inv Inventory
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&inv); err != nil {
		return nil, fmt.Errorf("%w: inventory: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: inventory: trailing data after the JSON document", ErrMalformed)
	}
	if err := inv.Validate(); err != nil {
		return nil, err
	}
	return &inv, nil
}

// Validate checks the schema version, media type, that every digest is a
// well-formed sha256 digest, that sizes are not negative and that trust file
// paths are clean relative paths. Errors wrap ErrMalformed.
func (inv *Inventory) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: inventory: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if inv.SchemaVersion != InventorySchemaVersion {
		return bad("schemaVersion %d, want %d", inv.SchemaVersion, InventorySchemaVersion)
	}
	if inv.MediaType != MediaTypeInventory {
		return bad("mediaType %q, want %q", inv.MediaType, MediaTypeInventory)
	}
	for i, im := range inv.Images {
		where := fmt.Sprintf("images[%d] (%q)", i, im.Reference)
		if err := checkDigest(im.Digest); err != nil {
			return bad("%s digest: %v", where, err)
		}
		if im.SourceDigest != "" {
			if err := checkDigest(im.SourceDigest); err != nil {
				return bad("%s sourceDigest: %v", where, err)
			}
		}
		if im.Size < 0 {
			return bad("%s size %d is negative", where, im.Size)
		}
		for j, p := range im.Platforms {
			if err := checkDigest(p.Digest); err != nil {
				return bad("%s platforms[%d] digest: %v", where, j, err)
			}
			if p.Size < 0 {
				return bad("%s platforms[%d] size %d is negative", where, j, p.Size)
			}
		}
		for j, a := range im.Artifacts {
			if a.Kind == "" {
				return bad("%s artifacts[%d] has no kind", where, j)
			}
			if err := checkDigest(a.Digest); err != nil {
				return bad("%s artifacts[%d] digest: %v", where, j, err)
			}
			if err := checkDigest(a.Subject); err != nil {
				return bad("%s artifacts[%d] subject: %v", where, j, err)
			}
			if a.Size < 0 {
				return bad("%s artifacts[%d] size %d is negative", where, j, a.Size)
			}
		}
	}
	if err := validateOmitted(inv.Omitted); err != nil {
		return bad("%v", err)
	}
	for i, ts := range inv.Trust {
		where := fmt.Sprintf("trust[%d] (%q)", i, ts.Name)
		if ts.Name == "" {
			return bad("trust[%d] has no name", i)
		}
		switch ts.Kind {
		case TrustKindTUF, TrustKindTrustedRoot, TrustKindPublicKey:
		default:
			return bad("%s kind %q is not one of tuf, trusted-root, public-key", where, ts.Kind)
		}
		if err := checkDigest(ts.Manifest); err != nil {
			return bad("%s manifest: %v", where, err)
		}
		seen := make(map[string]bool, len(ts.Files))
		for j, f := range ts.Files {
			if err := CheckRelativePath(f.Path); err != nil {
				return bad("%s files[%d]: %v", where, j, err)
			}
			if seen[f.Path] {
				return bad("%s files[%d]: path %q listed twice", where, j, f.Path)
			}
			seen[f.Path] = true
			if err := checkDigest(f.Digest); err != nil {
				return bad("%s files[%d] (%q) digest: %v", where, j, f.Path, err)
			}
			if f.Size < 0 {
				return bad("%s files[%d] (%q) size %d is negative", where, j, f.Path, f.Size)
			}
		}
	}
	return nil
}

// CheckRelativePath reports whether p is safe to join under a directory:
// non-empty, slash-separated, relative, clean, without "..", backslashes or
// NUL bytes. Trust file paths and layer titles from a bundle must pass it
// before they name anything on disk.
func CheckRelativePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty path")
	case strings.ContainsAny(p, "\\\x00"):
		return fmt.Errorf("path %q contains a backslash or NUL", p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is absolute", p)
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean", p)
	case p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("path %q escapes its directory", p)
	case p == ".":
		return fmt.Errorf("path %q names the directory itself", p)
	}
	return nil
}

// checkDigest accepts only "sha256:" followed by 64 lowercase hex digits.
func checkDigest(s string) error {
	_, err := parseDigest(s)
	return err
}

func parseDigest(s string) (v1.Hash, error) {
	algo, hexPart, ok := strings.Cut(s, ":")
	if !ok {
		return v1.Hash{}, fmt.Errorf("digest %q has no algorithm", s)
	}
	if algo != "sha256" {
		return v1.Hash{}, fmt.Errorf("%w: digest %q uses %q, only sha256 is accepted", ErrUnsupportedAlgorithm, s, algo)
	}
	if !isHex64(hexPart) {
		return v1.Hash{}, fmt.Errorf("digest %q is not 64 lowercase hex digits", s)
	}
	return v1.Hash{Algorithm: algo, Hex: hexPart}, nil
}

// checkHash validates a v1.Hash from a parsed document.
func checkHash(h v1.Hash) error {
	if h.Algorithm != "sha256" {
		return fmt.Errorf("%w: digest %q uses %q, only sha256 is accepted", ErrUnsupportedAlgorithm, h.String(), h.Algorithm)
	}
	if !isHex64(h.Hex) {
		return fmt.Errorf("%w: digest %q is not 64 lowercase hex digits", ErrMalformed, h.String())
	}
	return nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
