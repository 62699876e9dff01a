package bundle

import (
	"fmt"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Delta bundles leave out blobs the target already holds (docs/bundle-format.md,
// "Omitted blobs"): the inventory lists each one with its size and the
// receipt (or earlier bundle) that says the target holds it; descriptors
// naming an omitted blob are accepted by Graph, which marks the node
// Omitted. Manifests, indexes, signatures, attestations and trust files are
// never omitted.

// OmittedBlob is one blob a delta bundle leaves out.
type OmittedBlob struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType,omitempty"`
	// Source names the receipt or earlier bundle that says the target holds it.
	Source string `json:"source"`
	// Repository is where that source says the target holds it (for a
	// cross-repository mount), when known.
	Repository string `json:"repository,omitempty"`
}

func validateOmitted(list []OmittedBlob) error {
	seen := make(map[string]bool, len(list))
	for i, o := range list {
		if err := checkDigest(o.Digest); err != nil {
			return fmt.Errorf("omitted[%d] digest: %v", i, err)
		}
		if o.Size < 0 {
			return fmt.Errorf("omitted[%d] (%s) size %d is negative", i, o.Digest, o.Size)
		}
		if seen[o.Digest] {
			return fmt.Errorf("omitted[%d]: %s listed twice", i, o.Digest)
		}
		seen[o.Digest] = true
	}
	return nil
}

// Omit leaves a blob out of the bundle on purpose: it is no longer fetched
// at Commit, and descriptors naming it are accepted. The caller lists it in
// the inventory's Omitted. A blob also Put is carried all the same.
func (w *Writer) Omit(desc v1.Descriptor) error {
	if err := checkHash(desc.Digest); err != nil {
		return fmt.Errorf("omitting blob: %w", err)
	}
	if isManifestType(desc.MediaType) || isIndexType(desc.MediaType) {
		return fmt.Errorf("%w: %s is a %s: manifests are always carried", ErrInvalidOption, desc.Digest, desc.MediaType)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.omitted == nil {
		w.omitted = map[v1.Hash]v1.Descriptor{}
	}
	delete(w.reserved, desc.Digest)
	w.omitted[desc.Digest] = desc
	return nil
}

// withOmitted is reserved plus omitted blobs, for checkWriterGraph.
func withOmitted(reserved, omitted map[v1.Hash]v1.Descriptor) map[v1.Hash]v1.Descriptor {
	if len(omitted) == 0 {
		return reserved
	}
	all := make(map[v1.Hash]v1.Descriptor, len(reserved)+len(omitted))
	for h, d := range omitted {
		all[h] = d
	}
	for h, d := range reserved {
		all[h] = d
	}
	return all
}

// omittedSet reads, once, the inventory's omitted blobs (none when the
// inventory is missing or invalid: Inventory reports that).
type omittedSet struct {
	once sync.Once
	m    map[v1.Hash]int64
}

func (r *Reader) omittedSize(h v1.Hash) (int64, bool) {
	r.omit.once.Do(func() {
		inv, err := r.Inventory()
		if err != nil {
			return
		}
		r.omit.m = make(map[v1.Hash]int64, len(inv.Omitted))
		for _, o := range inv.Omitted {
			if d, err := parseDigest(o.Digest); err == nil {
				r.omit.m[d] = o.Size
			}
		}
	})
	s, ok := r.omit.m[h]
	return s, ok
}

// visitOmitted accepts a descriptor whose blob the inventory lists as
// omitted with the same size; manifests never are.
func (r *Reader) visitOmitted(d v1.Descriptor) (bool, error) {
	size, ok := r.omittedSize(d.Digest)
	if !ok {
		return false, nil
	}
	if isManifestType(d.MediaType) || isIndexType(d.MediaType) {
		return false, fmt.Errorf("%w: the inventory lists %s (a %s) as omitted; manifests are always carried", ErrDanglingDescriptor, d.Digest, d.MediaType)
	}
	if size != d.Size {
		return false, fmt.Errorf("%w: %s is omitted with size %d, referenced with size %d", ErrSizeMismatch, d.Digest, size, d.Size)
	}
	return true, nil
}
