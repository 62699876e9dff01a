package registry

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
)

// DiscoverAll discovers every ref as Discover does, many images at once,
// and hands each result to yield in the order of refs, from the calling
// goroutine, as soon as it and every image before it are discovered; a
// Discovery is not kept once yield returns, so memory holds only the
// images in flight. Requests to any one registry are bounded by opts.Jobs
// across all images (DefaultDiscoverJobs when 0), and at most twice that
// many images are discovered ahead of the one yield waits for. The first
// error, from a discovery (naming its image) or from yield, stops every
// discovery and is returned; no goroutine outlives the call.
func (c *Client) DiscoverAll(ctx context.Context, refs []name.Reference, opts DiscoverOptions, yield func(i int, d *Discovery) error) error {
	if err := c.checkDiscoverOptions(&opts); err != nil {
		return err
	}
	lim := newLimiter(opts.Jobs)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel, below
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		d    *Discovery
		err  error
		done chan struct{}
	}
	results := make([]result, len(refs))
	for i := range results {
		results[i].done = make(chan struct{})
	}
	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) error {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
		cancel()
		return firstErr
	}
	window := make(chan struct{}, 2*opts.Jobs) // images started and not yet yielded
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, ref := range refs {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(results[i].done)
				results[i].d, results[i].err = c.discover(ctx, ref, opts, lim)
				if results[i].err != nil {
					fail(results[i].err)
				}
			}()
		}
	}()
	for i := range results {
		select {
		case <-results[i].done:
		case <-ctx.Done():
			return fail(ctx.Err())
		}
		r := results[i]
		results[i] = result{}
		if r.err != nil {
			return fail(r.err)
		}
		if err := yield(i, r.d); err != nil {
			return fail(err)
		}
		<-window
	}
	return nil
}

// limiter bounds the requests in flight to each registry. It is safe for
// concurrent use; a slot is held for one request, never while waiting for
// another, so nested lookups cannot deadlock.
type limiter struct {
	n    int
	mu   sync.Mutex
	sems map[string]chan struct{}
}

func newLimiter(n int) *limiter { return &limiter{n: max(n, 1), sems: map[string]chan struct{}{}} }

// acquire waits for a slot of repo's registry; release gives it back.
func (l *limiter) acquire(ctx context.Context, repo name.Repository) (release func(), err error) {
	host := repo.RegistryStr()
	l.mu.Lock()
	sem := l.sems[host]
	if sem == nil {
		sem = make(chan struct{}, l.n)
		l.sems[host] = sem
	}
	l.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting to contact %s: %w", host, ctx.Err())
	}
}
