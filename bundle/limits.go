package bundle

import "fmt"

// Limits bounds what a Reader accepts from a bundle. A bundle is hostile
// until verified: every document is read with a cap, never by trusting a
// declared size.
type Limits struct {
	// MaxEntries is the most tar entries an archive may hold.
	MaxEntries int
	// MaxIndexSize caps index.json (and oci-layout is capped at 4 KiB).
	MaxIndexSize int64
	// MaxManifestSize caps every image manifest, image index and artifact manifest.
	MaxManifestSize int64
	// MaxInventorySize caps the inventory document.
	MaxInventorySize int64
	// MaxDepth caps nesting from index.json: index.json -> index -> manifest
	// is depth 2. Subject links count as one more level.
	MaxDepth int
	// MaxArtifactsPerImage and MaxArtifacts cap the distinct artifacts
	// (signatures, attestations, SBOMs, referrers) of one image and of the
	// whole bundle; MaxEvidencePerImage and MaxEvidence cap the layers of
	// those artifacts, each of which is one piece of evidence to check.
	// Zero means the default.
	MaxArtifactsPerImage int
	MaxArtifacts         int
	MaxEvidencePerImage  int
	MaxEvidence          int
}

// Documented default limits.
const (
	DefaultMaxEntries           = 1 << 20  // 1,048,576 tar entries
	DefaultMaxIndexSize         = 16 << 20 // 16 MiB index.json
	DefaultMaxManifestSize      = 4 << 20  // 4 MiB per manifest or index
	DefaultMaxInventorySize     = 16 << 20 // 16 MiB inventory
	DefaultMaxDepth             = 16       // nesting levels below index.json
	DefaultMaxArtifactsPerImage = 1024     // distinct artifacts of one image
	DefaultMaxArtifacts         = 16384    // distinct artifacts in a bundle
	DefaultMaxEvidencePerImage  = 4096     // artifact layers (evidence) of one image
	DefaultMaxEvidence          = 65536    // artifact layers (evidence) in a bundle
	maxOCILayoutSize            = 4 << 10  // 4 KiB oci-layout
	maxSmallBlobSize            = 64 << 20 // 64 MiB: Writer.Put refuses bigger blobs (use Reserve)
)

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxEntries:       DefaultMaxEntries,
		MaxIndexSize:     DefaultMaxIndexSize,
		MaxManifestSize:  DefaultMaxManifestSize,
		MaxInventorySize: DefaultMaxInventorySize,
		MaxDepth:         DefaultMaxDepth,

		MaxArtifactsPerImage: DefaultMaxArtifactsPerImage,
		MaxArtifacts:         DefaultMaxArtifacts,
		MaxEvidencePerImage:  DefaultMaxEvidencePerImage,
		MaxEvidence:          DefaultMaxEvidence,
	}
}

// Validate reports a limit that is not positive.
func (l Limits) Validate() error {
	switch {
	case l.MaxEntries <= 0:
		return fmt.Errorf("%w: MaxEntries %d must be positive", ErrInvalidOption, l.MaxEntries)
	case l.MaxIndexSize <= 0:
		return fmt.Errorf("%w: MaxIndexSize %d must be positive", ErrInvalidOption, l.MaxIndexSize)
	case l.MaxManifestSize <= 0:
		return fmt.Errorf("%w: MaxManifestSize %d must be positive", ErrInvalidOption, l.MaxManifestSize)
	case l.MaxInventorySize <= 0:
		return fmt.Errorf("%w: MaxInventorySize %d must be positive", ErrInvalidOption, l.MaxInventorySize)
	case l.MaxDepth <= 0:
		return fmt.Errorf("%w: MaxDepth %d must be positive", ErrInvalidOption, l.MaxDepth)
	case l.MaxArtifactsPerImage < 0 || l.MaxArtifacts < 0 || l.MaxEvidencePerImage < 0 || l.MaxEvidence < 0:
		return fmt.Errorf("%w: artifact and evidence limits must not be negative", ErrInvalidOption)
	}
	return nil
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
