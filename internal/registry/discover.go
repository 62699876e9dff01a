package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/airlock-oci/airlock/artifact"
)

// Annotation keys read by discovery.
const (
	AnnotationDockerReferenceType   = "vnd.docker.reference.type"
	AnnotationDockerReferenceDigest = "vnd.docker.reference.digest"
	AnnotationCosignPredicateType   = "predicateType"
	AnnotationBundlePredicateType   = "dev.sigstore.bundle.predicateType"
	AnnotationInTotoPredicateType   = "in-toto.io/predicate-type"
)

// DefaultMaxDepth bounds how deep referrers of referrers are followed.
const DefaultMaxDepth = 4

// DiscoverOptions selects what Discover collects.
type DiscoverOptions struct {
	// Platforms to keep from an index; empty keeps all. A platform without a
	// variant matches every variant.
	Platforms []v1.Platform
	// SignaturesFrom are further repositories searched for legacy tags and
	// referrers of every manifest (cosign's COSIGN_REPOSITORY).
	SignaturesFrom []name.Repository
	// MaxDepth is how many levels of attachments are followed (signatures of
	// the image are level 1, signatures of those level 2, ...). 0 means DefaultMaxDepth.
	MaxDepth int
	// SinglePlatform gives a single-manifest image its one platform: its
	// config is read (once, and kept in Discovery.Config) and the image is
	// listed in Platforms as its own platform, with the OS, architecture
	// and variant the config names (none when the config is not an image
	// config, is larger than MaxConfigSize or names no OS).
	SinglePlatform bool
	// Jobs bounds the requests DiscoverAll has in flight to any one
	// registry, across all its images. 0 means DefaultDiscoverJobs.
	// (Discover alone is bounded by the Client's WithJobs.)
	Jobs int
}

// DefaultDiscoverJobs is how many requests DiscoverAll has in flight to one
// registry at once. Discovery is a chain of small round trips per image
// (manifest, legacy tags, referrers, their manifests, theirs ...): many
// images in flight keep a registry busy where one image at a time leaves
// it idle between answers.
const DefaultDiscoverJobs = 16

// MaxConfigSize bounds the image config read for SinglePlatform.
const MaxConfigSize = 1 << 20

// Node is one manifest as served.
type Node struct {
	Digest       v1.Hash
	MediaType    types.MediaType
	Size         int64
	ArtifactType string // artifactType, or the config media type of a manifest with a subject
	Raw          []byte // manifest bytes as served; their digest was checked
	Repo         name.Repository
}

// Descriptor returns the descriptor of the node, with the manifest's
// annotations (what a referrers listing or fallback index entry carries).
func (n Node) Descriptor() v1.Descriptor {
	d := v1.Descriptor{MediaType: n.MediaType, Size: n.Size, Digest: n.Digest, ArtifactType: n.ArtifactType}
	var m struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(n.Raw, &m) == nil && len(m.Annotations) > 0 {
		d.Annotations = m.Annotations
	}
	return d
}

// Attached is an artifact that refers to a manifest of the image.
type Attached struct {
	Kind           artifact.Kind
	Manifest       Node
	Subject        v1.Hash          // the manifest it is attached to
	FoundBy        artifact.FoundBy // artifact.FoundByReferrersAPI, artifact.FoundByFallbackTag, artifact.FoundByLegacyTag, artifact.FoundByInIndex
	Tag            string           // the legacy tag, for artifact.FoundByLegacyTag
	PredicateTypes []string
	// Children are the manifests below an attached index (rare: oras attach of an index).
	Children []Node
}

// PlatformNode is a manifest below the root index.
type PlatformNode struct {
	Platform v1.Platform
	Node     Node
}

// Filter reports what a platform filter changed.
type Filter struct {
	Requested, Dropped []string
	SourceDigest       v1.Hash // the index as served; Root is a new index when it differs
	Note               string
}

// BlobRef is a blob and the repository it can be read from.
type BlobRef struct {
	Desc v1.Descriptor
	Repo name.Repository
}

// Discovery is an image with everything found attached to it.
type Discovery struct {
	Ref  name.Reference
	Root Node
	// Platforms holds every manifest below Root (nested indexes and their
	// children included), BuildKit attestation manifests excepted (they are in Attached).
	Platforms []PlatformNode
	Attached  []Attached
	// Blobs are the configs and layers of every manifest above, deduplicated by digest.
	Blobs  []BlobRef
	Filter *Filter
	// Config is the config of a single-manifest image as served (its size
	// and digest checked), read for DiscoverOptions.SinglePlatform; nil
	// otherwise. A caller can store it rather than fetch it again.
	Config []byte
}

// Discover resolves ref and collects its manifests, blobs and attached
// artifacts: legacy cosign tags and referrers (API or fallback tag) of the
// root, of every platform manifest and of every attached artifact, in the
// image repository and in opts.SignaturesFrom, up to opts.MaxDepth levels.
// A registry that fails to answer (401, 403, 429, 5xx, network) makes the
// whole discovery fail with an error naming the image, the digest and the
// answer: it is never read as "no signatures".
func (c *Client) Discover(ctx context.Context, ref name.Reference, opts DiscoverOptions) (*Discovery, error) {
	if err := c.checkDiscoverOptions(&opts); err != nil {
		return nil, err
	}
	return c.discover(ctx, ref, opts, newLimiter(c.jobs))
}

func (c *Client) checkDiscoverOptions(opts *DiscoverOptions) error {
	if c.err != nil {
		return c.err
	}
	if opts.MaxDepth < 0 {
		return fmt.Errorf("%w: MaxDepth %d", ErrInvalidOption, opts.MaxDepth)
	}
	if opts.MaxDepth == 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.Jobs < 0 {
		return fmt.Errorf("%w: Jobs %d", ErrInvalidOption, opts.Jobs)
	}
	if opts.Jobs == 0 {
		opts.Jobs = DefaultDiscoverJobs
	}
	return nil
}

// discover is Discover with the requests bounded by lim.
func (c *Client) discover(ctx context.Context, ref name.Reference, opts DiscoverOptions, lim *limiter) (*Discovery, error) {
	repo := ref.Context()
	var want *v1.Hash
	if d, ok := ref.(name.Digest); ok {
		h, err := v1.NewHash(d.DigestStr())
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidOption, ref, err)
		}
		want = &h
	}
	d := &discoverer{c: c, opts: opts, lim: lim, blobs: map[v1.Hash]bool{}, attached: map[v1.Hash]bool{}, looked: map[v1.Hash]bool{}}
	root, rm, err := d.fetch(ctx, repo, ref.Identifier(), want)
	if err != nil {
		return nil, fmt.Errorf("discovering %s: %w", ref, err)
	}
	d.out = &Discovery{Ref: ref, Root: root}

	var subjects []subjectAt
	if rm.isIndex() {
		chosen, err := d.walkRootIndex(ctx, root, rm)
		if err != nil {
			return nil, fmt.Errorf("discovering %s: %w", ref, err)
		}
		if d.out.Root.Digest == root.Digest {
			subjects = append(subjects, subjectAt{root.Digest, repo, 0})
		}
		for _, n := range chosen {
			subjects = append(subjects, subjectAt{n.Digest, n.Repo, 0})
		}
	} else {
		if err := d.singleImage(ctx, root, rm); err != nil {
			return nil, fmt.Errorf("discovering %s: %w", ref, err)
		}
		d.addBlobs(root.Repo, rm)
		subjects = append(subjects, subjectAt{root.Digest, repo, 0})
	}
	// BuildKit attestation manifests are attached artifacts: their own
	// signatures are looked up too.
	for _, a := range d.out.Attached {
		subjects = append(subjects, subjectAt{a.Manifest.Digest, a.Manifest.Repo, 1})
	}
	for len(subjects) > 0 {
		var todo []subjectAt
		for _, s := range subjects {
			if !d.looked[s.digest] && s.depth < opts.MaxDepth {
				d.looked[s.digest] = true
				todo = append(todo, s)
			}
		}
		// Look up every subject of this round concurrently; merge in order so
		// the result does not depend on timing.
		results := make([][]found, len(todo))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(c.jobs)
		for i, s := range todo {
			g.Go(func() error {
				r, err := d.attachments(gctx, s)
				if err != nil {
					return fmt.Errorf("attachments of %s: %w", s.digest, err)
				}
				results[i] = r
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, fmt.Errorf("discovering %s: %w", ref, err)
		}
		subjects = nil
		for i, s := range todo {
			for _, f := range results[i] {
				if !d.addAttached(f.a) {
					continue
				}
				d.addBlobs(f.a.Manifest.Repo, f.m)
				for _, ch := range f.children {
					d.addBlobs(ch.node.Repo, ch.m)
				}
				subjects = append(subjects, subjectAt{f.a.Manifest.Digest, f.a.Manifest.Repo, s.depth + 1})
			}
		}
	}
	return d.out, nil
}

type subjectAt struct {
	digest v1.Hash
	repo   name.Repository
	depth  int
}

type discoverer struct {
	c        *Client
	opts     DiscoverOptions
	lim      *limiter
	out      *Discovery
	blobs    map[v1.Hash]bool
	attached map[v1.Hash]bool
	looked   map[v1.Hash]bool
}

func (d *discoverer) addBlobs(repo name.Repository, m *manifest) {
	if m.isIndex() {
		return
	}
	for _, desc := range append([]v1.Descriptor{*m.Config}, m.Layers...) {
		if d.blobs[desc.Digest] {
			continue
		}
		d.blobs[desc.Digest] = true
		d.out.Blobs = append(d.out.Blobs, BlobRef{Desc: desc, Repo: repo})
	}
}

func isAttestationManifest(desc v1.Descriptor) bool {
	return desc.Annotations[AnnotationDockerReferenceType] == "attestation-manifest"
}

// walkRootIndex fetches the children of the root index, applies the platform
// filter, and returns the platform manifests kept.
func (d *discoverer) walkRootIndex(ctx context.Context, root Node, rm *manifest) ([]Node, error) {
	children := rm.Manifests
	var kept []v1.Descriptor
	if len(d.opts.Platforms) > 0 {
		keptDigests := map[v1.Hash]bool{}
		f := &Filter{SourceDigest: root.Digest}
		for _, p := range d.opts.Platforms {
			f.Requested = append(f.Requested, p.String())
		}
		for _, ch := range children {
			if isAttestationManifest(ch) {
				continue
			}
			if ch.Platform != nil && slices.ContainsFunc(d.opts.Platforms, func(p v1.Platform) bool { return ch.Platform.Satisfies(p) }) {
				kept = append(kept, ch)
				keptDigests[ch.Digest] = true
			} else {
				f.Dropped = append(f.Dropped, describePlatform(ch.Platform)+" ("+ch.Digest.String()+")")
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("%w: index %s offers %s, requested %s", ErrPlatformNotFound, root.Digest, offered(children), strings.Join(f.Requested, ", "))
		}
		var keptAll []v1.Descriptor
		for _, ch := range children {
			if keptDigests[ch.Digest] {
				keptAll = append(keptAll, ch)
			} else if isAttestationManifest(ch) {
				if h, err := v1.NewHash(ch.Annotations[AnnotationDockerReferenceDigest]); err == nil && keptDigests[h] {
					keptAll = append(keptAll, ch)
				}
			}
		}
		d.out.Filter = f
		if len(f.Dropped) == 0 {
			f.Note = fmt.Sprintf("platform filter kept every platform; the index %s is unchanged and its signatures still apply", root.Digest)
		} else {
			raw, err := rewriteIndex(root.Raw, keptAll)
			if err != nil {
				return nil, fmt.Errorf("filtering index %s: %w", root.Digest, err)
			}
			newDigest := sha256Hash(raw)
			f.Note = fmt.Sprintf("platform filter: the index digest changes from %s to %s; signatures and attestations on %s do not cover the new index and were not carried (kept %d of %d platform manifests)",
				root.Digest, newDigest, root.Digest, len(kept), len(kept)+len(f.Dropped))
			d.out.Root = Node{Digest: newDigest, MediaType: root.MediaType, Size: int64(len(raw)), ArtifactType: root.ArtifactType, Raw: raw, Repo: root.Repo}
		}
		children = keptAll
	}
	var chosen []Node
	if err := d.walkChildren(ctx, root.Repo, children, &chosen, 0); err != nil {
		return nil, err
	}
	return chosen, nil
}

// treeNode is a manifest below an index, with the descriptor that listed it.
type treeNode struct {
	desc v1.Descriptor
	node Node
	m    *manifest
}

// fetchTree fetches the manifests listed by an index, concurrently, and
// those of nested indexes, returned in walk order (a nested index precedes its
// children). Entries that are not manifests are returned with a nil m.
func (d *discoverer) fetchTree(ctx context.Context, repo name.Repository, descs []v1.Descriptor, level, maxLevel int) ([]treeNode, error) {
	if level > maxLevel {
		return nil, fmt.Errorf("%w: indexes nested deeper than %d", ErrInvalidManifest, maxLevel)
	}
	nodes := make([]treeNode, len(descs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.c.jobs)
	for i, desc := range descs {
		nodes[i].desc = desc
		if !desc.MediaType.IsImage() && !desc.MediaType.IsIndex() {
			continue
		}
		g.Go(func() error {
			dg := desc.Digest
			node, m, err := d.fetch(gctx, repo, dg.String(), &dg)
			if err != nil {
				return fmt.Errorf("child manifest %s: %w", dg, err)
			}
			nodes[i].node, nodes[i].m = node, m
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []treeNode
	for _, n := range nodes {
		out = append(out, n)
		if n.m != nil && n.m.isIndex() {
			sub, err := d.fetchTree(ctx, repo, n.m.Manifests, level+1, maxLevel)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

// walkChildren records the manifests below the root index: platform
// manifests, nested indexes, BuildKit attestation manifests and plain blobs.
func (d *discoverer) walkChildren(ctx context.Context, repo name.Repository, children []v1.Descriptor, chosen *[]Node, level int) error {
	tree, err := d.fetchTree(ctx, repo, children, level, d.opts.MaxDepth)
	if err != nil {
		return err
	}
	for _, t := range tree {
		ch := t.desc
		if t.m == nil {
			// Index entries that are plain blobs: carried like layers.
			if !d.blobs[ch.Digest] {
				d.blobs[ch.Digest] = true
				d.out.Blobs = append(d.out.Blobs, BlobRef{Desc: ch, Repo: repo})
			}
			continue
		}
		if isAttestationManifest(ch) {
			subj, err := v1.NewHash(ch.Annotations[AnnotationDockerReferenceDigest])
			if err != nil {
				return fmt.Errorf("%w: attestation manifest %s: annotation %s: %w", ErrInvalidManifest, ch.Digest, AnnotationDockerReferenceDigest, err)
			}
			d.addBlobs(repo, t.m)
			d.addAttached(Attached{Kind: artifact.KindBuildKitAttestation, Manifest: t.node, Subject: subj, FoundBy: artifact.FoundByInIndex, PredicateTypes: predicateTypes(t.m)})
			continue
		}
		var p v1.Platform
		if ch.Platform != nil {
			p = *ch.Platform
		}
		d.out.Platforms = append(d.out.Platforms, PlatformNode{Platform: p, Node: t.node})
		*chosen = append(*chosen, t.node)
		d.addBlobs(repo, t.m)
	}
	return nil
}

func (d *discoverer) addAttached(a Attached) bool {
	if d.attached[a.Manifest.Digest] {
		return false
	}
	d.attached[a.Manifest.Digest] = true
	d.out.Attached = append(d.out.Attached, a)
	return true
}

// describePlatform names a descriptor's platform in ggcr's full form (OS
// version and features included, unlike human.Platform), or says it has none.
func describePlatform(p *v1.Platform) string {
	if p == nil || p.String() == "" {
		return "no platform"
	}
	return p.String()
}

func offered(children []v1.Descriptor) string {
	var s []string
	for _, ch := range children {
		if !isAttestationManifest(ch) {
			s = append(s, describePlatform(ch.Platform))
		}
	}
	if len(s) == 0 {
		return "no platforms"
	}
	return strings.Join(s, ", ")
}

// rewriteIndex returns the index with only the given manifests, every other
// field kept as served.
func rewriteIndex(raw []byte, manifests []v1.Descriptor) ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(fields["manifests"], &entries); err != nil {
		return nil, fmt.Errorf("%w: manifests: %w", ErrInvalidManifest, err)
	}
	keep := map[string]bool{}
	for _, m := range manifests {
		keep[m.Digest.String()] = true
	}
	out := []json.RawMessage{}
	for _, e := range entries {
		if keep[entryDigest(e)] {
			out = append(out, e)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	fields["manifests"] = b
	return json.Marshal(fields)
}

// singleImage reads the config of a single-manifest image when a platform
// filter must be checked against it (an error when it does not match) or
// when opts.SinglePlatform asks for its platform.
func (d *discoverer) singleImage(ctx context.Context, root Node, m *manifest) error {
	filter := len(d.opts.Platforms) > 0
	keep := d.opts.SinglePlatform && m.Config != nil && m.Config.MediaType.IsConfig() && m.Config.Size <= MaxConfigSize
	if filter && (m.Config == nil || m.Config.Size > MaxManifestSize) {
		return fmt.Errorf("%w: image %s: config missing or larger than %d bytes", ErrInvalidManifest, root.Digest, MaxManifestSize)
	}
	var cfg *v1.ConfigFile
	var cfgErr error
	if filter || keep {
		raw, err := d.readBlob(ctx, root.Repo, *m.Config)
		if err != nil {
			return fmt.Errorf("reading config of %s: %w", root.Digest, err)
		}
		if keep {
			d.out.Config = raw
		}
		cfg, cfgErr = v1.ParseConfigFile(bytes.NewReader(raw))
	}
	if filter {
		if cfgErr != nil {
			return fmt.Errorf("%w: config %s of %s: %w", ErrInvalidManifest, m.Config.Digest, root.Digest, cfgErr)
		}
		got := v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}
		if !slices.ContainsFunc(d.opts.Platforms, got.Satisfies) {
			var req []string
			for _, p := range d.opts.Platforms {
				req = append(req, p.String())
			}
			return fmt.Errorf("%w: single-platform image %s is %s, requested %s", ErrPlatformNotFound, root.Digest, got.String(), strings.Join(req, ", "))
		}
	}
	if d.opts.SinglePlatform {
		var p v1.Platform
		if cfg != nil && cfgErr == nil && cfg.OS != "" {
			p = v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
		}
		d.out.Platforms = append(d.out.Platforms, PlatformNode{Platform: p, Node: root})
	}
	return nil
}

// readBlob reads a small blob (a config) whole, checking its size and digest.
func (d *discoverer) readBlob(ctx context.Context, repo name.Repository, desc v1.Descriptor) ([]byte, error) {
	release, err := d.lim.acquire(ctx, repo)
	if err != nil {
		return nil, err
	}
	defer release()
	rc, err := d.c.FetchBlob(ctx, repo, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return raw, nil
}

// fetch is fetchManifest within the registry's request limit.
func (d *discoverer) fetch(ctx context.Context, repo name.Repository, identifier string, want *v1.Hash) (Node, *manifest, error) {
	release, err := d.lim.acquire(ctx, repo)
	if err != nil {
		return Node{}, nil, err
	}
	defer release()
	return d.c.fetchManifest(ctx, repo, identifier, want)
}

// referrers is Client.Referrers within the registry's request limit.
func (d *discoverer) referrers(ctx context.Context, repo name.Repository, subject v1.Hash) ([]v1.Descriptor, artifact.FoundBy, error) {
	release, err := d.lim.acquire(ctx, repo)
	if err != nil {
		return nil, "", err
	}
	defer release()
	return d.c.Referrers(ctx, repo, subject)
}

var legacySuffixes = []struct {
	suffix string
	kind   artifact.Kind
}{
	{".sig", artifact.KindCosignSignature},
	{".att", artifact.KindCosignAttestation},
	{".sbom", artifact.KindCosignSBOM},
}

// found is an attached artifact and what merging it needs.
type found struct {
	a        Attached
	m        *manifest
	children []treeNode
}

// attachments finds the legacy tags and referrers of one subject in its own
// repository and in every SignaturesFrom repository. Every lookup runs at
// once (within the registry's request limit) and the answers are merged
// in a fixed order: per repository, the legacy tags in legacySuffixes
// order, then the referrers as listed. It only reads the discoverer's
// state (it runs concurrently with other lookups).
func (d *discoverer) attachments(ctx context.Context, s subjectAt) ([]found, error) {
	repos := []name.Repository{s.repo}
	for _, r := range d.opts.SignaturesFrom {
		if !slices.ContainsFunc(repos, func(x name.Repository) bool { return x.String() == r.String() }) {
			repos = append(repos, r)
		}
	}
	tags, lists, err := d.lookUp(ctx, s, repos)
	if err != nil {
		return nil, err
	}
	fetched, err := d.fetchReferrers(ctx, s, repos, tags, lists)
	if err != nil {
		return nil, err
	}
	return d.mergeAttached(ctx, s, repos, tags, lists, fetched)
}

// legacyAt is one legacy tag's manifest (found false: no such tag).
type legacyAt struct {
	node  Node
	m     *manifest
	found bool
}

// listing is one repository's referrers listing, and how it was found.
type listing struct {
	descs []v1.Descriptor
	how   artifact.FoundBy
}

// referrerAt is a listed referrer's manifest (skip: known already).
type referrerAt struct {
	node Node
	m    *manifest
	skip bool
}

// lookUp is round 1: every legacy tag and every referrers listing of the
// subject in each repository, all at once.
func (d *discoverer) lookUp(ctx context.Context, s subjectAt, repos []name.Repository) ([][]legacyAt, []listing, error) {
	tags := make([][]legacyAt, len(repos))
	lists := make([]listing, len(repos))
	g, gctx := errgroup.WithContext(ctx)
	for i, repo := range repos {
		tags[i] = make([]legacyAt, len(legacySuffixes))
		for j, l := range legacySuffixes {
			g.Go(func() error {
				tag := FallbackTag(s.digest) + l.suffix
				node, m, err := d.fetch(gctx, repo, tag, nil)
				if errors.Is(err, ErrNotFound) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("legacy tag %s:%s: %w", repo, tag, err)
				}
				tags[i][j] = legacyAt{node: node, m: m, found: true}
				return nil
			})
		}
		g.Go(func() error {
			descs, how, err := d.referrers(gctx, repo, s.digest)
			if err != nil {
				return err
			}
			lists[i] = listing{descs: descs, how: how}
			return nil
		})
	}
	return tags, lists, g.Wait()
}

// fetchReferrers is round 2: the manifests of the listed referrers not
// known already, each once.
func (d *discoverer) fetchReferrers(ctx context.Context, s subjectAt, repos []name.Repository, tags [][]legacyAt, lists []listing) ([][]referrerAt, error) {
	seen := map[v1.Hash]bool{}
	for i := range repos {
		for _, t := range tags[i] {
			if t.found {
				seen[t.node.Digest] = true
			}
		}
	}
	fetched := make([][]referrerAt, len(repos))
	g, gctx := errgroup.WithContext(ctx)
	for i, repo := range repos {
		fetched[i] = make([]referrerAt, len(lists[i].descs))
		for j, desc := range lists[i].descs {
			if seen[desc.Digest] || d.attached[desc.Digest] {
				fetched[i][j].skip = true
				continue
			}
			seen[desc.Digest] = true
			if !desc.MediaType.IsImage() && !desc.MediaType.IsIndex() && desc.MediaType != "" {
				g.Wait()
				return nil, fmt.Errorf("%w: referrer %s of %s in %s has media type %q", ErrInvalidManifest, desc.Digest, s.digest, repo, desc.MediaType)
			}
			how := lists[i].how
			g.Go(func() error {
				dg := desc.Digest
				node, m, err := d.fetch(gctx, repo, dg.String(), &dg)
				if err != nil {
					return fmt.Errorf("referrer %s (found by %s): %w", dg, how, err)
				}
				fetched[i][j] = referrerAt{node: node, m: m}
				return nil
			})
		}
	}
	return fetched, g.Wait()
}

// mergeAttached merges what was found in a fixed order (per repository:
// legacy tags, then listed referrers), each artifact once, walking
// attached indexes; a listed referrer that names another subject is
// skipped with a warning.
func (d *discoverer) mergeAttached(ctx context.Context, s subjectAt, repos []name.Repository, tags [][]legacyAt, lists []listing, fetched [][]referrerAt) ([]found, error) {
	var out []found
	added := map[v1.Hash]bool{}
	add := func(f found) error {
		if added[f.a.Manifest.Digest] || d.attached[f.a.Manifest.Digest] {
			return nil
		}
		added[f.a.Manifest.Digest] = true
		if f.m.isIndex() {
			tree, err := d.fetchTree(ctx, f.a.Manifest.Repo, f.m.Manifests, 1, d.opts.MaxDepth)
			if err != nil {
				return fmt.Errorf("attached index %s: %w", f.a.Manifest.Digest, err)
			}
			for _, t := range tree {
				if t.m != nil {
					f.a.Children = append(f.a.Children, t.node)
					f.children = append(f.children, t)
				}
			}
		}
		out = append(out, f)
		return nil
	}
	for i := range repos {
		for j, t := range tags[i] {
			if !t.found {
				continue
			}
			l := legacySuffixes[j]
			if err := add(found{a: Attached{Kind: l.kind, Manifest: t.node, Subject: s.digest, FoundBy: artifact.FoundByLegacyTag, Tag: FallbackTag(s.digest) + l.suffix, PredicateTypes: predicateTypes(t.m)}, m: t.m}); err != nil {
				return nil, err
			}
		}
		for _, r := range fetched[i] {
			if r.skip {
				continue
			}
			if r.m.Subject != nil && r.m.Subject.Digest != s.digest {
				d.c.log.LogAttrs(ctx, slog.LevelWarn, "listed referrer names another subject: skipped", slog.String("referrer", r.node.Digest.String()), slog.String("subject", r.m.Subject.Digest.String()), slog.String("listed-for", s.digest.String()))
				continue
			}
			if err := add(found{a: Attached{Kind: classify(r.m), Manifest: r.node, Subject: s.digest, FoundBy: lists[i].how, PredicateTypes: predicateTypes(r.m)}, m: r.m}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Media types that identify kinds.
const (
	MediaTypeSigstoreBundle03   = "application/vnd.dev.sigstore.bundle.v0.3+json"
	MediaTypeSigstoreBundlePref = "application/vnd.dev.sigstore.bundle+json"
	MediaTypeNotarySignature    = "application/vnd.cncf.notary.signature"
	MediaTypeSimpleSigning      = "application/vnd.dev.cosign.simplesigning.v1+json"
	MediaTypeDSSE               = "application/vnd.dsse.envelope.v1+json"
	MediaTypeInToto             = "application/vnd.in-toto+json"
)

func isBundleType(t string) bool {
	t = strings.ToLower(strings.TrimSpace(t))
	return strings.HasPrefix(t, "application/vnd.dev.sigstore.bundle.v0.") || strings.HasPrefix(t, MediaTypeSigstoreBundlePref)
}

func isSBOMType(t string) bool {
	t = strings.ToLower(mediaTypeOnly(t))
	for _, s := range []string{"application/spdx", "text/spdx", "application/vnd.spdx", "application/vnd.cyclonedx", "application/cyclonedx", "application/vnd.syft+json", "example/sbom"} {
		if strings.HasPrefix(t, s) {
			return true
		}
	}
	return false
}

// classify gives the kind of a referrer from its own manifest.
func classify(m *manifest) artifact.Kind {
	types := []string{m.artifactType()}
	if m.Config != nil {
		types = append(types, string(m.Config.MediaType))
	}
	for _, l := range m.Layers {
		types = append(types, string(l.MediaType))
	}
	at := m.artifactType()
	switch {
	case slices.ContainsFunc(types, isBundleType):
		return artifact.KindSigstoreBundle
	case at == MediaTypeNotarySignature:
		return artifact.KindNotationSignature
	case at == "application/vnd.dev.cosign.artifact.sig.v1+json":
		return artifact.KindCosignSignature
	case at == "application/vnd.dev.cosign.artifact.att.v1+json":
		return artifact.KindCosignAttestation
	case at == "application/vnd.dev.cosign.artifact.sbom.v1+json":
		return artifact.KindCosignSBOM
	case isSBOMType(at):
		return artifact.KindSBOM
	}
	return artifact.KindReferrer
}

// predicateTypes collects predicate types from the manifest's and its layers' annotations.
func predicateTypes(m *manifest) []string {
	var out []string
	add := func(ann map[string]string) {
		for _, k := range []string{AnnotationCosignPredicateType, AnnotationBundlePredicateType, AnnotationInTotoPredicateType} {
			if v := ann[k]; v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	add(m.Annotations)
	for _, l := range m.Layers {
		add(l.Annotations)
	}
	return out
}
