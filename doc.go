// Package airlock is the library behind the airlock command: it joins the
// registry client, the bundle format, the trust store and the offline
// verifier into the three flows of an air-gap transfer.
//
//   - Export (connected side): discover images and everything attached to
//     them, capture TUF trust roots, write one bundle.
//   - Verify (air-gapped side): check the bundle's integrity, its TUF
//     material against pinned roots, every signature and attestation, and
//     the operator's policy, fully offline.
//   - Import (air-gapped side): verify, then push exactly the verified bytes,
//     signatures included, into an internal registry.
//
// Transfers as operators run them: Export signs the bundle (WithSignKey),
// leaves out what the target acknowledged holding (WithSince, from an
// import receipt's holds) and writes parts with parity (WithSplit); Verify
// checks the bundle signature against the policy's bundle: section
// (WithBundleKey) before judging any image; Import checks the target holds
// every blob a delta left out before committing anything.
//
// The bundle format is specified in docs/bundle-format.md; the trust model in
// docs/trust.md; policies in docs/policy.md; the report in docs/report.md.
package airlock
