package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Bundle signatures (chain of custody): a Sigstore bundle whose DSSE
// statement names the bundle's index.json (without the signature's own
// entry) and its inventory, stored as an artifact manifest indexed with
// role "bundle-signature". docs/bundle-format.md specifies it.
const (
	// ArtifactTypeBundleSignature marks the bundle signature artifact; its
	// single layer (MediaTypeSigstoreBundle) is the Sigstore bundle.
	ArtifactTypeBundleSignature = "application/vnd.airlock.bundle-signature.v1"
	// MediaTypeSigstoreBundle is the media type of a Sigstore bundle v0.3 (JSON).
	MediaTypeSigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// RoleBundleSignature is the AnnotationRole of its index.json entry.
	RoleBundleSignature = "bundle-signature"
	// maxBundleSignature caps the Sigstore bundle read from a bundle.
	maxBundleSignature = 1 << 20
)

// IsBundleSignature reports whether an index.json entry is the bundle signature.
func IsBundleSignature(d v1.Descriptor) bool {
	return d.ArtifactType == ArtifactTypeBundleSignature || d.Annotations[AnnotationRole] == RoleBundleSignature
}

// SignedIndexDigest is the sha256 of index.json as a bundle signature
// covers it: the index manifest of these entries, bundle signature entries
// left out, encoded as the Writer encodes index.json.
func SignedIndexDigest(entries []v1.Descriptor) (string, error) {
	kept := slices.DeleteFunc(slices.Clone(entries), IsBundleSignature)
	if kept == nil {
		kept = []v1.Descriptor{}
	}
	raw, err := marshalJSON(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: kept})
	if err != nil {
		return "", fmt.Errorf("encoding index.json: %w", err)
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// IndexEntries returns a copy of the index.json entries added so far.
func (w *Writer) IndexEntries() []v1.Descriptor {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.index)
}

// PutBundleSignature stores a Sigstore bundle as the bundle signature
// artifact and adds its index.json entry.
func (w *Writer) PutBundleSignature(sigstoreBundle []byte) (v1.Descriptor, error) {
	d, err := w.PutArtifact(ArtifactTypeBundleSignature, []File{{Name: "bundle.sigstore.json", MediaType: MediaTypeSigstoreBundle, Data: sigstoreBundle}}, nil)
	if err != nil {
		return v1.Descriptor{}, err
	}
	d.Annotations = map[string]string{AnnotationRole: RoleBundleSignature}
	w.AddIndex(d)
	return d, nil
}

// BundleSignature returns the Sigstore bundle stored as the bundle
// signature and the digest of its artifact manifest. A bundle without one
// gives ErrNotFound; two are refused.
func (r *Reader) BundleSignature() ([]byte, v1.Hash, error) {
	var found []v1.Descriptor
	for _, d := range r.index.Manifests {
		if IsBundleSignature(d) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return nil, v1.Hash{}, fmt.Errorf("bundle signature: %w", ErrNotFound)
	case 1:
	default:
		return nil, v1.Hash{}, fmt.Errorf("%w: index.json has %d bundle signature entries", ErrMalformed, len(found))
	}
	m, err := r.ReadManifest(found[0].Digest)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("bundle signature: %w", err)
	}
	if m.ArtifactType != ArtifactTypeBundleSignature || len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeSigstoreBundle {
		return nil, v1.Hash{}, fmt.Errorf("%w: bundle signature manifest %s must have artifactType %s and one layer of type %s", ErrMalformed, found[0].Digest, ArtifactTypeBundleSignature, MediaTypeSigstoreBundle)
	}
	data, err := r.ReadBlob(m.Layers[0].Digest, maxBundleSignature)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("bundle signature: %w", err)
	}
	return data, found[0].Digest, nil
}

// InventoryDigest returns the digest of the inventory document (the layer
// of the inventory artifact), which a bundle signature names.
func (r *Reader) InventoryDigest() (string, error) {
	for _, d := range r.index.Manifests {
		if d.ArtifactType == MediaTypeInventory || d.Annotations[AnnotationRole] == RoleInventory {
			m, err := r.ReadManifest(d.Digest)
			if err != nil {
				return "", fmt.Errorf("inventory: %w", err)
			}
			if len(m.Layers) != 1 {
				return "", fmt.Errorf("%w: inventory manifest %s must have exactly one layer", ErrMalformed, d.Digest)
			}
			return m.Layers[0].Digest.String(), nil
		}
	}
	return "", fmt.Errorf("inventory: %w", ErrNotFound)
}
