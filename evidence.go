package airlock

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/verify"
)

// kindOf maps an inventory artifact kind to the kind the verifier checks:
// kinds it has no check for (notation signatures, SBOM referrers) are plain
// referrers to it.
func kindOf(k artifact.Kind) verify.Kind {
	switch k {
	case artifact.KindCosignSignature:
		return artifact.KindCosignSignature
	case artifact.KindCosignAttestation:
		return artifact.KindCosignAttestation
	case artifact.KindSigstoreBundle:
		return artifact.KindSigstoreBundle
	case artifact.KindCosignSBOM:
		return artifact.KindCosignSBOM
	case artifact.KindBuildKitAttestation:
		return artifact.KindBuildKitAttestation
	}
	return artifact.KindReferrer
}

// needsData reports whether the verifier reads the layer content of a kind.
func needsData(k verify.Kind) bool {
	switch k {
	case artifact.KindCosignSignature, artifact.KindCosignAttestation, artifact.KindSigstoreBundle, artifact.KindBuildKitAttestation:
		return true
	}
	return false
}

// checkEvidence is verify.Check; tests count the calls through it.
var checkEvidence = verify.Check

// evidenceChecker checks each distinct piece of evidence once per
// verification: two layers with the same kind, subject, media type,
// artifact type, annotations and blob are one piece of evidence, however
// many manifests or listings carry them. Not safe for concurrent use.
type evidenceChecker struct {
	r    *bundle.Reader
	tm   *verify.TrustMaterial
	opts verify.Options
	done map[string]verify.Finding
}

func newEvidenceChecker(r *bundle.Reader, tm *verify.TrustMaterial, opts verify.Options) *evidenceChecker {
	return &evidenceChecker{r: r, tm: tm, opts: opts, done: map[string]verify.Finding{}}
}

// evidenceKey identifies a piece of evidence by everything the verifier reads.
func evidenceKey(ev verify.Evidence, layer v1.Hash) string {
	b, _ := json.Marshal([]any{ev.Kind, ev.Subject, ev.MediaType, ev.ArtifactType, ev.Annotations, layer.String()})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// findings reads and checks every layer of every artifact of img. The
// artifacts were reconciled against the content graph (bundle.Reconcile):
// each is attached to its subject by content, listed once, and the caps on
// artifacts and evidence already hold. Evidence that cannot be read becomes
// a failed finding, never a silent omission.
func (c *evidenceChecker) findings(img bundle.CheckedImage) []verify.Finding {
	var out []verify.Finding
	for _, a := range img.Artifacts {
		kind := kindOf(a.Kind)
		manifest, subject := a.Descriptor.Digest.String(), a.Subject.String()
		if a.Layers == nil {
			out = append(out, verify.Finding{Kind: kind, Manifest: manifest, Subject: subject, ArtifactType: a.ArtifactType,
				Status: verify.StatusFailed, Reason: fmt.Sprintf("artifact %s is not an image manifest", manifest)})
			continue
		}
		if len(a.Layers) == 0 {
			out = append(out, verify.Finding{Kind: kind, Manifest: manifest, Subject: subject, ArtifactType: a.ArtifactType,
				Status: verify.StatusFailed, Reason: fmt.Sprintf("artifact manifest %s has no layers", manifest)})
			continue
		}
		for i, l := range a.Layers {
			ann := maps.Clone(a.Annotations)
			if ann == nil {
				ann = map[string]string{}
			}
			maps.Copy(ann, l.Annotations)
			ev := verify.Evidence{Kind: kind, Manifest: manifest, Layer: i, Subject: subject,
				MediaType: string(l.MediaType), ArtifactType: a.ArtifactType, Annotations: ann}
			key := evidenceKey(ev, l.Digest)
			if f, ok := c.done[key]; ok {
				f.Manifest, f.Layer = manifest, i
				out = append(out, f)
				continue
			}
			f := c.check(ev, l)
			c.done[key] = f
			out = append(out, f)
		}
	}
	return out
}

func (c *evidenceChecker) check(ev verify.Evidence, l v1.Descriptor) verify.Finding {
	if needsData(ev.Kind) {
		if l.Size > verify.MaxEvidenceSize {
			return verify.Finding{Kind: ev.Kind, Manifest: ev.Manifest, Layer: ev.Layer, Subject: ev.Subject,
				ArtifactType: ev.ArtifactType, Status: verify.StatusUnverifiable,
				Reason: fmt.Sprintf("layer %s is %d bytes, over the %d-byte limit for evidence", l.Digest, l.Size, verify.MaxEvidenceSize)}
		}
		data, err := c.r.ReadBlobOnce(l.Digest, verify.MaxEvidenceSize)
		if err != nil {
			return verify.Finding{Kind: ev.Kind, Manifest: ev.Manifest, Layer: ev.Layer, Subject: ev.Subject,
				ArtifactType: ev.ArtifactType, Status: verify.StatusFailed, Reason: fmt.Sprintf("reading layer %s: %v", l.Digest, err)}
		}
		ev.Data = data
	}
	return checkEvidence(ev, c.tm, c.opts)
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
