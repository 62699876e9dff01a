// Package bundle reads and writes airlock bundles: a tar archive of a plain
// OCI image layout (image-spec v1.1 "OCI Image Layout Specification":
// oci-layout, index.json, blobs/sha256/<hex>) that skopeo, oras, crane and
// containerd read as it is. docs/bundle-format.md specifies the format.
//
// Besides images, index.json names one artifact manifest per signature,
// attestation, SBOM or other referrer (role "artifact"), one per trust
// source (role "trust"), and the inventory (role "inventory"): an OCI 1.1
// artifact manifest whose single layer is the JSON Inventory.
//
// Writer streams a bundle with bounded memory: small blobs are held in
// memory, large blobs are reserved and streamed at Commit by a Fetcher
// straight to their precomputed place in the archive, checked against size
// and sha256, then the file is synced and renamed into place.
//
// Reader opens a bundle for random access without unpacking it. A bundle is
// hostile until verified: Open refuses unsafe tar entries (traversal,
// absolute paths, links, devices, anything outside the layout, duplicates,
// truncation), every read is capped by Limits and verified against its
// digest, Graph checks that every descriptor resolves, VerifyBlobs hashes
// every blob in parallel.
//
// Transfers (docs/bundle-format.md section 11): a bundle signature is one
// more artifact (role "bundle-signature", SignedIndexDigest says what it
// covers); a delta bundle leaves out blobs its inventory lists as Omitted,
// which Graph accepts as Omitted nodes; WithSplit writes numbered parts with
// Reed–Solomon parity and a parts manifest, which Open reads in place
// (rebuilding damaged parts) when the plain file is absent, and an
// interrupted split Commit resumes.
//
// The inventory is an index, not evidence. Reconcile derives the images from
// the content graph (index.json entries, the image index's children, each
// artifact's tag or manifest subject) and refuses a bundle whose inventory
// says otherwise; the CheckedImage values it returns are what verification
// and import consume. ParseName gives every image its one canonical Name
// (distribution reference grammar).
//
// This package is the archive format only: it talks to no registry and
// judges no signature.
package bundle
