package transfer

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/airlock-oci/airlock/bundle"
)

// EnsureOmitted makes sure, once every check has passed and before
// anything is committed, that the target holds every blob a delta bundle
// left out (Image.Omitted): in the image's repository, or mounted there
// from the repository the inventory names (the receipt's) or another
// repository of this import. With dryRun it only reads: each blob must be
// in one of those repositories on the image's registry (a mount never
// crosses registries). omitted is the inventory's list, for where each
// blob was said to be held. The blobs are checked concurrently, at most
// as many at a time as small requests (see Executor.Jobs).
func (e *Executor) EnsureOmitted(ctx context.Context, p *Plan, omitted []bundle.OmittedBlob, dryRun bool) error {
	info := map[string]bundle.OmittedBlob{}
	for _, b := range omitted {
		info[b.Digest] = b
	}
	var repos []name.Repository
	for _, im := range p.Images {
		repos = append(repos, im.Repo)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.smallJobs())
	for _, im := range p.Images {
		for _, b := range im.Omitted {
			ob := info[b.Digest.String()]
			g.Go(func() error { return e.ensureOne(gctx, im, b, ob, repos, dryRun) })
		}
	}
	return g.Wait()
}

// ensureOne makes sure im's repository holds one left-out blob: mounted
// from the repository ob names or another of this import (dryRun: found in
// one of them, reading only).
func (e *Executor) ensureOne(ctx context.Context, im *Image, b Ref, ob bundle.OmittedBlob, repos []name.Repository, dryRun bool) error {
	var from []name.Repository
	if ob.Repository != "" {
		if r, err := e.Client.ParseRepository(ob.Repository); err == nil {
			from = append(from, r)
		}
	}
	from = append(from, repos...)
	var err error
	if dryRun {
		err = e.presentIn(ctx, b.Descriptor(), append([]name.Repository{im.Repo}, from...))
	} else {
		notCarried := func() (io.ReadCloser, error) { return nil, fmt.Errorf("not carried by the delta bundle") }
		_, err = e.Client.PushBlob(ctx, im.Repo, b.Descriptor(), notCarried, from...)
	}
	if err != nil {
		return fmt.Errorf("%w: %s (%d bytes) is not in %s nor mountable there; the delta bundle left it out because %s says the target holds it; nothing was tagged: %v",
			ErrMissingAtTarget, b.Digest, b.Size, im.Repo, ob.Source, err)
	}
	return nil
}

// presentIn is the dry run's read-only form of the mount: the blob must be
// in one of repos (the image's own repository first, then those it would
// be mounted from) on the image's registry.
func (e *Executor) presentIn(ctx context.Context, b v1.Descriptor, repos []name.Repository) error {
	for _, r := range repos {
		if r.RegistryStr() != repos[0].RegistryStr() {
			continue
		}
		ok, err := e.Client.HasBlob(ctx, r, b)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("no repository of %s holds it", repos[0].RegistryStr())
}
