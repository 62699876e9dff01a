package bundle

import (
	"fmt"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Graph is the content graph of a bundle, walked from index.json.
type Graph struct {
	// Roots are index.json's entries, in order.
	Roots []v1.Descriptor
	// Nodes holds every blob reached, by digest.
	Nodes map[v1.Hash]*Node
	// Orphans are blobs of the bundle that nothing references, sorted.
	Orphans []v1.Hash
	// External are non-distributable layers referenced but not carried.
	External []v1.Descriptor
}

// Node is one blob of the graph.
type Node struct {
	// Descriptor is the first descriptor found for the blob.
	Descriptor v1.Descriptor
	// Root is true when index.json names the blob.
	Root bool
	// Parents are the manifests and indexes that reference the blob, with
	// how they reference it, in walk order.
	Parents []Edge
	// Manifest or Index is set when the blob was parsed as one.
	Manifest *v1.Manifest
	Index    *v1.IndexManifest
	// Depth is the shortest nesting level from index.json (roots are 1).
	Depth int
	// Omitted is set for a blob a delta bundle leaves out (delta.go): the
	// target is expected to hold it.
	Omitted bool
}

// Edge links a node to one of its parents.
type Edge struct {
	Parent v1.Hash
	Kind   ChildKind
}

// Graph walks the bundle from index.json: every index and manifest is read
// (capped at Limits.MaxManifestSize, verified) and parsed, and every
// descriptor it holds (manifests, config, layers, subject) must name a blob
// of the bundle with the same size. Nesting deeper than Limits.MaxDepth is
// refused. Layers are not hashed here: VerifyBlobs does that.
func (r *Reader) Graph() (*Graph, error) {
	g := &Graph{Roots: slices.Clone(r.index.Manifests), Nodes: make(map[v1.Hash]*Node)}
	type item struct {
		desc  v1.Descriptor
		depth int
	}
	var queue []item
	in := r.newInterner()
	visit := func(d v1.Descriptor, depth int, parent *v1.Hash, kind ChildKind, where string) error {
		size, ok := r.Stat(d.Digest)
		if !ok {
			if isExternal(d) {
				g.External = append(g.External, d)
				return nil
			}
			if omitted, err := r.visitOmitted(d); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			} else if omitted {
				n, seen := g.Nodes[d.Digest]
				if !seen {
					n = &Node{Descriptor: d, Depth: depth, Omitted: true}
					g.Nodes[d.Digest] = n
				}
				if parent != nil {
					n.Parents = append(n.Parents, Edge{Parent: *parent, Kind: kind})
				}
				return nil
			}
			return fmt.Errorf("%w: %s names %s, which is not in the bundle", ErrDanglingDescriptor, where, d.Digest)
		}
		if size != d.Size {
			return fmt.Errorf("%w: %s names %s with size %d, the blob has %d bytes", ErrSizeMismatch, where, d.Digest, d.Size, size)
		}
		n, seen := g.Nodes[d.Digest]
		if !seen {
			n = &Node{Descriptor: d, Depth: depth}
			g.Nodes[d.Digest] = n
		}
		if parent == nil {
			n.Root = true
		} else {
			n.Parents = append(n.Parents, Edge{Parent: *parent, Kind: kind})
		}
		if !seen && (isIndexType(d.MediaType) || isManifestType(d.MediaType)) {
			if depth > r.opts.limits.MaxDepth {
				return fmt.Errorf("%w: %s at nesting level %d, limit %d", ErrTooDeep, d.Digest, depth, r.opts.limits.MaxDepth)
			}
			queue = append(queue, item{d, depth})
		}
		return nil
	}
	for i, d := range r.index.Manifests {
		if err := visit(d, 1, nil, "", fmt.Sprintf("index.json manifests[%d]", i)); err != nil {
			return nil, err
		}
	}
	// Breadth first, so Depth is the shortest path and a long chain of
	// subjects cannot hide a short one.
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		h := it.desc.Digest
		data, err := r.ReadBlob(h, r.opts.limits.MaxManifestSize)
		if err != nil {
			return nil, fmt.Errorf("reading %s %s: %w", it.desc.MediaType, h, err)
		}
		p, err := parseNode(it.desc.MediaType, data)
		if err != nil {
			return nil, fmt.Errorf("parsing %s %s: %w", it.desc.MediaType, h, err)
		}
		switch {
		case p.manifest != nil:
			in.manifest(p.manifest)
		case p.index != nil:
			in.index(p.index)
		}
		n := g.Nodes[h]
		n.Manifest, n.Index = p.manifest, p.index
		for i, c := range p.children() {
			where := fmt.Sprintf("%s %s %s (#%d)", it.desc.MediaType, h, c.kind, i)
			if err := visit(c.desc, it.depth+1, &h, c.kind, where); err != nil {
				return nil, err
			}
		}
	}
	for _, h := range r.order {
		if _, ok := g.Nodes[h]; !ok {
			g.Orphans = append(g.Orphans, h)
		}
	}
	slices.SortFunc(g.Orphans, func(a, b v1.Hash) int {
		switch {
		case a.Hex < b.Hex:
			return -1
		case a.Hex > b.Hex:
			return 1
		}
		return 0
	})
	r.opts.logger.Debug("bundle graph walked", "path", r.path, "nodes", len(g.Nodes), "orphans", len(g.Orphans), "external", len(g.External))
	return g, nil
}

// Inventory finds the index.json entry of the inventory (artifactType
// MediaTypeInventory or role "inventory"), reads its artifact manifest and
// its single layer (capped at Limits.MaxInventorySize) and parses it.
// A bundle without one gives ErrNotFound; two are refused.
func (r *Reader) Inventory() (*Inventory, error) {
	var found []v1.Descriptor
	for _, d := range r.index.Manifests {
		if d.ArtifactType == MediaTypeInventory || d.Annotations[AnnotationRole] == RoleInventory {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("inventory: %w", ErrNotFound)
	case 1:
	default:
		return nil, fmt.Errorf("%w: index.json has %d inventory entries (%s, %s, ...)", ErrMalformed, len(found), found[0].Digest, found[1].Digest)
	}
	d := found[0]
	if d.MediaType != types.OCIManifestSchema1 {
		return nil, fmt.Errorf("%w: inventory entry %s has mediaType %q, want %q", ErrMalformed, d.Digest, d.MediaType, types.OCIManifestSchema1)
	}
	m, err := r.ReadManifest(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	if m.ArtifactType != MediaTypeInventory {
		return nil, fmt.Errorf("%w: inventory manifest %s has artifactType %q", ErrMalformed, d.Digest, m.ArtifactType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeInventory {
		return nil, fmt.Errorf("%w: inventory manifest %s must have exactly one layer of type %s", ErrMalformed, d.Digest, MediaTypeInventory)
	}
	l := m.Layers[0]
	if size, ok := r.Stat(l.Digest); !ok {
		return nil, fmt.Errorf("%w: inventory layer %s is not in the bundle", ErrDanglingDescriptor, l.Digest)
	} else if size != l.Size {
		return nil, fmt.Errorf("%w: inventory layer %s: descriptor says %d bytes, blob has %d", ErrSizeMismatch, l.Digest, l.Size, size)
	}
	data, err := r.ReadBlobOnce(l.Digest, r.opts.limits.MaxInventorySize)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	inv, err := parseInventory(data, r.opts.limits.MaxInventorySize)
	if err != nil {
		return nil, fmt.Errorf("inventory layer %s: %w", l.Digest, err)
	}
	return inv, nil
}
