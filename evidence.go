package airlock

import (
	"fmt"
	"maps"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/verify"
)

// kindOf maps an inventory artifact kind to the verifier's kind.
func kindOf(k string) verify.Kind {
	switch k {
	case bundle.KindCosignSignature:
		return verify.KindCosignSignature
	case bundle.KindCosignAttestation:
		return verify.KindCosignAttestation
	case bundle.KindSigstoreBundle:
		return verify.KindSigstoreBundle
	case bundle.KindCosignSBOM:
		return verify.KindCosignSBOM
	case bundle.KindBuildkitAttestation:
		return verify.KindBuildKitAttestation
	}
	return verify.KindReferrer
}

// needsData reports whether the verifier reads the layer content of a kind.
func needsData(k verify.Kind) bool {
	switch k {
	case verify.KindCosignSignature, verify.KindCosignAttestation, verify.KindSigstoreBundle, verify.KindBuildKitAttestation:
		return true
	}
	return false
}

// collectEvidence reads, from the bundle, every layer of every artifact the
// inventory lists for img. The inventory only says where to look: every
// claim that matters (what a signature covers, who signed) is checked
// against the signed content by the verifier. Evidence that cannot be read
// becomes a failed finding, never a silent omission.
func collectEvidence(r *bundle.Reader, g *bundle.Graph, img bundle.Image) ([]verify.Evidence, []verify.Finding) {
	var evs []verify.Evidence
	var problems []verify.Finding
	for _, a := range img.Artifacts {
		kind := kindOf(a.Kind)
		fail := func(format string, args ...any) {
			problems = append(problems, verify.Finding{Kind: kind, Manifest: a.Digest, Subject: a.Subject,
				ArtifactType: a.ArtifactType, Status: verify.StatusFailed, Reason: fmt.Sprintf(format, args...)})
		}
		h, err := v1.NewHash(a.Digest)
		if err != nil {
			fail("inventory names an invalid digest %q: %v", a.Digest, err)
			continue
		}
		// The graph walk already read, checked and parsed every manifest.
		n := g.Nodes[h]
		switch {
		case n == nil:
			fail("artifact manifest %s is not in the bundle's content graph", a.Digest)
			continue
		case n.Manifest == nil:
			fail("artifact %s is not an image manifest", a.Digest)
			continue
		}
		m := *n.Manifest
		if len(m.Layers) == 0 {
			fail("artifact manifest %s has no layers", a.Digest)
			continue
		}
		subject := a.Subject
		if m.Subject != nil && m.Subject.Digest.String() != subject {
			// The manifest's own subject field outranks the inventory.
			subject = m.Subject.Digest.String()
		}
		for i, l := range m.Layers {
			ann := maps.Clone(m.Annotations)
			if ann == nil {
				ann = map[string]string{}
			}
			maps.Copy(ann, l.Annotations)
			ev := verify.Evidence{Kind: kind, Manifest: a.Digest, Layer: i, Subject: subject,
				MediaType: string(l.MediaType), ArtifactType: m.ArtifactType, Annotations: ann}
			if needsData(kind) {
				if l.Size > verify.MaxEvidenceSize {
					problems = append(problems, verify.Finding{Kind: kind, Manifest: a.Digest, Layer: i, Subject: subject,
						ArtifactType: m.ArtifactType, Status: verify.StatusUnverifiable,
						Reason: fmt.Sprintf("layer %s is %d bytes, over the %d-byte limit for evidence", l.Digest, l.Size, verify.MaxEvidenceSize)})
					continue
				}
				data, err := r.ReadBlob(l.Digest, verify.MaxEvidenceSize)
				if err != nil {
					problems = append(problems, verify.Finding{Kind: kind, Manifest: a.Digest, Layer: i, Subject: subject,
						ArtifactType: m.ArtifactType, Status: verify.StatusFailed, Reason: fmt.Sprintf("reading layer %s: %v", l.Digest, err)})
					continue
				}
				ev.Data = data
			}
			evs = append(evs, ev)
		}
	}
	return evs, problems
}

// indexEntries lists the children of the image index at digest as the
// index manifest itself lists them (the graph read it and checked its
// digest), for the policy to bind BuildKit attestation manifests to the
// index's signatures. nil when digest is not an index in the graph.
func indexEntries(g *bundle.Graph, digest string) []verify.IndexEntry {
	h, err := v1.NewHash(digest)
	if err != nil || g == nil {
		return nil
	}
	n := g.Nodes[h]
	if n == nil || n.Index == nil {
		return nil
	}
	out := make([]verify.IndexEntry, 0, len(n.Index.Manifests))
	for _, d := range n.Index.Manifests {
		e := verify.IndexEntry{Digest: d.Digest.String(), MediaType: string(d.MediaType), Annotations: d.Annotations}
		if d.Platform != nil {
			e.Platform = d.Platform.String()
		}
		out = append(out, e)
	}
	return out
}
