package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// pings counts the logged GET /v2/ requests (the auth handshake's ping).
func (tr *testRegistry) pings() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, r := range tr.reqs {
		if r == "GET /v2/" {
			n++
		}
	}
	return n
}

// catalogue writes one random image to each of n repositories and returns
// their references.
func (tr *testRegistry) catalogue(t *testing.T, n int) []name.Reference {
	t.Helper()
	refs := make([]name.Reference, n)
	for i := range refs {
		repo := tr.repo(fmt.Sprintf("cat/r%d", i))
		tr.writeImage(repo, "latest", randomImage(t, "linux", "amd64"))
		refs[i] = repo.Tag("latest")
	}
	tr.resetLog()
	return refs
}

func TestPingOncePerRegistry(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, false)
	refs := reg.catalogue(t, 12)
	c := testClient(WithJobs(4))
	n := 0
	err := c.DiscoverAll(ctx, refs, DiscoverOptions{}, func(int, *Discovery) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != len(refs) {
		t.Fatalf("discovered %d of %d", n, len(refs))
	}
	if got := reg.pings(); got != 1 {
		t.Errorf("%d repositories of one registry cost %d pings, want 1", len(refs), got)
	}
	// Pushing to other repositories (push scope, a mount) reuses the ping too.
	content := []byte("mount me")
	desc := reg.putBlob(refs[0].Context(), "application/octet-stream", content)
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }
	reg.resetLog()
	for i := 1; i < 4; i++ {
		if _, err := c.PushBlob(ctx, reg.repo(fmt.Sprintf("dst/r%d", i)), desc, open, refs[0].Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got, sent := reg.pings(), reg.count("HEAD /v2/dst/"); got != 0 || sent < 3 {
		t.Errorf("pushes into 3 other repositories: %d pings (want 0), %d HEADs (want 3 or more)", got, sent)
	}
	// Each Client pings for itself.
	if _, err := testClient().Resolve(ctx, refs[1]); err != nil {
		t.Fatal(err)
	}
	if got := reg.pings(); got != 1 {
		t.Errorf("a second client: %d pings, want 1", got)
	}
}

func TestPingFailureNotKept(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, false)
	refs := reg.catalogue(t, 2)
	var failing atomic.Int32
	failing.Store(1)
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/" && failing.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	c := testClient(WithRetries(0))
	if _, err := c.Resolve(ctx, refs[0]); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ping answered 503: err = %v, want ErrUnavailable", err)
	}
	for _, ref := range refs {
		if _, err := c.Resolve(ctx, ref); err != nil {
			t.Fatalf("after a failed ping: %v", err)
		}
	}
	if got := reg.pings(); got != 2 {
		t.Errorf("pings = %d, want 2 (the failed one, then one for both repositories)", got)
	}

	// Under the retry policy the failed ping is retried within the call.
	failing.Store(1)
	reg.resetLog()
	if _, err := testClient().Resolve(ctx, refs[1]); err != nil {
		t.Fatalf("with retries: %v", err)
	}
	if got := reg.pings(); got != 2 {
		t.Errorf("with retries: pings = %d, want 2", got)
	}
}

// TestPingConcurrent runs many handshakes at once: they share one ping, and
// a caller that gives up while its ping is in flight leaves the others
// waiting to ping again, not failing with its cancellation. Run with -race.
func TestPingConcurrent(t *testing.T) {
	reg := newTestRegistry(t, false)
	refs := reg.catalogue(t, 8)
	release := make(chan struct{})
	started := make(chan struct{}, 16)
	var first atomic.Bool
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/" && first.CompareAndSwap(false, true) {
			started <- struct{}{}
			<-release // the first ping hangs until its caller has gone
		}
		return false
	})
	c := testClient()
	cctx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() { _, err := c.Resolve(cctx, refs[0]); leaderDone <- err }()
	<-started
	var wg sync.WaitGroup
	errs := make([]error, 2*len(refs))
	for i := range errs {
		wg.Go(func() { _, errs[i] = c.Resolve(context.Background(), refs[i%len(refs)]) })
	}
	time.Sleep(50 * time.Millisecond) // let them queue behind the ping in flight
	cancel()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled caller: %v, want context.Canceled", err)
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if got := reg.pings(); got != 2 {
		t.Errorf("pings = %d, want 2 (the abandoned one, then one for all %d callers)", got, len(errs))
	}
}
