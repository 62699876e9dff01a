package sign

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// LegacyImage renders a as cosign renders a legacy signature/attestation
// manifest (the tag sha256-<hex>.sig or .att): an OCI image manifest whose
// config (application/vnd.oci.image.config.v1+json) lists the layers as
// diff ids, and one layer per Layer with its annotations.
func (a Artifact) LegacyImage() (v1.Image, error) {
	cfg := v1.ConfigFile{RootFS: v1.RootFS{Type: "layers"}}
	layers, descs, err := a.layers()
	if err != nil {
		return nil, err
	}
	for _, d := range descs {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, d.Digest)
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: marshalling config: %v", ErrSign, err)
	}
	return newRawImage(cfgJSON, MediaTypeOCIConfig, layers, descs, a.Annotations, nil, "")
}

// ReferrerImage renders a as an OCI 1.1 referrer of subject: an image
// manifest with the empty config (application/vnd.oci.empty.v1+json, "{}"),
// artifactType a.ArtifactType and subject set.
func (a Artifact) ReferrerImage(subject v1.Descriptor) (v1.Image, error) {
	layers, descs, err := a.layers()
	if err != nil {
		return nil, err
	}
	subj := v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest}
	return newRawImage([]byte("{}"), MediaTypeOCIEmpty, layers, descs, a.Annotations, &subj, a.ArtifactType)
}

func (a Artifact) layers() (map[v1.Hash]v1.Layer, []v1.Descriptor, error) {
	m := map[v1.Hash]v1.Layer{}
	var descs []v1.Descriptor
	for i, l := range a.Layers {
		sl := static.NewLayer(l.Data, types.MediaType(l.MediaType))
		d, err := sl.Digest()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: layer %d digest: %v", ErrSign, i, err)
		}
		m[d] = sl
		descs = append(descs, v1.Descriptor{MediaType: types.MediaType(l.MediaType), Size: int64(len(l.Data)), Digest: d, Annotations: l.Annotations})
	}
	return m, descs, nil
}

type rawImage struct {
	config   []byte
	manifest []byte
	layers   map[v1.Hash]v1.Layer
}

var _ partial.CompressedImageCore = (*rawImage)(nil)

func newRawImage(config []byte, configType string, layers map[v1.Hash]v1.Layer, descs []v1.Descriptor,
	ann map[string]string, subject *v1.Descriptor, artifactType string) (v1.Image, error) {
	ch, _, err := v1.SHA256(bytes.NewReader(config))
	if err != nil {
		return nil, fmt.Errorf("%w: config digest: %v", ErrSign, err)
	}
	if descs == nil {
		descs = []v1.Descriptor{}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.MediaType(configType), Size: int64(len(config)), Digest: ch},
		Layers:        descs,
		Annotations:   ann,
		Subject:       subject,
		ArtifactType:  artifactType,
	}
	if configType == MediaTypeOCIEmpty {
		m.Config.Data = config
	}
	mj, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: marshalling manifest: %v", ErrSign, err)
	}
	img, err := partial.CompressedToImage(&rawImage{config: config, manifest: mj, layers: layers})
	if err != nil {
		return nil, fmt.Errorf("%w: building image: %v", ErrSign, err)
	}
	return img, nil
}

func (r *rawImage) RawConfigFile() ([]byte, error)      { return r.config, nil }
func (r *rawImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (r *rawImage) RawManifest() ([]byte, error)        { return r.manifest, nil }
func (r *rawImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	l, ok := r.layers[h]
	if !ok {
		return nil, fmt.Errorf("%w: no layer %s", ErrInput, h)
	}
	return l, nil
}
