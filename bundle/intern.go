package bundle

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// interner shares equal strings among the manifests a Reader parses: a
// catalogue's thousands of manifests repeat the same media types,
// annotation keys and digests, and each JSON decoding allocates its own
// copy. Not safe for concurrent use: each walk has its own.
type interner map[string]string

// newInterner starts from the digests of the bundle's blobs, whose names
// the Reader already holds.
func (r *Reader) newInterner() interner {
	in := make(interner, len(r.order)+64)
	for _, h := range r.order {
		in[h.Hex] = h.Hex
	}
	return in
}

func (in interner) str(s string) string {
	if c, ok := in[s]; ok {
		return c
	}
	in[s] = s
	return s
}

func (in interner) hash(h v1.Hash) v1.Hash {
	return v1.Hash{Algorithm: in.str(h.Algorithm), Hex: in.str(h.Hex)}
}

// annotations rebuilds m with shared keys and values: the copies decoded
// from JSON are then garbage.
func (in interner) annotations(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[in.str(k)] = in.str(v)
	}
	return out
}

func (in interner) descriptor(d *v1.Descriptor) {
	d.MediaType = types.MediaType(in.str(string(d.MediaType)))
	d.Digest = in.hash(d.Digest)
	d.ArtifactType = in.str(d.ArtifactType)
	d.Annotations = in.annotations(d.Annotations)
	if p := d.Platform; p != nil {
		p.OS, p.Architecture, p.Variant, p.OSVersion = in.str(p.OS), in.str(p.Architecture), in.str(p.Variant), in.str(p.OSVersion)
	}
}

func (in interner) manifest(m *v1.Manifest) {
	m.MediaType = types.MediaType(in.str(string(m.MediaType)))
	m.ArtifactType = in.str(m.ArtifactType)
	in.descriptor(&m.Config)
	for i := range m.Layers {
		in.descriptor(&m.Layers[i])
	}
	if m.Subject != nil {
		in.descriptor(m.Subject)
	}
	m.Annotations = in.annotations(m.Annotations)
}

func (in interner) index(idx *v1.IndexManifest) {
	idx.MediaType = types.MediaType(in.str(string(idx.MediaType)))
	idx.ArtifactType = in.str(idx.ArtifactType)
	for i := range idx.Manifests {
		in.descriptor(&idx.Manifests[i])
	}
	if idx.Subject != nil {
		in.descriptor(idx.Subject)
	}
	idx.Annotations = in.annotations(idx.Annotations)
}
