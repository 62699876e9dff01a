// Package artifact is the vocabulary shared by discovery, the bundle format,
// verification and import: the kinds of artifacts attached to an image and
// how each was found. The values are stable: they appear in bundle
// inventories (docs/bundle-format.md), JSON reports and policy files.
//
// It is a leaf: it imports nothing of this module, so every other package
// may import it.
package artifact

// Kind names a kind of artifact attached to an image.
type Kind string

const (
	// KindCosignSignature is a legacy cosign signature manifest (tag
	// sha256-<hex>.sig; or a cosign OCI 1.1 signature referrer), one
	// simple-signing payload and its signature per layer.
	KindCosignSignature Kind = "cosign-signature"
	// KindCosignAttestation is a legacy cosign attestation manifest (tag
	// sha256-<hex>.att): a DSSE envelope around an in-toto statement per layer.
	KindCosignAttestation Kind = "cosign-attestation"
	// KindCosignSBOM is a legacy cosign SBOM (tag sha256-<hex>.sbom); unsigned by itself.
	KindCosignSBOM Kind = "cosign-sbom"
	// KindSigstoreBundle is an OCI 1.1 referrer carrying a Sigstore bundle
	// (v0.1-v0.3): a message signature or a DSSE attestation.
	KindSigstoreBundle Kind = "sigstore-bundle"
	// KindBuildKitAttestation is an in-toto statement BuildKit stores inside an
	// image index (platform unknown/unknown); unsigned.
	KindBuildKitAttestation Kind = "buildkit-attestation"
	// KindNotationSignature is a referrer of type application/vnd.cncf.notary.signature.
	KindNotationSignature Kind = "notation-signature"
	// KindSBOM is a referrer with an SPDX or CycloneDX type.
	KindSBOM Kind = "sbom"
	// KindReferrer is any other OCI referrer: carried, not verified.
	KindReferrer Kind = "referrer"
)

// FoundBy says how an artifact was found.
type FoundBy string

const (
	// FoundByReferrersAPI: listed by the registry's OCI 1.1 referrers API.
	FoundByReferrersAPI FoundBy = "referrers-api"
	// FoundByFallbackTag: listed in the referrers fallback index (tag sha256-<hex>).
	FoundByFallbackTag FoundBy = "fallback-tag"
	// FoundByLegacyTag: a cosign legacy tag (sha256-<hex>.sig, .att, .sbom).
	FoundByLegacyTag FoundBy = "legacy-tag"
	// FoundByInIndex: a manifest inside the image index (BuildKit attestations).
	FoundByInIndex FoundBy = "in-index"
)
