package airlock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/content"
	"github.com/airlock-oci/airlock/internal/registry"
	"github.com/airlock-oci/airlock/verify"
)

// ReceiptSchema versions the receipt format (docs/cli.md).
const ReceiptSchema = "airlock.dev/receipt/v1"

// ImportResult is what an import did (or, for a dry run, would do).
type ImportResult struct {
	Schema     string          `json:"schema"`
	Bundle     string          `json:"bundle"`
	Target     string          `json:"target"`
	DryRun     bool            `json:"dryRun,omitempty"`
	ImportedAt time.Time       `json:"importedAt"`
	Images     []ImportedImage `json:"images"`
	// Holds lists every blob the target holds for the imported images,
	// for `export --since` (delta.go).
	Holds *Holdings `json:"holds,omitempty"`
	// Report is the verification report, with each image's Targets filled.
	Report *verify.Report `json:"-"`
}

// ImportedImage is one image and what the target now holds for it.
type ImportedImage struct {
	Source    string `json:"source"`
	Reference string `json:"reference"` // target repository with tag, or @digest
	Digest    string `json:"digest"`
	Verdict   string `json:"verdict"`
	// Skipped says why nothing was pushed for the image (it failed
	// verification under --only-verified).
	Skipped string `json:"skipped,omitempty"`
	// Blobs and Bytes count the image's blobs; Present of them the target
	// already had (not uploaded again).
	Blobs     int       `json:"blobs"`
	Bytes     int64     `json:"bytes"`
	Present   int       `json:"present"`
	Manifests []string  `json:"manifests"`
	Referrers []string  `json:"referrers,omitempty"`
	Tags      []TagMove `json:"tags"`
}

// TagMove is one tag in the target.
type TagMove struct {
	Tag      string `json:"tag"`
	Digest   string `json:"digest"`
	Previous string `json:"previous,omitempty"` // digest the tag pointed at before, when different
	Moved    bool   `json:"moved"`
	Note     string `json:"note,omitempty"`
}

// tagOutcome is what an import does with one tag, decided before anything
// is committed.
type tagOutcome int

const (
	tagNew      tagOutcome = iota // the target has no such tag: push it
	tagPresent                    // it already points at the digest: nothing to do
	tagForced                     // it points at another digest: moved (WithForce)
	tagConflict                   // it points at another digest: left alone
)

// push reports whether the commit pushes the tag.
func (t tagOutcome) push() bool { return t == tagNew || t == tagForced }

// note is the receipt's TagMove.Note for the outcome.
func (t tagOutcome) note() string {
	switch t {
	case tagPresent:
		return "already there"
	case tagForced:
		return "moved (--force)"
	case tagConflict:
		return "not moved: points at another digest (use --force)"
	}
	return ""
}

// ErrTagConflict means a tag in the target points at another digest and
// --force was not given: the tag was left alone.
var ErrTagConflict = errors.New("tag points at a different digest in the target")

// Import verifies a bundle exactly as Verify does (persisting the accepted
// TUF state), then pushes what passed to target ("registry/prefix"):
// blobs, then platform manifests, then indexes, then the artifacts attached
// to them (referrers through the referrers API or the fallback tag), then
// tags last, so that no tag points at something incomplete. It pushes the
// bytes it verified: every blob is re-hashed as it streams out of the
// bundle. Nothing is pushed from a bundle that fails integrity, or, unless
// WithOnlyVerified, from one in which any image fails the policy.
func Import(ctx context.Context, path, target string, opts ...Option) (*ImportResult, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if !o.at.IsZero() {
		return nil, fmt.Errorf("%w: --at reproduces a past verification for an audit and is refused for an import", ErrUsage)
	}
	client, err := o.registryClient()
	if err != nil {
		return nil, err
	}
	prefix, err := parseTarget(client, target)
	if err != nil {
		return nil, err
	}
	// The checks of verify, in an order that lets the transfer overlap the
	// hashing: structure and manifests first, then trust, evidence and
	// policy (small blobs, each checked as it is read), then every blob's
	// digest while the blobs of the images that passed are staged on the
	// target. Staged uploads are committed only when every check passed.
	v, err := o.openBundle(path)
	if err != nil {
		return nil, err
	}
	if v.reader != nil {
		defer v.reader.Close()
	}
	res := &ImportResult{Schema: ReceiptSchema, Bundle: path, Target: target, DryRun: o.dryRun, ImportedAt: o.now().UTC(), Report: v.report}
	if v.failed() {
		return res, v.err()
	}
	if err := o.judge(v, false); err != nil {
		return nil, err
	}
	if !v.report.BundleSignature.OK() {
		// A required bundle signature did not verify: no image was judged
		// and nothing is pushed. The report still says whether the
		// bundle is intact.
		if err := o.hashBlobs(ctx, v); err != nil {
			return nil, err
		}
		v.report.Finish()
		return res, v.err()
	}
	passed := func(i int) bool {
		vd := v.report.Images[i].Verdict
		return vd == verify.VerdictPass || vd == verify.VerdictAllowedByDefault
	}
	anyFailed := false
	for i := range v.images {
		if !passed(i) {
			anyFailed = true
		}
	}
	refuse := v.trustRefused || (anyFailed && !o.onlyVerified)

	// Plan every image that may go, and settle its tags, before any upload.
	plans, err := o.planImages(ctx, client, v, prefix, func(i int) bool { return !refuse && passed(i) }, res)
	if err != nil {
		return res, err
	}
	if refuse || o.dryRun || len(plans) == 0 {
		return o.withoutPush(ctx, client, v, res, plans, refuse)
	}

	// Hash every blob while staging the blobs of the images that go.
	toPush := make([]*pushPlan, len(plans))
	for i, ip := range plans {
		toPush[i] = ip.plan
	}
	splitOmitted(v, toPush) // a delta bundle's omitted blobs are not staged
	staged, err := o.stageWhileHashing(ctx, client, v, toPush)
	cancelAll := func() {
		cctx := context.WithoutCancel(ctx)
		for _, s := range staged {
			if s.st != nil {
				s.st.Cancel(cctx)
			}
		}
	}
	if err != nil {
		cancelAll()
		v.report.Finish() // the checks are complete; the transfer failed
		return res, fmt.Errorf("%w: %w", ErrImport, err)
	}
	if v.failed() {
		cancelAll()
		res.Images = nil
		return res, v.err()
	}
	if err := o.ensureOmitted(ctx, client, v, toPush); err != nil {
		cancelAll()
		v.report.Finish()
		return res, err
	}
	// Every check passed: persist the TUF state this bundle was verified
	// against (rollback protection), then commit.
	if lt, err := o.loadTrust(v.reader, v.inv, true); err != nil || lt.refused {
		cancelAll()
		if err == nil {
			err = fmt.Errorf("%w: the TUF state could not be persisted", ErrTrust)
		}
		return res, err
	}
	if err := o.commit(ctx, client, v.reader, plans, staged, cancelAll); err != nil {
		return res, err
	}
	conflicts := record(v, res, plans, staged)
	res.Holds = holdingsOf(toPush)
	v.report.Finish()
	if len(conflicts) > 0 {
		return res, conflictError(v.report, conflicts)
	}
	if anyFailed {
		return res, v.err()
	}
	return res, nil
}

// withoutPush ends an import that pushes nothing (the bundle is refused,
// a dry run, or no image goes). Every blob is still hashed, so the report
// says whether the bundle is intact.
func (o *options) withoutPush(ctx context.Context, client *registry.Client, v *verified, res *ImportResult, plans []*imagePlan, refuse bool) (*ImportResult, error) {
	if err := o.hashBlobs(ctx, v); err != nil {
		return nil, err
	}
	if refuse || v.failed() {
		res.Images = nil
		v.report.Finish()
		return res, v.err()
	}
	// A dry run of a delta checks, reading only, that the target holds
	// what the bundle left out: the import would stop there.
	toPush := make([]*pushPlan, len(plans))
	for i, ip := range plans {
		toPush[i] = ip.plan
	}
	splitOmitted(v, toPush)
	if err := o.ensureOmitted(ctx, client, v, toPush); err != nil {
		v.report.Finish()
		return res, err
	}
	var conflicts []string
	for _, ip := range plans {
		res.Images = append(res.Images, ip.ii)
		conflicts = append(conflicts, tagConflicts(ip.plan, ip.ii)...)
	}
	v.report.Finish()
	if len(conflicts) > 0 {
		return res, conflictError(v.report, conflicts)
	}
	return res, v.err()
}

// record adds each pushed image to the receipt and its target to the
// report, counting the blobs the target already had, and returns the tags
// left alone.
func record(v *verified, res *ImportResult, plans []*imagePlan, staged map[v1.Hash]*staging) []string {
	var conflicts []string
	for _, ip := range plans {
		for _, b := range ip.plan.blobs {
			if s := staged[b.Digest]; s != nil && s.st != nil && s.st.Present() && s.repo.Name() == ip.plan.repo.Name() {
				ip.ii.Present++
			}
		}
		conflicts = append(conflicts, tagConflicts(ip.plan, ip.ii)...)
		v.report.Images[ip.i].Targets = append(v.report.Images[ip.i].Targets, ip.ii.Reference)
		res.Images = append(res.Images, ip.ii)
	}
	return conflicts
}

// imagePlan is one image that goes: its push plan and its receipt entry.
type imagePlan struct {
	i    int // index in the verified images and the report
	plan *pushPlan
	ii   ImportedImage
}

// planImages plans the images that go (the others are added to res as
// skipped), refuses two images that would land at one tag, and settles
// each tag against the target.
func (o *options) planImages(ctx context.Context, client *registry.Client, v *verified, prefix name.Repository, goes func(int) bool, res *ImportResult) ([]*imagePlan, error) {
	var plans []*imagePlan
	targets := map[string]string{} // repository:tag -> digest, across images
	for i, img := range v.images {
		ii := ImportedImage{Source: img.Name.String(), Digest: img.Descriptor.Digest.String(), Verdict: v.report.Images[i].Verdict}
		if !goes(i) {
			ii.Skipped = "did not pass verification: nothing pushed"
			res.Images = append(res.Images, ii)
			continue
		}
		plan, err := planImage(v.graph, img, prefix, o.dropHost)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrImport, img.Name, err)
		}
		for _, t := range plan.allTags() {
			key := plan.repo.Name() + ":" + t.tag
			if d, dup := targets[key]; dup && d != t.desc.Digest.String() {
				return nil, fmt.Errorf("%w: %s: %s would point at %s and at %s: two images land at one tag", ErrImport, img.Name, key, d, t.desc.Digest)
			}
			targets[key] = t.desc.Digest.String()
		}
		ii.Reference = plan.reference()
		if err := o.settleTags(ctx, client, plan, &ii); err != nil {
			return nil, fmt.Errorf("%w: %s -> %s: %w", ErrImport, img.Name, plan.repo, err)
		}
		plans = append(plans, &imagePlan{i: i, plan: plan, ii: ii})
	}
	return plans, nil
}

// commit commits every staged blob in parallel (the registry checks each
// digest, which can mean reading the upload back; on a failure every
// upload is cancelled), then, every blob being in place, pushes each
// image's manifests, artifacts and tags: the images no longer depend on
// each other, so they go in parallel.
func (o *options) commit(ctx context.Context, client *registry.Client, r *bundle.Reader, plans []*imagePlan, staged map[v1.Hash]*staging, cancelAll func()) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.concurrency)
	for d, st := range staged {
		g.Go(func() error {
			if err := st.st.Commit(gctx); err != nil {
				return fmt.Errorf("%s -> %s: blob %s: %w", st.source, st.repo, d, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		cancelAll()
		return fmt.Errorf("%w: %w", ErrImport, err)
	}
	mg, mctx := errgroup.WithContext(ctx)
	mg.SetLimit(o.concurrency)
	for _, ip := range plans {
		mg.Go(func() error {
			if err := o.commitImage(mctx, client, r, ip.plan, staged); err != nil {
				return fmt.Errorf("%w: %s -> %s: %w", ErrImport, ip.ii.Source, ip.plan.repo, err)
			}
			return nil
		})
	}
	return mg.Wait()
}

// tagConflicts lists the tags of a plan that were not moved.
func tagConflicts(p *pushPlan, ii ImportedImage) []string {
	var out []string
	for _, t := range ii.Tags {
		if !t.Moved && t.Previous != "" {
			out = append(out, fmt.Sprintf("%s:%s (has %s, bundle has %s)", p.repo, t.Tag, t.Previous, t.Digest))
		}
	}
	return out
}

// conflictError reports tags left alone, in the report and as an error.
func conflictError(rep *verify.Report, conflicts []string) error {
	msg := strings.Join(conflicts, "; ")
	rep.Warnings = append(rep.Warnings, "tags not moved (use --force): "+msg)
	return fmt.Errorf("%w: %d tags not moved: %s", ErrTagConflict, len(conflicts), msg)
}

// parseTarget checks "registry[/prefix]" (no tag, no digest).
func parseTarget(c *registry.Client, target string) (name.Repository, error) {
	t := strings.TrimSuffix(target, "/")
	if t == "" || strings.Contains(t, "@") {
		return name.Repository{}, fmt.Errorf("%w: --to %q: want REGISTRY[/PREFIX], without tag or digest", ErrUsage, target)
	}
	bare := !strings.Contains(t, "/")
	if bare {
		t += "/placeholder" // validate the registry through a repository
	}
	r, err := c.ParseRepository(t)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%w: --to %q: want REGISTRY[/PREFIX], without tag or digest: %v", ErrUsage, target, err)
	}
	if bare {
		return r.Registry.Repo(), nil
	}
	return r, nil
}

// MapReference places a canonical source name under the target prefix, the
// documented rule (docs/cli.md): the source registry host is kept as the
// first path component, its port joined with "_" (localhost:5000 ->
// localhost_5000), then the repository path:
// docker.io/library/nginx:1.27 under registry.internal/mirror is
// registry.internal/mirror/docker.io/library/nginx:1.27. Two different
// source repositories therefore never share a target repository. With
// dropHost (WithDropSourceHostUnsafe) the host is left out, and they can.
func MapReference(src bundle.Name, prefix name.Repository, dropHost bool) (name.Repository, error) {
	path := src.Path
	if !dropHost {
		host := strings.ReplaceAll(src.Host, ":", "_")
		if !bundle.ValidPathComponent(host) {
			return name.Repository{}, fmt.Errorf("source host %q cannot be written as a repository path component", src.Host)
		}
		path = host + "/" + path
	}
	full := prefix.RegistryStr() + "/" + path
	if p := prefix.RepositoryStr(); p != "" {
		full = prefix.RegistryStr() + "/" + p + "/" + path
	}
	return name.NewRepository(full, name.StrictValidation)
}

// pushPlan lists, in push order, what one image needs in the target.
type pushPlan struct {
	source    string // the image as the bundle names it
	repo      name.Repository
	tag       string // "" for a digest reference
	rootDesc  v1.Descriptor
	blobs     []v1.Descriptor
	manifests []v1.Descriptor // children before parents, the image root last
	artifacts []artifactPush  // subjects before the artifacts attached to them
	tags      []tagSet        // set last
	omitted   []v1.Descriptor // blobs a delta bundle left out, checked at the target (delta.go)
	moves     []TagMove       // what settleTags decided for each of tags
	outcomes  []tagOutcome    // the same decisions, typed: they drive the commit
}

type artifactPush struct {
	manifests []v1.Descriptor // the artifact's own child manifests, then the artifact
	desc      v1.Descriptor
	subject   v1.Hash
	tag       string // legacy tag, if any
	referrer  bool   // attached through subject (referrers API or fallback tag)
}

func (p *pushPlan) reference() string {
	if p.tag != "" {
		return p.repo.Tag(p.tag).Name()
	}
	return p.repo.Digest(p.rootDesc.Digest.String()).Name()
}

// planImage plans one verified image from the bundle's graph alone: where it
// lands, its blobs, its manifests children first, and the artifacts attached
// to it, subjects first. It is pure: no registry, no bundle reads.
func planImage(g *bundle.Graph, img bundle.CheckedImage, prefix name.Repository, dropHost bool) (*pushPlan, error) {
	repo, err := MapReference(img.Name, prefix, dropHost)
	if err != nil {
		return nil, fmt.Errorf("mapping %s under %s: %v", img.Name, prefix, err)
	}
	p := &pushPlan{source: img.Name.String(), repo: repo, rootDesc: img.Descriptor, tag: img.Name.Tag}
	seenBlob := map[v1.Hash]bool{}
	seenManifest := map[v1.Hash]bool{}
	// walk adds everything below h (post-order: children first).
	var walk func(h v1.Hash, out *[]v1.Descriptor) error
	walk = func(h v1.Hash, out *[]v1.Descriptor) error {
		n := g.Nodes[h]
		if n == nil {
			return fmt.Errorf("%s is not in the bundle", h)
		}
		if n.Manifest == nil && n.Index == nil {
			if !seenBlob[h] {
				seenBlob[h] = true
				p.blobs = append(p.blobs, n.Descriptor)
			}
			return nil
		}
		if seenManifest[h] {
			return nil
		}
		seenManifest[h] = true
		if n.Index != nil {
			for _, c := range n.Index.Manifests {
				if err := walk(c.Digest, out); err != nil {
					return err
				}
			}
		}
		if n.Manifest != nil {
			if err := walk(n.Manifest.Config.Digest, out); err != nil {
				return err
			}
			for _, l := range n.Manifest.Layers {
				if isForeign(l) {
					continue
				}
				if err := walk(l.Digest, out); err != nil {
					return err
				}
			}
		}
		d := n.Descriptor
		d.Annotations, d.Platform = nil, nil
		*out = append(*out, d)
		return nil
	}
	if err := walk(img.Descriptor.Digest, &p.manifests); err != nil {
		return nil, err
	}
	// Artifacts come reconciled: each attached to its subject by content,
	// listed once, subjects first.
	for _, a := range img.Artifacts {
		if a.FoundBy == artifact.FoundByInIndex {
			continue // part of the image index, pushed with it
		}
		ap := artifactPush{subject: a.Subject, tag: a.Tag, referrer: a.FoundBy != artifact.FoundByLegacyTag}
		if err := walk(a.Descriptor.Digest, &ap.manifests); err != nil {
			return nil, err
		}
		if len(ap.manifests) == 0 {
			continue // already pushed as part of the image
		}
		ap.desc = ap.manifests[len(ap.manifests)-1]
		ap.desc.ArtifactType = a.ArtifactType
		if n := g.Nodes[a.Descriptor.Digest]; n.Manifest != nil && ap.desc.ArtifactType == "" {
			ap.desc.ArtifactType = string(n.Manifest.Config.MediaType)
		}
		ap.desc.Annotations = a.Annotations
		p.artifacts = append(p.artifacts, ap)
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// validate checks everything the plan will write before anything is
// sent: the repository, every tag (the image's, legacy artifact tags and
// the fallback tags of referrers) and every manifest's media type.
func (p *pushPlan) validate() error {
	if _, err := name.NewRepository(p.repo.Name(), name.StrictValidation); err != nil {
		return fmt.Errorf("target repository %s: %v", p.repo, err)
	}
	if p.tag != "" && !bundle.ValidTag(p.tag) {
		return fmt.Errorf("tag %q is not a valid tag", p.tag)
	}
	isManifest := func(d v1.Descriptor) bool { return d.MediaType.IsImage() || d.MediaType.IsIndex() }
	for _, m := range p.manifests {
		if !isManifest(m) {
			return fmt.Errorf("%s has media type %q, not a manifest", m.Digest, m.MediaType)
		}
	}
	for _, a := range p.artifacts {
		for _, m := range a.manifests {
			if !isManifest(m) {
				return fmt.Errorf("%s has media type %q, not a manifest", m.Digest, m.MediaType)
			}
		}
		if a.referrer {
			if a.tag != "" {
				return fmt.Errorf("referrer %s carries tag %q", a.desc.Digest, a.tag)
			}
			if t := registry.FallbackTag(a.subject); !bundle.ValidTag(t) {
				return fmt.Errorf("referrer %s: fallback tag %q is not a valid tag", a.desc.Digest, t)
			}
			continue
		}
		prefix := "sha256-" + a.subject.Hex + "."
		suffix, ok := strings.CutPrefix(a.tag, prefix)
		if !ok || (suffix != "sig" && suffix != "att" && suffix != "sbom") || !bundle.ValidTag(a.tag) {
			return fmt.Errorf("artifact %s: tag %q is not the legacy tag of its subject %s", a.desc.Digest, a.tag, a.subject)
		}
	}
	return nil
}

// allTags lists the tags a plan sets: the image's and its legacy artifacts'.
func (p *pushPlan) allTags() []tagSet {
	var out []tagSet
	if p.tag != "" {
		out = append(out, tagSet{p.tag, p.rootDesc})
	}
	for _, a := range p.artifacts {
		if a.tag != "" {
			out = append(out, tagSet{a.tag, a.desc})
		}
	}
	return out
}

// isForeign reports non-distributable layers, which are not carried.
func isForeign(d v1.Descriptor) bool {
	return !d.MediaType.IsDistributable()
}

// settleTags records the plan's counts and decides, before anything is
// uploaded, whether each tag may be set: a tag that points at another
// digest is moved only with --force.
func (o *options) settleTags(ctx context.Context, c *registry.Client, p *pushPlan, ii *ImportedImage) error {
	for _, b := range p.blobs {
		ii.Blobs++
		ii.Bytes += b.Size
	}
	p.tags = p.allTags()
	for _, a := range p.artifacts {
		if a.referrer {
			ii.Referrers = append(ii.Referrers, a.desc.Digest.String())
		}
	}
	for _, m := range p.manifests {
		ii.Manifests = append(ii.Manifests, m.Digest.String())
	}
	for _, a := range p.artifacts {
		for _, m := range a.manifests {
			ii.Manifests = append(ii.Manifests, m.Digest.String())
		}
	}
	p.moves = make([]TagMove, len(p.tags))
	p.outcomes = make([]tagOutcome, len(p.tags))
	for i, t := range p.tags {
		out, previous := tagNew, ""
		cur, err := c.Resolve(ctx, p.repo.Tag(t.tag))
		switch {
		case errors.Is(err, registry.ErrNotFound):
		case err != nil:
			return fmt.Errorf("checking tag %s: %w", t.tag, err)
		case cur.Digest == t.desc.Digest:
			out = tagPresent
		case o.force:
			out, previous = tagForced, cur.Digest.String()
		default:
			out, previous = tagConflict, cur.Digest.String()
		}
		p.outcomes[i] = out
		p.moves[i] = TagMove{Tag: t.tag, Digest: t.desc.Digest.String(), Previous: previous, Moved: out != tagConflict, Note: out.note()}
	}
	ii.Tags = p.moves
	return nil
}

// tagSet is one tag a plan sets.
type tagSet struct {
	tag  string
	desc v1.Descriptor
}

// staging is one blob staged in one target repository: the first (in
// plan order) of the images that need it. The others mount it from there
// once it is committed.
type staging struct {
	source string // the image that staged it
	repo   name.Repository
	st     *registry.Staged
}

// stageWhileHashing checks every blob of the bundle against its digest
// while it stages the planned blobs on the target, each blob once per
// target and each byte read once: a staged blob is hashed as it streams to
// the registry, every other blob (those of images that did not pass,
// manifests, signatures, and blobs the target already had) by the bundle
// reader. It returns the staged uploads by digest, also when it fails, so
// the caller can cancel them. An integrity failure is recorded in the
// report (v.failed()), not returned.
func (o *options) stageWhileHashing(ctx context.Context, c *registry.Client, v *verified, plans []*pushPlan) (map[v1.Hash]*staging, error) {
	r := v.reader
	staged := map[v1.Hash]*staging{}
	var order []v1.Hash
	for _, p := range plans {
		for _, b := range p.blobs {
			if _, dup := staged[b.Digest]; !dup {
				staged[b.Digest] = &staging{source: p.source, repo: p.repo}
				order = append(order, b.Digest)
			}
		}
	}
	var others []v1.Hash
	var total int64
	for _, h := range r.Blobs() {
		n, _ := r.Stat(h)
		total += n
		if staged[h] == nil {
			others = append(others, h)
		}
	}

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	var bad []error              // integrity failures
	hashed := map[v1.Hash]bool{} // staged blobs read whole and matching
	failIntegrity := func(err error) {
		mu.Lock()
		if !slices.ContainsFunc(bad, func(e error) bool { return e.Error() == err.Error() }) {
			bad = append(bad, err) // a retried upload finds the same mismatch again
		}
		mu.Unlock()
		stop() // the bundle is bad: stop uploading at once
	}
	verifyRest := func(hs []v1.Hash) error {
		if err := r.VerifySome(sctx, hs, nil); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if sctx.Err() == nil || errors.Is(err, bundle.ErrInvalidBundle) {
				failIntegrity(err)
			}
		}
		return nil
	}
	restDone := make(chan error, 1)
	go func() { restDone <- verifyRest(others) }()

	g, gctx := errgroup.WithContext(sctx)
	g.SetLimit(o.concurrency)
	var pushed int64
	for _, d := range order {
		s := staged[d]
		size, _ := r.Stat(d)
		desc := v1.Descriptor{MediaType: "application/octet-stream", Size: size, Digest: d}
		g.Go(func() error {
			open := func() (io.ReadCloser, error) {
				rc, err := r.UnsafeRawBlob(d)
				if err != nil {
					return nil, err
				}
				// Hash the blob as it streams to the registry; a retried
				// upload opens a new reader.
				vr := content.NewVerifyReader(rc, "blob "+d.String(), d, size).
					Wrap(bundle.ErrDigestMismatch, bundle.ErrDigestMismatch).
					OnDone(func(err error) {
						if err != nil {
							failIntegrity(err)
							return
						}
						mu.Lock()
						hashed[d] = true
						mu.Unlock()
					})
				return struct {
					io.Reader
					io.Closer
				}{vr, rc}, nil
			}
			st, err := c.StageBlob(gctx, s.repo, desc, open)
			if err != nil {
				return fmt.Errorf("%s -> %s: blob %s: %w", s.source, s.repo, d, err)
			}
			mu.Lock()
			s.st = st
			pushed += size
			ev := Progress{Phase: "push", Done: pushed, Total: total}
			mu.Unlock()
			o.emit(ev)
			return nil
		})
	}
	serr := g.Wait()
	if err := <-restDone; err != nil {
		return staged, err
	}
	// Blobs not read whole while staging (the target already had them, it
	// answered before reading everything, or the staging failed): hash them
	// now, so the report says whether the bundle is intact in every case.
	var unread []v1.Hash
	for _, d := range order {
		if !hashed[d] {
			unread = append(unread, d)
		}
	}
	if len(bad) == 0 && len(unread) > 0 {
		if err := verifyRest(unread); err != nil {
			return staged, err
		}
	}
	if len(bad) > 0 {
		v.integrityFailed(fmt.Errorf("verifying blobs of %s: %w", r.Path(), errors.Join(bad...)))
		return staged, nil // the integrity failure is the story, not the cancelled uploads
	}
	v.report.Integrity = verify.Integrity{OK: true, Blobs: len(r.Blobs()), Bytes: total}
	return staged, serr
}

// commitImage mounts, from the repository that staged it, each committed
// blob an earlier image shares, then pushes the plan's manifests in order:
// platform manifests, indexes, the image, the artifacts attached to them
// (referrers also in the fallback index when the target has no referrers
// API), and the tags last.
func (o *options) commitImage(ctx context.Context, c *registry.Client, r *bundle.Reader, p *pushPlan, staged map[v1.Hash]*staging) error {
	for _, b := range p.blobs {
		s := staged[b.Digest]
		if s == nil || s.st == nil {
			return fmt.Errorf("blob %s was not staged", b.Digest)
		}
		if s.repo.Name() == p.repo.Name() {
			continue // committed with the others
		}
		// Committed (or present) in s.repo already: mount it, or upload
		// it again if the registry will not mount.
		open := func() (io.ReadCloser, error) { return r.UnsafeRawBlob(b.Digest) }
		if err := c.PushBlob(ctx, p.repo, b, open, s.repo); err != nil {
			return fmt.Errorf("blob %s: %w", b.Digest, err)
		}
	}
	pushManifest := func(d v1.Descriptor, tag string) error {
		raw, err := r.ReadBlob(d.Digest, bundle.DefaultLimits().MaxManifestSize)
		if err != nil {
			return err
		}
		if _, err := c.PushManifest(ctx, p.repo, d.MediaType, raw, tag); err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		return nil
	}
	for _, m := range p.manifests {
		if err := pushManifest(m, ""); err != nil {
			return err
		}
	}
	var api *bool
	for _, a := range p.artifacts {
		for _, m := range a.manifests {
			if err := pushManifest(m, ""); err != nil {
				return err
			}
		}
		if !a.referrer {
			continue
		}
		if api == nil {
			has, err := c.ReferrersAPI(ctx, p.repo)
			if err != nil {
				return fmt.Errorf("probing the referrers API: %w", err)
			}
			api = &has
		}
		if !*api {
			if err := c.AddFallbackReferrer(ctx, p.repo, a.subject, a.desc); err != nil {
				return fmt.Errorf("referrer %s of %s: %w", a.desc.Digest, a.subject, err)
			}
		}
	}
	for i, t := range p.tags {
		if !p.outcomes[i].push() {
			continue
		}
		if err := pushManifest(t.desc, t.tag); err != nil {
			return fmt.Errorf("tag %s: %w", t.tag, err)
		}
	}
	return nil
}

// WriteReceipt writes what the target now holds, for delta exports, as
// compact JSON (a receipt lists every blob the target holds). The images
// and held blobs are encoded and written one at a time, so a catalogue's
// receipt is never held in memory whole: the bytes are those json.Encoder
// writes for the whole value.
func (res *ImportResult) WriteReceipt(w io.Writer) error {
	out := *res
	if out.Images != nil {
		out.Images = []ImportedImage{} // placeholders, replaced below
	}
	if res.Holds != nil {
		h := *res.Holds
		if h.Blobs != nil {
			h.Blobs = []HeldBlob{}
		}
		out.Holds = &h
	}
	head, err := json.Marshal(&out)
	if err != nil {
		return fmt.Errorf("writing receipt: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	// A key's quotes are the only unescaped ones: the first "images":[]
	// is the top-level list, the first "blobs":[] after it the holdings'.
	rest := head
	list := func(key string, n int, elem func(int) ([]byte, error)) error {
		at := bytes.Index(rest, []byte(key))
		if at < 0 {
			return fmt.Errorf("writing receipt: no %s list", key)
		}
		at += len(key) - 1 // at the closing bracket
		bw.Write(rest[:at])
		rest = rest[at:]
		for i := range n {
			b, err := elem(i)
			if err != nil {
				return fmt.Errorf("writing receipt: %w", err)
			}
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.Write(b)
		}
		return nil
	}
	if res.Images != nil {
		if err := list(`"images":[]`, len(res.Images), func(i int) ([]byte, error) { return json.Marshal(&res.Images[i]) }); err != nil {
			return err
		}
	}
	if res.Holds != nil && res.Holds.Blobs != nil {
		if err := list(`"blobs":[]`, len(res.Holds.Blobs), func(i int) ([]byte, error) { return json.Marshal(res.Holds.Blobs[i]) }); err != nil {
			return err
		}
	}
	bw.Write(rest)
	bw.WriteByte('\n')
	return bw.Flush()
}
