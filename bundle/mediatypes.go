package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media and artifact types defined by airlock.
const (
	// MediaTypeInventory is the artifactType of the inventory artifact
	// manifest and the media type of its single layer.
	MediaTypeInventory = "application/vnd.airlock.inventory.v1+json"
	// ArtifactTypeTUF marks one captured TUF repository; its layers are the
	// repository's files, titled with their TUF paths.
	ArtifactTypeTUF = "application/vnd.airlock.trust.tuf.v1"
	// ArtifactTypeTrustedRoot marks a plain trusted_root.json carried as data
	// (it is not trusted because it is in the bundle).
	ArtifactTypeTrustedRoot = "application/vnd.airlock.trust.trusted-root.v1"
	// ArtifactTypePublicKey marks a public key file carried as data.
	ArtifactTypePublicKey = "application/vnd.airlock.trust.public-key.v1"
)

// Annotation keys used on index.json entries and layers.
const (
	// AnnotationRefName holds the full reference of an image, for example
	// "localhost:5000/app:v1" (skopeo and oras accept it).
	AnnotationRefName = "org.opencontainers.image.ref.name"
	// AnnotationImageName holds the same full reference, for containerd.
	AnnotationImageName = "io.containerd.image.name"
	// AnnotationTitle holds the file name of a layer (the TUF path of a trust file).
	AnnotationTitle = "org.opencontainers.image.title"
	// AnnotationRole says what an index.json entry is: one of the Role* values.
	AnnotationRole = "dev.airlock.role"
	// AnnotationTag holds the legacy cosign tag of an artifact entry as a
	// full reference, for example "localhost:5000/app:sha256-<hex>.sig".
	// Artifact entries never carry AnnotationRefName: containerd imports
	// every named entry as an image and fails to unpack a signature.
	AnnotationTag = "dev.airlock.tag"
	// AnnotationSubject holds the subject digest of a referrers fallback
	// index entry (RoleReferrers).
	AnnotationSubject = "dev.airlock.subject"
)

// Values of AnnotationRole.
const (
	RoleImage     = "image"
	RoleArtifact  = "artifact"
	RoleInventory = "inventory"
	RoleTrust     = "trust"
	// RoleReferrers marks the OCI referrers fallback index of one subject,
	// named by its fallback tag "sha256-<hex>" (OCI distribution spec,
	// "Referrers Tag Schema") so that layout readers (regctl, oras) find
	// referrers the way they find them in a registry without the API.
	RoleReferrers = "referrers"
)

// EmptyJSON is the content of the OCI empty descriptor: the config of every
// artifact manifest airlock writes.
var EmptyJSON = []byte("{}")

// EmptyDescriptor returns the OCI 1.1 empty descriptor
// (application/vnd.oci.empty.v1+json, content "{}").
func EmptyDescriptor() v1.Descriptor {
	return v1.Descriptor{
		MediaType: types.OCIEmptyJSON,
		Size:      2,
		Digest: v1.Hash{
			Algorithm: "sha256",
			Hex:       "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
		},
	}
}

// File is one file carried as a layer of an artifact manifest.
type File struct {
	// Name becomes the layer's org.opencontainers.image.title annotation.
	Name string
	// MediaType of the layer; application/octet-stream when empty.
	MediaType types.MediaType
	Data      []byte
	// Annotations added to the layer descriptor besides the title.
	Annotations map[string]string
}

// NewArtifactManifest builds an OCI 1.1 artifact manifest: config is the
// empty descriptor, artifactType is set, layers are the given descriptors.
// Annotations are copied.
func NewArtifactManifest(artifactType string, layers []v1.Descriptor, annotations map[string]string) (*v1.Manifest, error) {
	if artifactType == "" {
		return nil, fmt.Errorf("%w: artifact manifest needs an artifactType", ErrInvalidOption)
	}
	if layers == nil {
		layers = []v1.Descriptor{}
	}
	m := &v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        EmptyDescriptor(),
		Layers:        layers,
	}
	if len(annotations) > 0 {
		m.Annotations = maps.Clone(annotations)
	}
	return m, nil
}

// marshalJSON encodes v without HTML escaping and without a trailing newline,
// so that the bytes (and therefore digests) are stable.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
