package airlock

import (
	"fmt"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
)

// Inspection is what a bundle carries, as `airlock inspect` shows it. It is
// read from the bundle's index, manifests and inventory without hashing the
// layers: it describes, `airlock verify` proves.
type Inspection struct {
	Bundle   string               `json:"bundle"`
	Exporter bundle.Exporter      `json:"exporter"`
	Images   []InspectedImage     `json:"images"`
	Trust    []bundle.TrustSource `json:"trust"`
	Blobs    int                  `json:"blobs"`
	Bytes    int64                `json:"bytes"`
	// Signature describes the bundle signature, as claimed (inspect does
	// not verify it: verify does).
	Signature *InspectedSignature `json:"signature,omitempty"`
	// Parts describes a split bundle's parts and any repair.
	Parts *bundle.PartsStatus `json:"parts,omitempty"`
}

// InspectedImage is one image and what vouches for it.
type InspectedImage struct {
	bundle.Image
	// TotalSize is the size of every blob of the image (manifests, configs,
	// layers), each counted once.
	TotalSize int64 `json:"totalSize"`
	// Vouching groups the attached artifacts: signatures, attestations by
	// predicate type, SBOMs, other referrers.
	Vouching Vouching `json:"vouching"`
}

// Vouching counts what is attached to an image.
type Vouching struct {
	Signatures   int            `json:"signatures"`
	Attestations map[string]int `json:"attestations"` // by predicate type
	SBOMs        int            `json:"sboms"`
	Other        map[string]int `json:"other"` // by artifact type
}

// Inspect reads a bundle's inventory and content graph.
func Inspect(path string, opts ...Option) (*Inspection, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	r, err := bundle.Open(path, bundle.WithReaderLogger(o.logger))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	g, err := r.Graph()
	if err != nil {
		return nil, err
	}
	inv, err := r.Inventory()
	if err != nil {
		return nil, err
	}
	ins := &Inspection{Bundle: path, Exporter: inv.Exporter, Trust: inv.Trust}
	ins.Signature, ins.Parts = inspectSignature(r), r.Parts()
	for _, h := range r.Blobs() {
		size, _ := r.Stat(h)
		ins.Blobs++
		ins.Bytes += size
	}
	children := map[v1.Hash][]v1.Hash{}
	for h, n := range g.Nodes {
		for _, e := range n.Parents {
			children[e.Parent] = append(children[e.Parent], h)
		}
	}
	for _, img := range inv.Images {
		ii := InspectedImage{Image: img, Vouching: Vouching{Attestations: map[string]int{}, Other: map[string]int{}}}
		root, err := v1.NewHash(img.Digest)
		if err != nil {
			return nil, fmt.Errorf("%w: inventory image %s: %v", bundle.ErrInvalidBundle, img.Reference, err)
		}
		if _, ok := g.Nodes[root]; !ok {
			return nil, fmt.Errorf("%w: inventory image %s names %s, which the bundle does not hold", bundle.ErrInvalidBundle, img.Reference, img.Digest)
		}
		ii.TotalSize = reachableSize(g, children, root)
		for _, a := range img.Artifacts {
			ii.Vouching.add(a)
		}
		ins.Images = append(ins.Images, ii)
	}
	return ins, nil
}

// reachableSize sums the sizes of root and everything below it, once each.
// Subjects are not followed (they point up, not down).
func reachableSize(g *bundle.Graph, children map[v1.Hash][]v1.Hash, root v1.Hash) int64 {
	seen := map[v1.Hash]bool{}
	var total int64
	stack := []v1.Hash{root}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[h] {
			continue
		}
		seen[h] = true
		n, ok := g.Nodes[h]
		if !ok {
			continue
		}
		total += n.Descriptor.Size
		for _, c := range children[h] {
			if cn := g.Nodes[c]; cn != nil && isChildEdge(cn, h) {
				stack = append(stack, c)
			}
		}
	}
	return total
}

// isChildEdge reports whether n is held by parent as a manifest, config or
// layer (not merely naming parent as its subject).
func isChildEdge(n *bundle.Node, parent v1.Hash) bool {
	for _, e := range n.Parents {
		if e.Parent == parent && e.Kind != bundle.ChildSubject {
			return true
		}
	}
	return false
}

func (v *Vouching) add(a bundle.Artifact) {
	switch a.Kind {
	case artifact.KindCosignSignature, artifact.KindNotationSignature:
		v.Signatures++
	case artifact.KindCosignAttestation, artifact.KindBuildKitAttestation:
		v.addAttestation(a)
	case artifact.KindSigstoreBundle:
		// cosign --new-bundle-format signs with a DSSE attestation whose
		// predicate type says it is a signature.
		if len(a.PredicateTypes) == 0 || (len(a.PredicateTypes) == 1 && a.PredicateTypes[0] == predicateCosignSign) {
			v.Signatures++
		} else {
			v.addAttestation(a)
		}
	case artifact.KindCosignSBOM, artifact.KindSBOM:
		v.SBOMs++
	default:
		t := a.ArtifactType
		if t == "" {
			t = a.MediaType
		}
		v.Other[t]++
	}
}

func (v *Vouching) addAttestation(a bundle.Artifact) {
	if len(a.PredicateTypes) == 0 {
		v.Attestations["(unknown predicate type)"]++
		return
	}
	for _, p := range a.PredicateTypes {
		v.Attestations[p]++
		if isSBOMPredicate(p) {
			v.SBOMs++
		}
	}
}

const predicateCosignSign = "https://sigstore.dev/cosign/sign/v1"

func isSBOMPredicate(p string) bool {
	switch p {
	case "https://spdx.dev/Document", "https://cyclonedx.org/bom", "https://spdx.dev/Document/v2.3":
		return true
	}
	return false
}

// SortedKeys returns m's keys in order (for stable output).
func SortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
