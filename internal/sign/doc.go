// Package sign produces real cosign- and Sigstore-format evidence for tests
// and demos: legacy cosign signatures (simple signing, tag sha256-<hex>.sig),
// legacy cosign attestations (DSSE envelopes, tag sha256-<hex>.att) and
// Sigstore bundles v0.3 (OCI 1.1 referrers), signed either keyless through
// sigstore-go's in-memory VirtualSigstore (Fulcio + Rekor + TSA) or with an
// ECDSA P-256 key, with or without a transparency log.
//
// Everything it makes is what the real tools make, byte-compatible where the
// formats say so:
//   - simple-signing payloads as cosign writes them ("cosign container image
//     signature"), in layers of type application/vnd.dev.cosign.simplesigning.v1+json
//     with the annotations cosign's static layer options write
//     (dev.cosignproject.cosign/signature, dev.sigstore.cosign/certificate,
//     dev.sigstore.cosign/chain, dev.sigstore.cosign/bundle,
//     dev.sigstore.cosign/rfc3161timestamp);
//   - Rekor v1 canonical entry bodies (hashedrekord 0.0.1, dsse 0.0.1,
//     intoto 0.0.1) and signed entry timestamps over
//     {"body","integratedTime","logID","logIndex"} in RFC 8785 form;
//   - Sigstore bundles (protobuf-specs bundle v0.3, JSON) with inclusion
//     proofs, signed checkpoints and RFC 3161 timestamps.
//
// The results are API-neutral (Layer, Artifact); LegacyImage and
// ReferrerImage turn them into go-containerregistry images. Nothing here
// talks to a network. Signatures are ECDSA and therefore randomised; every
// other byte is deterministic for given inputs and times.
//
// The package is safe for concurrent use as far as the VirtualSigstore it
// wraps is (its methods only read its keys).
package sign
