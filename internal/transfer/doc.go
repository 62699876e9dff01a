// Package transfer is the import algorithm: what goes where in the target
// registry, and in which order.
//
// It has two halves. The planner ([New], [Image.Settle]) is pure: from the
// bundle's verified content graph ([bundle.Graph], [bundle.CheckedImage]),
// the images selected to go, and the target prefix, it derives for each
// image the repository it lands in, its blobs (once each; non-distributable
// layers are not carried; a delta bundle's left-out blobs listed apart),
// its manifests children first, the artifacts attached to it subjects
// first, and its tags; each tag's outcome is typed ([TagOutcome]) and
// decided from what the target's tags point at now. It reads no bundle and
// talks to no registry, so it is tested without either.
//
// The executor ([Executor]) carries a plan out against a registry through
// internal/registry: it stages every carried blob in an upload session
// while the bundle is hashed ([Executor.Stage]), checks that the target
// holds what a delta bundle left out ([Executor.EnsureOmitted]), and only
// when every check passed commits the uploads and pushes, per image,
// platform manifests, indexes, the artifacts attached to them (referrers
// through the referrers API or the OCI fallback tag), and the tags last
// ([Executor.Commit]), so that no tag ever points at something incomplete.
//
// Verification itself (trust, evidence, policy) is the caller's: this
// package never imports verify or trust.
package transfer
