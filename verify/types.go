package verify

import (
	"crypto"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/airlock-oci/airlock/artifact"
)

// Kind names a kind of evidence attached to an image (package artifact
// holds the values). They are stable: they appear in the JSON report and in
// policy files.
type Kind = artifact.Kind

// Status is the outcome of checking one piece of evidence.
type Status string

const (
	StatusVerified     Status = "verified"     // signature and every proof hold against trusted material
	StatusFailed       Status = "failed"       // it does not hold: tampered, wrong key, untrusted, wrong subject...
	StatusUnverifiable Status = "unverifiable" // a format or entry type this version cannot check; never counts as verified
	StatusUnsigned     Status = "unsigned"     // carried, nothing to verify (BuildKit statements, unsigned SBOMs, other referrers)
)

// Evidence is one thing that vouches for an image as found in a bundle: one
// layer of an artifact manifest (legacy .sig/.att manifests hold one
// signature per layer) or one referrer. It is read from the bundle by the
// caller; this package never reads files.
type Evidence struct {
	Kind Kind `json:"kind"`
	// Manifest is the digest of the artifact manifest that holds it.
	Manifest string `json:"manifest"`
	// Layer is the index of the layer within Manifest.
	Layer int `json:"layer"`
	// Subject is the digest it is attached to (an image index, a platform
	// manifest, or another artifact).
	Subject string `json:"subject"`
	// MediaType of the layer.
	MediaType string `json:"mediaType"`
	// ArtifactType of the manifest, if any.
	ArtifactType string `json:"artifactType,omitempty"`
	// Annotations of the layer (legacy cosign keeps signature, certificate,
	// chain, Rekor bundle and RFC 3161 timestamp there) merged over the
	// manifest's annotations.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Data is the layer's content, already checked against its digest.
	Data []byte `json:"-"`
}

// Signer says who made a signature.
type Signer struct {
	// Keyless signatures: the certificate's subject alternative name and the
	// OIDC issuer extension of a Fulcio certificate.
	Identity string `json:"identity,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	// Key signatures: the name of the trusted key that verified it and its
	// key id (hex sha256 of the PKIX public key).
	Key   string `json:"key,omitempty"`
	KeyID string `json:"keyId,omitempty"`
	// Keys lists every name the operator loaded this same key (same key
	// id) under, Key first, when there is more than one: a policy naming
	// any of them matches.
	Keys []string `json:"keys,omitempty"`
}

// TLogProof is what a transparency log said about an entry.
type TLogProof struct {
	LogID          string    `json:"logId"` // hex
	LogIndex       int64     `json:"logIndex"`
	IntegratedTime time.Time `json:"integratedTime,omitzero"`
	// Proof is "set" (a signed entry timestamp: the log promised inclusion),
	// "inclusion-proof" (inclusion proof against a signed checkpoint), or
	// "set+inclusion-proof".
	Proof     string `json:"proof"`
	EntryKind string `json:"entryKind,omitempty"` // e.g. hashedrekord 0.0.1, dsse 0.0.1
}

// Timestamp is a trusted time the verification relied on.
type Timestamp struct {
	Kind string    `json:"kind"` // "rfc3161" or "tlog-integrated"
	Time time.Time `json:"time"`
	// Authority is the TSA's subject or the log id.
	Authority string `json:"authority,omitempty"`
}

// Finding is the verdict on one piece of evidence.
type Finding struct {
	Kind         Kind   `json:"kind"`
	Manifest     string `json:"manifest"`
	Layer        int    `json:"layer"`
	Subject      string `json:"subject"`
	ArtifactType string `json:"artifactType,omitempty"`
	Status       Status `json:"status"`
	// Reason says why it failed or could not be checked, or notes on a
	// verified finding (for example "no transparency log vouches for it").
	Reason string  `json:"reason,omitempty"`
	Signer *Signer `json:"signer,omitempty"`
	// Covers lists the digests the signature vouches for (the simple-signing
	// docker-manifest-digest, or the in-toto statement's subjects).
	Covers []string `json:"covers,omitempty"`
	// PredicateType of an attestation (in-toto statement). On a finding
	// that did not verify it is only what the unverified statement (or,
	// failing that, the layer annotation) claims: it names the
	// requirement the failure is reported under, and never counts.
	PredicateType string `json:"predicateType,omitempty"`
	// Statement is the verified in-toto statement (JSON), for policy conditions.
	// Only set when Status is verified or unsigned.
	Statement  []byte      `json:"-"`
	TLog       []TLogProof `json:"tlog,omitempty"`
	Timestamps []Timestamp `json:"timestamps,omitempty"`
	// TrustMaterial names the trust sources that verified it.
	TrustMaterial []string `json:"trustMaterial,omitempty"`
}

// TrustSource is one set of trusted material for keyless and log
// verification: a trusted_root.json verified through TUF, or one the
// operator configured by hand.
type TrustSource struct {
	// Name identifies it in reports, e.g. "tuf:sigstore (root v15, timestamp v762)"
	// or "file:/etc/airlock/trusted_root.json (operator-configured)".
	Name string
	Root root.TrustedMaterial
}

// Key is a public key the operator trusts.
type Key struct {
	// Name identifies it in reports and policies (usually the file it came from).
	Name   string
	Public crypto.PublicKey
}

// TrustMaterial is everything a verification may rely on. Nothing in a
// bundle is trusted unless it reached this struct through the operator's
// configuration or a TUF verification against a pinned root.
type TrustMaterial struct {
	Sources []TrustSource
	Keys    []Key
}

// TrustSummary describes, for the report, one trust source that was loaded
// (or refused) and why.
type TrustSummary struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`   // "tuf", "trusted-root", "public-key"
	Origin string `json:"origin"` // "bundle (TUF-verified against pinned root NAME)", "operator-configured"
	// Roles lists TUF role versions and expiries, when Kind is tuf.
	Roles []RoleSummary `json:"roles,omitempty"`
	// Accepted staleness of the online roles, when any was accepted.
	Notes []string `json:"notes,omitempty"`
	Used  bool     `json:"used"`
	Error string   `json:"error,omitempty"`
}

// RoleSummary is one TUF role's state as accepted.
type RoleSummary struct {
	Role    string    `json:"role"`
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
}
