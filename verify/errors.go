package verify

import (
	"errors"
	"fmt"
)

// Errors returned when a policy cannot be loaded. Every error returned by
// ParsePolicy and PolicyFromFlags wraps ErrInvalidPolicy and one of the more
// specific sentinels below, and names the field path that was wrong
// (for example rules[0].attestations[1].condition).
var (
	// ErrInvalidPolicy is the root of every policy loading error.
	ErrInvalidPolicy = errors.New("invalid policy")
	// ErrPolicyTooLarge: the policy document exceeds MaxPolicySize.
	ErrPolicyTooLarge = fmt.Errorf("%w: document too large", ErrInvalidPolicy)
	// ErrPolicySyntax: the document is not well-formed YAML (or JSON).
	ErrPolicySyntax = fmt.Errorf("%w: syntax error", ErrInvalidPolicy)
	// ErrPolicyVersion: apiVersion or kind is missing or not supported.
	ErrPolicyVersion = fmt.Errorf("%w: unsupported apiVersion or kind", ErrInvalidPolicy)
	// ErrUnknownField: a field this schema version does not define.
	ErrUnknownField = fmt.Errorf("%w: unknown field", ErrInvalidPolicy)
	// ErrFieldType: a field has the wrong YAML type (a list where a string belongs...).
	ErrFieldType = fmt.Errorf("%w: wrong type", ErrInvalidPolicy)
	// ErrMissingField: a required field is absent or empty.
	ErrMissingField = fmt.Errorf("%w: missing field", ErrInvalidPolicy)
	// ErrInvalidValue: a field has a value outside its allowed set or range,
	// or fields that exclude each other are both set.
	ErrInvalidValue = fmt.Errorf("%w: invalid value", ErrInvalidPolicy)
	// ErrInvalidPattern: an image glob is malformed or not fully qualified.
	ErrInvalidPattern = fmt.Errorf("%w: invalid image pattern", ErrInvalidPolicy)
	// ErrInvalidRegexp: an issuerRegExp or subjectRegExp does not compile.
	ErrInvalidRegexp = fmt.Errorf("%w: invalid regular expression", ErrInvalidPolicy)
	// ErrCELCompile: an attestation condition does not parse, type-check or
	// evaluate to a bool.
	ErrCELCompile = fmt.Errorf("%w: CEL condition does not compile", ErrInvalidPolicy)
	// ErrInvalidFlags: the command-line flags given to PolicyFromFlags do not
	// make a policy (no signer, or exact and regexp forms both given).
	ErrInvalidFlags = fmt.Errorf("%w: flags", ErrInvalidPolicy)
)

// Errors returned when a report cannot be read back.
var (
	// ErrInvalidReport: the document is not a report this version understands.
	ErrInvalidReport = errors.New("invalid report")
	// ErrReportSchema: the schema field is missing or names another version.
	ErrReportSchema = fmt.Errorf("%w: unsupported schema", ErrInvalidReport)
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
	// ErrFutureTime: a log integrated the entry, or a TSA dated it, after
	// the verification time plus MaxClockSkew.
	ErrFutureTime = fmt.Errorf("%w: signed time after the verification time", ErrSignature)
)
