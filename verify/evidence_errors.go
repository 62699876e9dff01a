package verify

import (
	"errors"
	"fmt"
)

// Errors behind the Reason of a failed or unverifiable evidence Finding.
// Check and CheckBundle return Findings, not errors; these sentinels give
// the reasons a stable prefix and let internal helpers be tested with
// errors.Is.
var (
	// ErrEvidence is the root of every evidence-check error.
	ErrEvidence = errors.New("evidence")
	// ErrMalformedEvidence: the layer, annotation, envelope, statement or
	// bundle cannot be parsed.
	ErrMalformedEvidence = fmt.Errorf("%w: malformed", ErrEvidence)
	// ErrEvidenceTooLarge: the evidence exceeds MaxEvidenceSize.
	ErrEvidenceTooLarge = fmt.Errorf("%w: too large", ErrEvidence)
	// ErrSubjectMismatch: the signed content names another image.
	ErrSubjectMismatch = fmt.Errorf("%w: subject mismatch", ErrEvidence)
	// ErrUnsupportedEntry: a transparency log entry type this version
	// cannot check (Rekor v2 dsse 0.0.2, unknown kinds).
	ErrUnsupportedEntry = fmt.Errorf("%w: unsupported log entry", ErrEvidence)
	// ErrNoTrust: nothing in the trust material can check it.
	ErrNoTrust = fmt.Errorf("%w: no applicable trust material", ErrEvidence)
	// ErrSignature: the signature or one of its proofs does not verify.
	ErrSignature = fmt.Errorf("%w: verification failed", ErrEvidence)
)
