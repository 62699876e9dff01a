// Package verify checks the evidence attached to container images (cosign
// signatures and attestations, Sigstore bundles) fully offline against
// operator-configured trust material, evaluates the operator's policy, and
// builds the report an auditor reads.
//
// It is pure: it reads no files, opens no connections and takes no context.
// Callers hand it the evidence bytes (already checked against their digests)
// and the trust material.
package verify
