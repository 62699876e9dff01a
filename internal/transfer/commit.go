package transfer

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/airlock-oci/airlock/bundle"
)

// Commit makes a staged plan visible in the target. Call it only when
// every check passed. It commits every staged upload in parallel (the
// registry checks each digest, which can mean reading the upload back; on
// a failure every upload is cancelled), then, every blob being in place,
// pushes each image (pushImage): the images no longer depend on each
// other, so they go in parallel, each in its own order. A plan with a tag
// never settled is refused before anything is committed.
func (e *Executor) Commit(ctx context.Context, p *Plan, s *Staging) error {
	for _, im := range p.Images {
		for _, t := range im.Tags {
			if t.Outcome == TagUnsettled {
				s.Cancel(ctx)
				return fmt.Errorf("%s -> %s: tag %s was never compared with the target", im.Source, im.Repo, t.Name)
			}
		}
	}
	err := e.eachBlob(ctx, s, func(ctx context.Context, d v1.Hash) error {
		b := s.byDigest[d]
		if b.st == nil {
			return fmt.Errorf("%s -> %s: blob %s was not staged", b.im.Source, b.im.Repo, d)
		}
		if err := b.st.Commit(ctx); err != nil {
			return fmt.Errorf("%s -> %s: blob %s: %w", b.im.Source, b.im.Repo, d, err)
		}
		return nil
	})
	if err != nil {
		s.Cancel(ctx)
		return err
	}
	mg, mctx := errgroup.WithContext(ctx)
	mg.SetLimit(e.smallJobs())
	for _, im := range p.Images {
		mg.Go(func() error {
			if err := e.pushImage(mctx, im, s); err != nil {
				return fmt.Errorf("%s -> %s: %w", im.Source, im.Repo, err)
			}
			return nil
		})
	}
	return mg.Wait()
}

// pushImage mounts, from the repository that staged it, each committed
// blob an earlier image shares, then pushes the image's manifests in
// order: platform manifests, indexes, the image, the artifacts attached to
// them (referrers also in the fallback index when the target has no
// referrers API), and the tags last.
func (e *Executor) pushImage(ctx context.Context, im *Image, s *Staging) error {
	if err := e.mountShared(ctx, im, s); err != nil {
		return err
	}
	for _, m := range im.Manifests {
		if err := e.pushManifest(ctx, im, m, ""); err != nil {
			return err
		}
	}
	if err := e.pushArtifacts(ctx, im); err != nil {
		return err
	}
	for _, t := range im.Tags {
		if !t.Outcome.Push() {
			continue
		}
		if err := e.pushManifest(ctx, im, t.Manifest, t.Name); err != nil {
			return fmt.Errorf("tag %s: %w", t.Name, err)
		}
	}
	return nil
}

// mountShared puts into im's repository the blobs staged (and now
// committed or present) in another image's repository: mounted from
// there, or uploaded again if the registry will not mount.
func (e *Executor) mountShared(ctx context.Context, im *Image, s *Staging) error {
	for _, b := range im.Blobs {
		sb := s.byDigest[b.Digest]
		if sb == nil || sb.st == nil {
			return fmt.Errorf("blob %s was not staged", b.Digest)
		}
		if sb.im.Repo.Name() == im.Repo.Name() {
			continue // committed with the others
		}
		present, err := e.Client.PushBlob(ctx, im.Repo, b.Descriptor(), e.raw(b.Digest), sb.im.Repo)
		if err != nil {
			return fmt.Errorf("blob %s: %w", b.Digest, err)
		}
		if present {
			s.sharedPresent(im)
		}
	}
	return nil
}

// pushArtifacts pushes each artifact's manifests, subjects first, and
// records each referrer in the fallback index when the target has no
// referrers API (asked once, after the first push made the repository). A
// legacy artifact that its tag brings anyway (tagOnly) is not pushed by
// digest first.
func (e *Executor) pushArtifacts(ctx context.Context, im *Image) error {
	var api *bool
	skip := im.tagOnly()
	for _, a := range im.Artifacts {
		for _, m := range a.Manifests {
			if skip[m.Digest] {
				continue
			}
			if err := e.pushManifest(ctx, im, m, ""); err != nil {
				return err
			}
		}
		if !a.Referrer {
			continue
		}
		if api == nil {
			has, err := e.Client.ReferrersAPI(ctx, im.Repo)
			if err != nil {
				return fmt.Errorf("probing the referrers API: %w", err)
			}
			api = &has
		}
		if !*api {
			if err := e.Client.AddFallbackReferrer(ctx, im.Repo, a.Subject, a.Desc); err != nil {
				return fmt.Errorf("referrer %s of %s: %w", a.Desc.Digest, a.Subject, err)
			}
		}
	}
	return nil
}

// pushManifest pushes one manifest of the bundle (read again, checked
// against its digest and capped) to im's repository, by digest or under tag.
func (e *Executor) pushManifest(ctx context.Context, im *Image, d Ref, tag string) error {
	raw, err := e.Bundle.ReadBlob(d.Digest, bundle.DefaultLimits().MaxManifestSize)
	if err != nil {
		return err
	}
	if _, err := e.Client.PushManifest(ctx, im.Repo, d.MediaType, raw, tag); err != nil {
		return fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	return nil
}

// tagOnly lists the legacy artifacts (cosign's .sig, .att, .sbom) whose
// tag the commit pushes at the end, or that the target already has under
// that tag, and that nothing in the image needs first (Standalone): the
// tag's push carries the manifest, so a push by digest before it would
// only repeat it (two of a signed catalogue's requests per image). An
// artifact whose tag is left alone (a conflict) is still pushed by digest.
func (im *Image) tagOnly() map[v1.Hash]bool {
	tags := map[string]Tag{}
	for _, t := range im.Tags {
		tags[t.Name] = t
	}
	skip := map[v1.Hash]bool{}
	for _, a := range im.Artifacts {
		t, ok := tags[a.Tag]
		if a.Referrer || !a.Standalone || a.Tag == "" || !ok || t.Manifest.Digest != a.Desc.Digest {
			continue
		}
		if t.Outcome.Push() || t.Outcome == TagPresent {
			skip[a.Desc.Digest] = true
		}
	}
	return skip
}
