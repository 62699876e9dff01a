package bundle

import (
	"errors"
	"fmt"
)

// ErrInvalidBundle is the root of every error that says the bundle itself is
// wrong (malformed, unsafe, incomplete or tampered with). Test with errors.Is.
var ErrInvalidBundle = errors.New("invalid bundle")

// Children of ErrInvalidBundle. Every error returned for bad bundle content
// wraps one of these and names the entry or blob concerned.
var (
	// ErrUnsafeEntry: a tar entry that could escape or abuse an extraction
	// (path traversal, absolute path, link, device, fifo) or that lies outside
	// the OCI image layout.
	ErrUnsafeEntry = fmt.Errorf("%w: unsafe tar entry", ErrInvalidBundle)
	// ErrDuplicateEntry: two tar entries with the same name.
	ErrDuplicateEntry = fmt.Errorf("%w: duplicate tar entry", ErrInvalidBundle)
	// ErrUnsupportedAlgorithm: a digest algorithm other than sha256.
	ErrUnsupportedAlgorithm = fmt.Errorf("%w: unsupported digest algorithm", ErrInvalidBundle)
	// ErrDigestMismatch: content whose sha256 differs from its name or descriptor.
	ErrDigestMismatch = fmt.Errorf("%w: digest mismatch", ErrInvalidBundle)
	// ErrSizeMismatch: content whose length differs from its descriptor.
	ErrSizeMismatch = fmt.Errorf("%w: size mismatch", ErrInvalidBundle)
	// ErrIncomplete: something the layout needs is missing.
	ErrIncomplete = fmt.Errorf("%w: incomplete", ErrInvalidBundle)
	// ErrDanglingDescriptor: a descriptor whose blob is not in the bundle.
	ErrDanglingDescriptor = fmt.Errorf("%w: dangling descriptor", ErrIncomplete)
	// ErrTooLarge: a document or the archive exceeds a documented limit.
	ErrTooLarge = fmt.Errorf("%w: too large", ErrInvalidBundle)
	// ErrTooDeep: indexes nested beyond Limits.MaxDepth.
	ErrTooDeep = fmt.Errorf("%w: nesting too deep", ErrTooLarge)
	// ErrTruncated: the archive ends inside an entry or without its
	// end-of-archive marker.
	ErrTruncated = fmt.Errorf("%w: truncated", ErrInvalidBundle)
	// ErrMalformed: a document (oci-layout, index.json, manifest, inventory)
	// that does not parse or breaks its schema.
	ErrMalformed = fmt.Errorf("%w: malformed document", ErrInvalidBundle)
	// ErrInvalidName: an image name the reference grammar refuses (see ParseName).
	ErrInvalidName = fmt.Errorf("%w: invalid image name", ErrMalformed)
	// ErrDisagreement: the inventory or an index.json entry states a fact
	// that the content-addressed graph contradicts (Reader.Reconcile).
	ErrDisagreement = fmt.Errorf("%w: inventory disagrees with the content", ErrMalformed)
	// ErrTooManyArtifacts: more artifacts or evidence than Limits allows.
	ErrTooManyArtifacts = fmt.Errorf("%w: too many artifacts", ErrTooLarge)
)

// Errors that are not about the bundle's content.
var (
	// ErrNotFound: the blob or document asked for is not in the bundle.
	ErrNotFound = errors.New("not found in bundle")
	// ErrClosed: the Writer was already committed or aborted, or the Reader closed.
	ErrClosed = errors.New("bundle already closed")
	// ErrInvalidOption: an option or argument out of range.
	ErrInvalidOption = errors.New("invalid bundle option")
	// ErrFetch: the Fetcher failed for a blob (opening it or while
	// streaming it). The Writer calls it once per blob: retries are the
	// Fetcher's.
	ErrFetch = errors.New("fetching blob for bundle")
)
