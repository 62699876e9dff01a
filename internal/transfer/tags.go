package transfer

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/airlock-oci/airlock/internal/registry"
)

// TagOutcome is what an import does with one tag, decided before anything
// is committed.
type TagOutcome int

const (
	// TagUnsettled: not yet compared with the target. Commit refuses a
	// plan with an unsettled tag.
	TagUnsettled TagOutcome = iota
	TagNew                  // the target has no such tag: push it
	TagPresent              // it already points at the digest: nothing to do
	TagForced               // it points at another digest: moved (force)
	TagConflict             // it points at another digest: left alone
)

// Push reports whether the commit pushes the tag.
func (t TagOutcome) Push() bool { return t == TagNew || t == TagForced }

func (t TagOutcome) String() string {
	switch t {
	case TagNew:
		return "new"
	case TagPresent:
		return "present"
	case TagForced:
		return "forced"
	case TagConflict:
		return "conflict"
	}
	return "unsettled"
}

// Settle decides each tag's outcome from what the target's tags point at
// now: current maps a tag name to its digest, and a tag absent from it
// does not exist in the target. A tag that points at another digest is
// moved only with force. Settle is pure.
func (im *Image) Settle(current map[string]v1.Hash, force bool) {
	for i := range im.Tags {
		t := &im.Tags[i]
		cur, ok := current[t.Name]
		switch {
		case !ok:
			t.Outcome, t.Previous = TagNew, v1.Hash{}
		case cur == t.Manifest.Digest:
			t.Outcome, t.Previous = TagPresent, v1.Hash{}
		case force:
			t.Outcome, t.Previous = TagForced, cur
		default:
			t.Outcome, t.Previous = TagConflict, cur
		}
	}
}

// Conflicts lists the tags the plan leaves alone because they point at
// another digest in the target, as "repository:tag (has X, bundle has Y)".
func (p *Plan) Conflicts() []string {
	var out []string
	for _, im := range p.Images {
		for _, t := range im.Tags {
			if t.Outcome == TagConflict {
				out = append(out, fmt.Sprintf("%s:%s (has %s, bundle has %s)", im.Repo, t.Name, t.Previous, t.Manifest.Digest))
			}
		}
	}
	return out
}

// Settle reads what each tag of the plan points at in the target (reading
// only) and settles every image's tags (Image.Settle). The images are read
// concurrently (as many at a time as small requests, see Executor.Jobs).
func (e *Executor) Settle(ctx context.Context, p *Plan, force bool) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.smallJobs())
	for _, im := range p.Images {
		g.Go(func() error {
			current, err := e.currentTags(gctx, im)
			if err != nil {
				return fmt.Errorf("%s -> %s: %w", im.Source, im.Repo, err)
			}
			im.Settle(current, force)
			return nil
		})
	}
	return g.Wait()
}

// currentTags resolves the image's tags in its target repository.
func (e *Executor) currentTags(ctx context.Context, im *Image) (map[string]v1.Hash, error) {
	current := map[string]v1.Hash{}
	for _, t := range im.Tags {
		d, err := e.Client.Resolve(ctx, im.Repo.Tag(t.Name))
		switch {
		case errors.Is(err, registry.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("checking tag %s: %w", t.Name, err)
		default:
			current[t.Name] = d.Digest
		}
	}
	return current, nil
}
