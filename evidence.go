package airlock

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

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
// many manifests or listings carry them. Not safe for concurrent use (it
// runs its checks in parallel itself).
type evidenceChecker struct {
	r    *bundle.Reader
	tm   *verify.TrustMaterial
	opts verify.Options
	// done points at the first finding on each piece of evidence, in the
	// findings findingsOf returned (which nothing modifies afterwards).
	done map[[sha256.Size]byte]*verify.Finding
	// digests shares the digest strings of the findings and the report:
	// an image's digest appears in each of its findings several times.
	digests map[string]string
}

func newEvidenceChecker(r *bundle.Reader, tm *verify.TrustMaterial, opts verify.Options) *evidenceChecker {
	return &evidenceChecker{r: r, tm: tm, opts: opts, done: map[[sha256.Size]byte]*verify.Finding{}, digests: map[string]string{}}
}

// digest returns the one copy of s the verification keeps.
func (c *evidenceChecker) digest(s string) string {
	if d, ok := c.digests[s]; ok {
		return d
	}
	c.digests[s] = s
	return s
}

// evidenceKey identifies a piece of evidence by everything the verifier reads.
func evidenceKey(ev verify.Evidence, layer v1.Hash) [sha256.Size]byte {
	b, _ := json.Marshal([]any{ev.Kind, ev.Subject, ev.MediaType, ev.ArtifactType, ev.Annotations, layer.String()})
	return sha256.Sum256(b)
}

// evidenceBatch is how many images findingsOf is given at a time: enough
// to keep every core busy, few enough that what waits to be checked stays
// small whatever the number of images.
const evidenceBatch = 64

// findingsOf reads and checks every layer of every artifact of each image,
// and returns each image's findings in order. The artifacts were reconciled
// against the content graph (bundle.Reconcile): each is attached to its
// subject by content, listed once, and the caps on artifacts and evidence
// already hold. Evidence that cannot be read becomes a failed finding,
// never a silent omission. The distinct pieces of evidence not checked
// before are checked in parallel, GOMAXPROCS at a time; each one's bytes
// are read by the check and dropped when it is judged.
func (c *evidenceChecker) findingsOf(imgs []bundle.CheckedImage) [][]verify.Finding {
	type job struct {
		ev    verify.Evidence
		layer v1.Descriptor
		key   [sha256.Size]byte
	}
	type slot struct {
		f        verify.Finding // when known without a check
		job      int            // else the check that judges it
		manifest string
		layer    int
	}
	var jobs []job
	queued := map[[sha256.Size]byte]int{} // key -> job
	slots := make([][]slot, len(imgs))
	for n, img := range imgs {
		for _, a := range img.Artifacts {
			kind := kindOf(a.Kind)
			manifest, subject := c.digest(a.Descriptor.Digest.String()), c.digest(a.Subject.String())
			if a.Layers == nil {
				slots[n] = append(slots[n], slot{job: -1, f: verify.Finding{Kind: kind, Manifest: manifest, Subject: subject, ArtifactType: a.ArtifactType,
					Status: verify.StatusFailed, Reason: fmt.Sprintf("artifact %s is not an image manifest", manifest)}})
				continue
			}
			if len(a.Layers) == 0 {
				slots[n] = append(slots[n], slot{job: -1, f: verify.Finding{Kind: kind, Manifest: manifest, Subject: subject, ArtifactType: a.ArtifactType,
					Status: verify.StatusFailed, Reason: fmt.Sprintf("artifact manifest %s has no layers", manifest)}})
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
				s := slot{job: -1, manifest: manifest, layer: i}
				if f, ok := c.done[key]; ok {
					s.f = *f
				} else if j, ok := queued[key]; ok {
					s.job = j
				} else {
					s.job = len(jobs)
					queued[key] = s.job
					jobs = append(jobs, job{ev: ev, layer: l, key: key})
				}
				slots[n] = append(slots[n], s)
			}
		}
	}
	checked := make([]verify.Finding, len(jobs))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for j := range jobs {
		g.Go(func() error {
			checked[j] = c.check(jobs[j].ev, jobs[j].layer)
			return nil
		})
	}
	_ = g.Wait() // the checks return no errors: a failure is a finding
	for j := range checked {
		for i, d := range checked[j].Covers {
			checked[j].Covers[i] = c.digest(d)
		}
	}
	out := make([][]verify.Finding, len(imgs))
	for n := range imgs {
		out[n] = make([]verify.Finding, len(slots[n]))
		for k, s := range slots[n] {
			f := &out[n][k]
			*f = s.f
			if s.job >= 0 {
				*f = checked[s.job]
				if _, ok := c.done[jobs[s.job].key]; !ok {
					c.done[jobs[s.job].key] = f
				}
			}
			if s.manifest != "" {
				f.Manifest, f.Layer = s.manifest, s.layer
			}
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
