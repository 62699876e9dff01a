package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// catalogue pushes n signed single-platform images, one repository each.
func catalogue(t *testing.T, reg *testRegistry, n int) []name.Reference {
	t.Helper()
	var refs []name.Reference
	for i := range n {
		repo := reg.repo(fmt.Sprintf("cat/app%d", i))
		desc := reg.writeImage(repo, "v1", randomImage(t, "linux", "amd64"))
		reg.pushCosignSig(repo, desc.Digest)
		refs = append(refs, repo.Tag("v1"))
	}
	return refs
}

func TestDiscoverAllMatchesDiscoverInOrder(t *testing.T) {
	ctx := context.Background()
	for _, api := range []bool{true, false} {
		t.Run(map[bool]string{true: "referrers-api", false: "no-api"}[api], func(t *testing.T) {
			reg := newTestRegistry(t, api)
			refs := catalogue(t, reg, 12)
			c := testClient()
			var got []*Discovery
			err := c.DiscoverAll(ctx, refs, DiscoverOptions{Jobs: 3}, func(i int, d *Discovery) error {
				if i != len(got) {
					t.Fatalf("yield %d after %d results: out of order", i, len(got))
				}
				got = append(got, d)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(refs) {
				t.Fatalf("%d results for %d refs", len(got), len(refs))
			}
			for i, ref := range refs {
				want, err := c.Discover(ctx, ref, DiscoverOptions{})
				if err != nil {
					t.Fatal(err)
				}
				d := got[i]
				checkNodes(t, d)
				if d.Ref.String() != ref.String() || d.Root.Digest != want.Root.Digest || len(d.Attached) != len(want.Attached) || len(d.Blobs) != len(want.Blobs) {
					t.Fatalf("image %d: DiscoverAll gave %s with %d attached, %d blobs; Discover %s with %d, %d",
						i, d.Root.Digest, len(d.Attached), len(d.Blobs), want.Root.Digest, len(want.Attached), len(want.Blobs))
				}
				for j := range d.Attached {
					if d.Attached[j].Manifest.Digest != want.Attached[j].Manifest.Digest || d.Attached[j].FoundBy != want.Attached[j].FoundBy {
						t.Errorf("image %d attached %d differs", i, j)
					}
				}
			}
		})
	}
}

// The per-registry bound holds across images: the registry never sees more
// than Jobs requests at once.
func TestDiscoverAllBoundsRequestsPerRegistry(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, false)
	refs := catalogue(t, reg, 10)
	var mu sync.Mutex
	inFlight, peak := 0, 0
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/" {
			return false // the auth handshake is not a discovery request
		}
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond) // long enough for requests to overlap
		reg.inner.ServeHTTP(w, r)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return true
	})
	const jobs = 3
	n := 0
	if err := testClient().DiscoverAll(ctx, refs, DiscoverOptions{Jobs: jobs}, func(int, *Discovery) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != len(refs) {
		t.Fatalf("%d of %d images", n, len(refs))
	}
	if peak > jobs || peak < 2 {
		t.Fatalf("peak of %d requests in flight, want 2..%d", peak, jobs)
	}
}

func TestDiscoverAllStopsAtFirstError(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, true)
	refs := catalogue(t, reg, 6)
	refs[3] = reg.repo("cat/missing").Tag("v1")
	yielded := 0
	err := testClient().DiscoverAll(ctx, refs, DiscoverOptions{Jobs: 2}, func(int, *Discovery) error { yielded++; return nil })
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "cat/missing") {
		t.Fatalf("err = %v, want ErrNotFound naming cat/missing", err)
	}
	if yielded > 3 {
		t.Fatalf("%d images yielded past the failing one", yielded)
	}
	// An error from yield stops it too, and is returned as is.
	stop := errors.New("stop")
	err = testClient().DiscoverAll(ctx, refs[:3], DiscoverOptions{}, func(i int, _ *Discovery) error {
		if i == 1 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the yield error", err)
	}
	if err := testClient().DiscoverAll(ctx, refs, DiscoverOptions{Jobs: -1}, nil); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("Jobs -1: err = %v", err)
	}
}

func TestDiscoverSinglePlatform(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, true)
	repo := reg.repo("single")
	img := randomImage(t, "linux", "arm64")
	desc := reg.writeImage(repo, "v1", img)
	reg.resetLog()
	d, err := testClient().Discover(ctx, repo.Tag("v1"), DiscoverOptions{SinglePlatform: true})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawConfigFile()
	if string(d.Config) != string(raw) {
		t.Fatal("the config read is not kept")
	}
	if len(d.Platforms) != 1 || d.Platforms[0].Node.Digest != desc.Digest || d.Platforms[0].Platform.String() != "linux/arm64" {
		t.Fatalf("platforms = %+v", d.Platforms)
	}
	if n := reg.count("GET /v2/single/blobs/"); n != 1 {
		t.Fatalf("config read %d times", n)
	}
	// With a platform filter as well, the config is still read once.
	reg.resetLog()
	d, err = testClient().Discover(ctx, repo.Tag("v1"), DiscoverOptions{SinglePlatform: true, Platforms: []v1.Platform{{OS: "linux", Architecture: "arm64"}}})
	if err != nil || len(d.Platforms) != 1 {
		t.Fatalf("filtered: %v %+v", err, d)
	}
	if n := reg.count("GET /v2/single/blobs/"); n != 1 {
		t.Fatalf("config read %d times with a filter", n)
	}
	// Without the option nothing is read.
	reg.resetLog()
	d, err = testClient().Discover(ctx, repo.Tag("v1"), DiscoverOptions{})
	if err != nil || len(d.Platforms) != 0 || d.Config != nil || reg.count("GET /v2/single/blobs/") != 0 {
		t.Fatalf("without SinglePlatform: %v %+v", err, d)
	}
}
