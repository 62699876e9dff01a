package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ChildKind says how a descriptor is referenced by its parent.
type ChildKind string

// Child kinds.
const (
	ChildManifest ChildKind = "manifest" // an entry of an index's manifests
	ChildConfig   ChildKind = "config"
	ChildLayer    ChildKind = "layer"
	ChildSubject  ChildKind = "subject"
)

type child struct {
	kind ChildKind
	desc v1.Descriptor
}

// parsed is a manifest or index read from the bundle, or an opaque blob.
type parsed struct {
	manifest *v1.Manifest
	index    *v1.IndexManifest
}

func (p parsed) children() []child {
	var out []child
	switch {
	case p.index != nil:
		for _, d := range p.index.Manifests {
			out = append(out, child{ChildManifest, d})
		}
		if p.index.Subject != nil {
			out = append(out, child{ChildSubject, *p.index.Subject})
		}
	case p.manifest != nil:
		out = append(out, child{ChildConfig, p.manifest.Config})
		for _, d := range p.manifest.Layers {
			out = append(out, child{ChildLayer, d})
		}
		if p.manifest.Subject != nil {
			out = append(out, child{ChildSubject, *p.manifest.Subject})
		}
	}
	return out
}

// isIndexType and isManifestType choose how a descriptor's blob is parsed.
func isIndexType(mt types.MediaType) bool {
	return mt == types.OCIImageIndex || mt == types.DockerManifestList
}

func isManifestType(mt types.MediaType) bool {
	return mt == types.OCIManifestSchema1 || mt == types.DockerManifestSchema2
}

// isExternal reports a non-distributable layer that may legitimately be
// absent from the bundle (it is fetched from its URLs).
func isExternal(d v1.Descriptor) bool {
	switch d.MediaType {
	case types.DockerForeignLayer, types.OCIRestrictedLayer, types.OCIUncompressedRestrictedLayer:
		return true
	}
	return false
}

// parseNode parses data according to the media type it was referenced
// with. Blobs of other media types are opaque and yield no children.
func parseNode(mt types.MediaType, data []byte) (parsed, error) {
	switch {
	case isIndexType(mt):
		idx, err := parseIndex(mt, data)
		return parsed{index: idx}, err
	case isManifestType(mt):
		m, err := parseManifest(mt, data)
		return parsed{manifest: m}, err
	}
	return parsed{}, nil
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON document")
	}
	return nil
}

// parseManifest decodes and checks an image or artifact manifest that a
// descriptor of media type mt points at.
func parseManifest(mt types.MediaType, data []byte) (*v1.Manifest, error) {
	var m v1.Manifest
	if err := decodeStrict(data, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: manifest schemaVersion %d, want 2", ErrMalformed, m.SchemaVersion)
	}
	if m.MediaType != "" && m.MediaType != mt {
		return nil, fmt.Errorf("%w: manifest says mediaType %q, its descriptor says %q", ErrMalformed, m.MediaType, mt)
	}
	if mt == types.DockerManifestSchema2 && m.MediaType == "" {
		return nil, fmt.Errorf("%w: docker manifest without mediaType", ErrMalformed)
	}
	if err := checkDescriptor("config", m.Config); err != nil {
		return nil, err
	}
	for i, d := range m.Layers {
		if err := checkDescriptor(fmt.Sprintf("layers[%d]", i), d); err != nil {
			return nil, err
		}
	}
	if m.Subject != nil {
		if err := checkDescriptor("subject", *m.Subject); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// parseIndex decodes and checks an image index (or docker manifest list).
func parseIndex(mt types.MediaType, data []byte) (*v1.IndexManifest, error) {
	var idx v1.IndexManifest
	if err := decodeStrict(data, &idx); err != nil {
		return nil, fmt.Errorf("%w: index: %v", ErrMalformed, err)
	}
	if idx.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: index schemaVersion %d, want 2", ErrMalformed, idx.SchemaVersion)
	}
	if idx.MediaType != "" && idx.MediaType != mt {
		return nil, fmt.Errorf("%w: index says mediaType %q, its descriptor says %q", ErrMalformed, idx.MediaType, mt)
	}
	for i, d := range idx.Manifests {
		if err := checkDescriptor(fmt.Sprintf("manifests[%d]", i), d); err != nil {
			return nil, err
		}
	}
	if idx.Subject != nil {
		if err := checkDescriptor("subject", *idx.Subject); err != nil {
			return nil, err
		}
	}
	return &idx, nil
}

func checkDescriptor(where string, d v1.Descriptor) error {
	if err := checkHash(d.Digest); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: %s %s has negative size %d", ErrMalformed, where, d.Digest, d.Size)
	}
	if d.MediaType == "" {
		return fmt.Errorf("%w: %s %s has no mediaType", ErrMalformed, where, d.Digest)
	}
	return nil
}
