package airlock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/registry"
	"github.com/airlock-oci/airlock/internal/transfer"
	"github.com/airlock-oci/airlock/verify"
)

// ErrTagConflict means a tag in the target points at another digest and
// WithForce was not given: the tag was left alone.
var ErrTagConflict = errors.New("tag points at a different digest in the target")

// errNotRepository is a target that is not "registry[/prefix]".
var errNotRepository = errors.New("want REGISTRY[/PREFIX], without tag or digest")

// Import verifies a bundle exactly as Verify does (persisting the accepted
// TUF state), then pushes what passed to target ("registry/prefix"):
// blobs, then platform manifests, then indexes, then the artifacts attached
// to them (referrers through the referrers API or the fallback tag), then
// tags last, so that no tag points at something incomplete. It pushes the
// bytes it verified: every blob is re-hashed as it streams out of the
// bundle. Nothing is pushed from a bundle that fails integrity, or, unless
// WithOnlyVerified, from one in which any image fails the policy. The
// algorithm is internal/transfer's; this is the sequence of checks around it.
func Import(ctx context.Context, path, target string, opts ...Option) (*ImportResult, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if !o.at.IsZero() {
		return nil, &OptionError{Option: "WithAt", Err: errors.New("reproduces a past verification for an audit and is refused for an import")}
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
	return o.importImages(ctx, client, prefix, v, res)
}

// importImages plans every image that may go and settles its tags against
// the target before any upload, then pushes the plan, or ends without
// pushing (the bundle refused, a dry run, nothing selected).
func (o *options) importImages(ctx context.Context, client *registry.Client, prefix name.Repository, v *verified, res *ImportResult) (*ImportResult, error) {
	anyFailed := slices.ContainsFunc(v.report.Images, func(img verify.ImageResult) bool { return !passed(img) })
	refuse := v.trustRefused || (anyFailed && !o.onlyVerified)
	goes := func(i int) bool { return !refuse && passed(v.report.Images[i]) }
	plan, err := transfer.New(v.graph, v.images, goes, transfer.Mapping{Prefix: prefix, DropHost: o.dropHost})
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrImport, err)
	}
	for _, i := range plan.Skipped {
		img := v.images[i]
		res.Images = append(res.Images, ImportedImage{Source: img.Name.String(), Digest: img.Descriptor.Digest.String(),
			Verdict: v.report.Images[i].Verdict, Skipped: "did not pass verification: nothing pushed"})
	}
	// Past planning the push needs the plan, the report and the bundle
	// reader, not the content graph and the checked images: let them go,
	// so a large catalogue is not held twice while it is pushed.
	v.graph, v.images = nil, nil
	ex := &transfer.Executor{Client: client, Bundle: v.reader, Jobs: o.concurrency, Progress: func(done, total int64) {
		o.emit(Progress{Phase: "push", Done: done, Total: total})
	}}
	if err := ex.Settle(ctx, plan, o.force); err != nil {
		return res, fmt.Errorf("%w: %w", ErrImport, err)
	}
	if refuse || o.dryRun || len(plan.Images) == 0 {
		return o.withoutPush(ctx, ex, v, res, plan, refuse)
	}
	staged, err := o.push(ctx, ex, v, plan)
	if err != nil {
		if v.failed() {
			res.Images = nil
		}
		return res, err
	}
	record(v, res, plan, staged)
	res.Holds = holdingsOf(plan)
	v.report.Finish()
	if conflicts := plan.Conflicts(); len(conflicts) > 0 {
		return res, conflictError(v.report, conflicts)
	}
	if anyFailed {
		return res, v.err()
	}
	return res, nil
}

// passed reports whether an image may be imported.
func passed(img verify.ImageResult) bool {
	return img.Verdict == verify.VerdictPass || img.Verdict == verify.VerdictAllowedByDefault
}

// push hashes every blob while staging the plan's blobs, checks that the
// target holds what a delta bundle left out, persists the TUF state this
// bundle was verified against (rollback protection), and only then
// commits. Every failure before the commit cancels the staged uploads.
func (o *options) push(ctx context.Context, ex *transfer.Executor, v *verified, plan *transfer.Plan) (*transfer.Staging, error) {
	staged, err := ex.Stage(ctx, plan)
	if staged.Verified {
		v.report.Integrity = verify.Integrity{OK: true, Blobs: staged.Blobs, Bytes: staged.Bytes}
	}
	if err == nil {
		if ierr := staged.Integrity(); ierr != nil {
			staged.Cancel(ctx)
			v.integrityFailed(ierr) // the integrity failure is the story, not the cancelled uploads
			return nil, v.err()
		}
		err = ex.EnsureOmitted(ctx, plan, v.inv.Omitted, false)
	}
	if err != nil {
		staged.Cancel(ctx)
		v.report.Finish() // the checks are complete; the transfer failed
		return nil, fmt.Errorf("%w: %w", ErrImport, err)
	}
	if lt, err := o.loadTrust(v.reader, v.inv, true); err != nil || lt.refused {
		staged.Cancel(ctx)
		if err == nil {
			err = fmt.Errorf("%w: the TUF state could not be persisted", ErrTrust)
		}
		return nil, err
	}
	if err := ex.Commit(ctx, plan, staged); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrImport, err)
	}
	return staged, nil
}

// withoutPush ends an import that pushes nothing (the bundle is refused,
// a dry run, or no image goes). Every blob is still hashed, so the report
// says whether the bundle is intact; a dry run of a delta checks, reading
// only, that the target holds what the bundle left out: the import would
// stop there.
func (o *options) withoutPush(ctx context.Context, ex *transfer.Executor, v *verified, res *ImportResult, plan *transfer.Plan, refuse bool) (*ImportResult, error) {
	if err := o.hashBlobs(ctx, v); err != nil {
		return nil, err
	}
	if refuse || v.failed() {
		res.Images = nil
		v.report.Finish()
		return res, v.err()
	}
	if err := ex.EnsureOmitted(ctx, plan, v.inv.Omitted, true); err != nil {
		v.report.Finish()
		return res, fmt.Errorf("%w: %w", ErrImport, err)
	}
	for _, im := range plan.Images {
		res.Images = append(res.Images, receiptEntry(im, v.report.Images[im.Index].Verdict))
	}
	v.report.Finish()
	if conflicts := plan.Conflicts(); len(conflicts) > 0 {
		return res, conflictError(v.report, conflicts)
	}
	return res, v.err()
}

// conflictError reports tags left alone, in the report and as an error.
func conflictError(rep *verify.Report, conflicts []string) error {
	msg := strings.Join(conflicts, "; ")
	rep.Warnings = append(rep.Warnings, "tags not moved (they point at other digests; forcing moves them): "+msg)
	return fmt.Errorf("%w: %d tags not moved: %s", ErrTagConflict, len(conflicts), msg)
}

// parseTarget checks "registry[/prefix]" (no tag, no digest).
func parseTarget(c *registry.Client, target string) (name.Repository, error) {
	t := strings.TrimSuffix(target, "/")
	if t == "" || strings.Contains(t, "@") {
		return name.Repository{}, &OptionError{Option: "target", Value: target, Err: errNotRepository}
	}
	bare := !strings.Contains(t, "/")
	if bare {
		t += "/placeholder" // validate the registry through a repository
	}
	r, err := c.ParseRepository(t)
	if err != nil {
		return name.Repository{}, &OptionError{Option: "target", Value: target, Err: fmt.Errorf("%w: %v", errNotRepository, err)}
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
	return transfer.MapReference(src, prefix, dropHost)
}
