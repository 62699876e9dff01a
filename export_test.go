package airlock_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/verify"
)

// faultProxy sits in front of a registry and answers status to requests
// that match, while fault is on.
type faultProxy struct {
	srv    *httptest.Server
	on     atomic.Bool
	status int
	match  func(*http.Request) bool
}

func newFaultProxy(t *testing.T, target string, status int, match func(*http.Request) bool) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{status: status, match: match}
	p.on.Store(true)
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.on.Load() && p.match(r) {
			http.Error(w, "injected fault", p.status)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *faultProxy) host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

func TestExportInventory(t *testing.T) {
	f := newFixture(t, demo.Options{})
	path := f.export(t, "b.tar", nil)
	ins, err := airlock.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins.Images) != 1 {
		t.Fatalf("%d images", len(ins.Images))
	}
	img := ins.Images[0]
	if img.Digest != f.w.Digest.String() {
		t.Errorf("digest %s, want %s", img.Digest, f.w.Digest)
	}
	if len(img.Platforms) != 2 {
		t.Errorf("platforms %v", img.Platforms)
	}
	got := map[string]int{}
	for _, a := range img.Artifacts {
		got[string(a.Kind)+"/"+string(a.FoundBy)+"/"+a.Subject]++
	}
	idx, p0 := f.w.Digest.String(), f.w.Platforms[0].String()
	want := map[string]int{
		"cosign-signature/legacy-tag/" + idx:   1,
		"cosign-attestation/legacy-tag/" + idx: 1,
		"sigstore-bundle/referrers-api/" + idx: 2,
		"cosign-signature/legacy-tag/" + p0:    1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("artifact %s: %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if img.Vouching.Signatures != 3 || img.Vouching.SBOMs != 1 || img.Vouching.Attestations["https://slsa.dev/provenance/v1"] != 1 {
		t.Errorf("vouching = %+v", img.Vouching)
	}
	if len(ins.Trust) != 1 || ins.Trust[0].Kind != "tuf" || len(ins.Trust[0].Roles) != 4 {
		t.Fatalf("trust = %+v", ins.Trust)
	}
}

// A registry failure during the blob transfer fails the export, names the
// blob, and leaves no bundle (and no temporary file) behind.
func TestExportFailureLeavesNothing(t *testing.T) {
	f := newFixture(t, demo.Options{})
	proxy := newFaultProxy(t, f.w.Source.URL, http.StatusInternalServerError, func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
	})
	ref := proxy.host() + "/vendor/app:1.0"
	out := filepath.Join(f.dir, "fail.tar")
	_, err := airlock.Export(context.Background(), out, []string{ref}, f.tuf(), fastRetry)
	if !errors.Is(err, airlock.ErrExport) {
		t.Fatalf("err = %v, want ErrExport", err)
	}
	if !strings.Contains(err.Error(), "sha256:") || !strings.Contains(err.Error(), "500") {
		t.Errorf("error does not name the blob and the answer: %v", err)
	}
	entries, _ := os.ReadDir(f.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "fail.tar") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	// With the fault gone the same export works.
	proxy.on.Store(false)
	if _, err := airlock.Export(context.Background(), out, []string{ref}, f.tuf()); err != nil {
		t.Fatal(err)
	}
}

// "The registry did not answer" is never read as "there are no signatures".
func TestExportDiscoveryErrorsAreErrors(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f := newFixture(t, demo.Options{})
			proxy := newFaultProxy(t, f.w.Source.URL, status, func(r *http.Request) bool {
				return strings.Contains(r.URL.Path, ".sig") || strings.Contains(r.URL.Path, "/referrers/")
			})
			_, err := airlock.Export(context.Background(), filepath.Join(f.dir, "x.tar"), []string{proxy.host() + "/vendor/app:1.0"},
				f.tuf(), fastRetry)
			if err == nil {
				t.Fatal("export succeeded although signature discovery failed")
			}
		})
	}
}

func TestExportPlatformFilter(t *testing.T) {
	f := newFixture(t, demo.Options{})
	path := f.export(t, "amd64.tar", nil, airlock.WithPlatforms("linux/amd64"))
	ins, err := airlock.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	img := ins.Images[0]
	if img.Filter == nil || img.SourceDigest != f.w.Digest.String() || img.Digest == f.w.Digest.String() {
		t.Fatalf("filtering is not reported: filter=%+v source=%s digest=%s", img.Filter, img.SourceDigest, img.Digest)
	}
	if !strings.Contains(img.Filter.Note, f.w.Digest.String()) {
		t.Errorf("note does not name the original index digest: %q", img.Filter.Note)
	}
	if len(img.Platforms) != 1 || img.Platforms[0].Platform != "linux/amd64" {
		t.Fatalf("platforms %v", img.Platforms)
	}
	for _, a := range img.Artifacts {
		if a.Subject == f.w.Digest.String() {
			t.Errorf("artifact %s on the original index was carried although it does not cover the new one", a.Digest)
		}
	}
	// The amd64 manifest's own signature still verifies and covers it.
	rep, _ := airlock.Verify(context.Background(), path, f.verifyOpts()...)
	if rep == nil || !rep.Integrity.OK {
		t.Fatalf("report %+v", rep)
	}
	found := false
	for _, fd := range rep.Images[0].Findings {
		if fd.Kind == artifact.KindCosignSignature && fd.Status == verify.StatusVerified && fd.Subject == f.w.Platforms[0].String() {
			found = true
		}
	}
	if !found {
		t.Errorf("the platform signature did not verify: %+v", rep.Images[0].Findings)
	}
}

func TestExportUsageErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cases := []struct {
		name string
		out  string
		refs []string
		opts []airlock.Option
	}{
		{"no output", "", []string{"localhost:1/x:y"}, nil},
		{"no images", filepath.Join(dir, "a.tar"), nil, nil},
		{"bad reference", filepath.Join(dir, "a.tar"), []string{"UPPER/Case::bad"}, []airlock.Option{airlock.WithoutTUF()}},
		{"bad platform", filepath.Join(dir, "a.tar"), []string{"localhost:1/x:y"}, []airlock.Option{airlock.WithPlatforms("linux")}},
		{"bad concurrency", filepath.Join(dir, "a.tar"), []string{"localhost:1/x:y"}, []airlock.Option{airlock.WithConcurrency(0)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := airlock.Export(ctx, c.out, c.refs, c.opts...)
			if !errors.Is(err, airlock.ErrUsage) {
				t.Fatalf("err = %v, want ErrUsage", err)
			}
		})
	}
	_ = bundle.ErrInvalidBundle
}

// loopbackOnly forwards loopback requests and refuses every other host,
// recording what was asked.
type loopbackOnly struct{ refused []string }

func (l *loopbackOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if h := r.URL.Hostname(); h == "127.0.0.1" || h == "localhost" {
		return http.DefaultTransport.RoundTrip(r)
	}
	l.refused = append(l.refused, r.URL.Host)
	return nil, errors.New("no route to " + r.URL.Host + " (test: loopback only)")
}

// Without TUF options, export captures Sigstore's public-good repository;
// when it cannot be reached the export fails and says how to go on.
func TestExportCapturesPublicGoodByDefault(t *testing.T) {
	f := newFixture(t, demo.Options{})
	rt := &loopbackOnly{}
	out := filepath.Join(f.dir, "pg.tar")
	_, err := airlock.Export(context.Background(), out, []string{f.w.Image}, airlock.WithTransport(rt))
	if !errors.Is(err, airlock.ErrExport) {
		t.Fatalf("err = %v", err)
	}
	if len(rt.refused) == 0 || !strings.Contains(rt.refused[0], "sigstore.dev") {
		t.Errorf("public-good repository not asked for: %v", rt.refused)
	}
	// The error names the situation; the CLI adds the flag (--no-tuf,
	// TestCLIGuidance).
	if !errors.Is(err, airlock.ErrTUFCapture) {
		t.Errorf("error does not say what failed: %v", err)
	}
	if _, serr := os.Stat(out); serr == nil {
		t.Error("a bundle was left behind")
	}
}

// A registry that sends other bytes than the digest names: the bundle
// writer's own check refuses the blob (export hashes each blob once, in the
// writer), the export fails with a digest mismatch and leaves nothing.
func TestExportRefusesWrongBlobContent(t *testing.T) {
	f := newFixture(t, demo.Options{})
	u, err := url.Parse(f.w.Source.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	var corrupted atomic.Int32
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodGet || !strings.Contains(resp.Request.URL.Path, "/blobs/sha256:") || resp.ContentLength < 100 {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body[len(body)/2] ^= 0xff // same size, other content
		corrupted.Add(1)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	out := filepath.Join(f.dir, "lied.tar")
	_, err = airlock.Export(context.Background(), out, []string{strings.TrimPrefix(srv.URL, "http://") + "/vendor/app:1.0"}, f.tuf())
	if !errors.Is(err, bundle.ErrDigestMismatch) || !errors.Is(err, airlock.ErrExport) {
		t.Fatalf("err = %v, want ErrExport wrapping bundle.ErrDigestMismatch", err)
	}
	if corrupted.Load() == 0 {
		t.Fatal("no blob went through the corrupting proxy")
	}
	entries, _ := os.ReadDir(f.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "lied.tar") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// Retry timing is validated like every option.
func TestRetryBackoffValidated(t *testing.T) {
	for _, b := range [][2]time.Duration{{-time.Millisecond, time.Second}, {time.Second, time.Millisecond}} {
		_, err := airlock.Export(context.Background(), filepath.Join(t.TempDir(), "x.tar"), []string{"registry.invalid/app:1"}, airlock.WithRetryBackoff(b[0], b[1]))
		if !errors.Is(err, airlock.ErrUsage) {
			t.Errorf("backoff %s..%s: err = %v, want ErrUsage", b[0], b[1], err)
		}
	}
}
