// Package registry talks to OCI registries for airlock: it discovers an image
// together with everything attached to it (legacy cosign tags, OCI 1.1
// referrers through the API or the tag fallback, BuildKit attestation
// manifests) on the connected side, and pushes blobs, manifests and referrer
// fallback indexes into the internal registry on the far side.
//
// It implements the parts of the OCI Distribution Specification v1.1 that
// airlock needs, in particular "Listing Referrers" and the "Referrers Tag
// Schema":
//
//	"If the registry does not support the referrers API, the client MAY use
//	 the fallback tag ... <alg>-<ref> ... an image index of descriptors of the
//	 referrers."
//
// Export side: [Client.Discover] returns a [Discovery] (root, platform
// manifests, attached artifacts with how each was found, blobs with the
// repository to read them from); [Client.DiscoverAll] discovers many images
// at once, at most [DiscoverOptions.Jobs] requests in flight per registry,
// and yields them in order; [Client.FetchBlob] streams a blob through a
// size and digest check.
//
// Import side, in this order: [Client.StageBlob] for every blob while the
// bundle is checked and [Staged.Commit] once every check passed (or
// [Client.PushBlob], both in one; the same upload path), then
// [Client.PushManifest] for children before indexes and subjects before their
// referrers (registries refuse a manifest whose parts are missing), then, when
// [Client.ReferrersAPI] reports false, [Client.AddFallbackReferrer] for each
// referrer; tags last. PushManifest never maintains fallback tags by itself
// (unlike go-containerregistry's remote.Put), so nothing is done twice.
//
// Authentication goes through go-containerregistry's transport package (a
// keychain resolves credentials, bearer tokens are refreshed there). A Client
// pings each registry (GET /v2/: http or https, and its auth challenge) once
// and replays that answer to the handshake of every repository, which still
// gets a token of its own scope: a catalogue of many repositories costs one
// ping per registry, not one per image (ping.go). Resolve
// uses go-containerregistry's remote.Head on that transport; the other
// requests are built here, each saying why remote does not fit (a tighter
// manifest cap, the Docker-Content-Digest check, Link pagination, explicit
// control of the fallback tag, upload sessions held open, resumable blob
// streams). Every answer, remote's included, is classified: a 404 means
// "none", while 401, 403, 429, 5xx, timeouts and dropped connections (after
// retries) are errors that name the image, the digest and the registry's
// answer, never a silent "none".
//
// One retry policy (WithRetries, WithBackoff) covers every request, upload
// and blob stream: a blob stream that breaks resumes where it stopped, so
// callers never retry themselves.
//
// Every manifest read is capped at [MaxManifestSize] and checked against its
// digest; blobs stream through a reader that checks size and digest.
//
// A [Client] is safe for concurrent use. The package never imports airlock's
// bundle, trust or verify packages: the orchestration maps these types onto theirs.
package registry
