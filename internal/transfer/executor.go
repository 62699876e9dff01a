package transfer

import (
	"context"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/registry"
)

// Executor carries a plan out against a target registry, reading the
// bundle. Its steps, in order: Settle (read the target's tags), Stage
// (upload every large blob into a session held open while the bundle is
// hashed; ask about each small one), EnsureOmitted (a delta bundle's
// left-out blobs), and, only when every check of the caller's passed,
// Commit. An Executor holds no state
// between calls; it is safe for concurrent use if its Progress is.
type Executor struct {
	Client *registry.Client
	Bundle *bundle.Reader
	// Jobs bounds the large blobs (over SmallBlob) in flight; below 1 it
	// is 4. Requests that move little data (small blobs, manifests, tag
	// reads, mounts) wait on round trips rather than bandwidth: four times
	// Jobs of them run at once, beside the large blobs.
	Jobs int
	// Progress, when set, receives the bytes staged so far and the total
	// bytes of the bundle. It may be called from several goroutines at
	// once.
	Progress func(done, total int64)
}

func (e *Executor) jobs() int {
	if e.Jobs < 1 {
		return 4
	}
	return e.Jobs
}

// SmallBlob is the size up to which a blob goes in the wider pool of small
// requests (as export's small blobs do).
const SmallBlob = 1 << 20

// smallJobs bounds the requests that move little data (see Jobs).
func (e *Executor) smallJobs() int { return 4 * e.jobs() }

// eachBlob runs fn for every blob of the staging in two lanes: large blobs
// Jobs at a time and small ones smallJobs at a time beside them, so a
// catalogue's thousands of small blobs never queue behind a large one. The
// first error stops both lanes.
func (e *Executor) eachBlob(ctx context.Context, s *Staging, fn func(context.Context, v1.Hash) error) error {
	var large, small []v1.Hash
	for _, d := range s.order {
		if s.byDigest[d].size > SmallBlob {
			large = append(large, d)
		} else {
			small = append(small, d)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	lane := func(ds []v1.Hash, n int) func() error {
		return func() error {
			lg, lctx := errgroup.WithContext(gctx)
			lg.SetLimit(n)
			for _, d := range ds {
				if lctx.Err() != nil {
					break
				}
				lg.Go(func() error { return fn(lctx, d) })
			}
			return lg.Wait()
		}
	}
	g.Go(lane(large, e.jobs()))
	g.Go(lane(small, e.smallJobs()))
	return g.Wait()
}

// raw opens a blob's raw bytes in the bundle for an upload that checks
// them as it sends (the registry client's own check on what it pushes).
func (e *Executor) raw(d v1.Hash) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return e.Bundle.UnsafeRawBlob(d) }
}

func (e *Executor) progress(done, total int64) {
	if e.Progress != nil {
		e.Progress(done, total)
	}
}
