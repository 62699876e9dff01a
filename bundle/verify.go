package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// VerifyBlobs hashes every blob of the bundle and compares it with its name.
// GOMAXPROCS workers read disjoint sections of the file in parallel, each
// byte once, with a 1 MiB buffer per worker; the largest blobs start first
// so one big layer does not finish last alone.
//
// progress, when not nil, receives bytes hashed so far and the total; it is
// called from the workers but never two calls at once.
//
// Every mismatching blob is reported (errors.Join of errors wrapping
// ErrDigestMismatch); ctx cancels the walk.
func (r *Reader) VerifyBlobs(ctx context.Context, progress func(done, total int64)) error {
	return r.VerifySome(ctx, r.order, progress)
}

// VerifySome is VerifyBlobs for the named blobs only (a caller that hashes
// the others itself as it streams them). A name the bundle does not hold is
// an error wrapping ErrNotFound.
func (r *Reader) VerifySome(ctx context.Context, blobs []v1.Hash, progress func(done, total int64)) error {
	for _, h := range blobs {
		if _, ok := r.blobs[h]; !ok {
			return fmt.Errorf("verifying blob %s of %s: %w", h, r.path, ErrNotFound)
		}
	}
	hs := slices.Clone(blobs)
	var total int64
	for _, h := range hs {
		total += r.blobs[h].size
	}
	slices.SortStableFunc(hs, func(a, b v1.Hash) int {
		sa, sb := r.blobs[a].size, r.blobs[b].size
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan v1.Hash)
	var (
		mu   sync.Mutex
		done int64
		errs []error
	)
	report := func(n int64) {
		if progress == nil || n == 0 {
			return
		}
		mu.Lock()
		done += n
		progress(done, total)
		mu.Unlock()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(jobs)
		for _, h := range hs {
			select {
			case jobs <- h:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range workers {
		g.Go(func() error {
			buf := make([]byte, 1<<20)
			for h := range jobs {
				vr := r.verifyingReader(h, r.blobs[h])
				for {
					if err := gctx.Err(); err != nil {
						return err
					}
					m, err := vr.Read(buf)
					report(int64(m))
					if err == io.EOF {
						break
					}
					if verr := vr.Err(); verr != nil {
						mu.Lock()
						errs = append(errs, verr)
						mu.Unlock()
						break
					}
					if err != nil {
						return fmt.Errorf("reading blob %s: %w", h, err)
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("verifying blobs of %s: %w", r.path, ctx.Err())
		}
		return fmt.Errorf("verifying blobs of %s: %w", r.path, err)
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int {
			switch {
			case a.Error() < b.Error():
				return -1
			case a.Error() > b.Error():
				return 1
			}
			return 0
		})
		return fmt.Errorf("verifying blobs of %s: %w", r.path, errors.Join(errs...))
	}
	return nil
}
