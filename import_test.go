package airlock_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/internal/registry"
	"github.com/airlock-oci/airlock/verify"
)

// importOpts are the options of an import against the fixture's policy and
// trust store, with anonymous registry access (the host's docker
// credentials are never read by these tests).
func (f *fixture) importOpts(extra ...airlock.Option) []airlock.Option {
	return f.verifyOpts(append([]airlock.Option{airlock.WithKeychain(authn.NewMultiKeychain())}, extra...)...)
}

// mirrorRepo is where the demo image lands under host/mirror.
// The source host is kept in the target path (the default mapping).
func mirrorRepo(t *testing.T, f *fixture, host string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(host + "/mirror/" + f.srcDir() + "/vendor/app")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// srcDir is the source registry host as the default mapping writes it
// under a target prefix (its port joined with "_").
func (f *fixture) srcDir() string { return strings.ReplaceAll(f.w.SourceHost(), ":", "_") }

// recorded is one request that reached the target through a targetProxy.
type recorded struct {
	Method string
	Path   string
	Query  url.Values
	Body   []byte // manifest PUTs only
}

// targetProxy is a reverse proxy in front of a registry that records every
// request and, while a fault is set, lets the fault answer instead.
type targetProxy struct {
	srv   *httptest.Server
	mu    sync.Mutex
	log   []recorded
	fault func(http.ResponseWriter, *http.Request) bool // true: answered
}

func newTargetProxy(t *testing.T, target string) *targetProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &targetProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // cancelled and faulted requests are expected
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()}
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec.Body = body
		}
		p.mu.Lock()
		p.log = append(p.log, rec)
		fault := p.fault
		p.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *targetProxy) host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

func (p *targetProxy) setFault(f func(http.ResponseWriter, *http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// take returns the requests recorded so far and forgets them.
func (p *targetProxy) take() []recorded {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.log
	p.log = nil
	return l
}

func isBlobUpload(r recorded) bool { return strings.Contains(r.Path, "/blobs/uploads/") }

// writes are the requests that change something in the registry.
func writes(log []recorded) []recorded {
	var out []recorded
	for _, r := range log {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			out = append(out, r)
		}
	}
	return out
}

// targetTags lists every tag of every repository in the registry at host
// (through the registry itself, not a proxy).
func targetTags(t *testing.T, host string) map[string][]string {
	t.Helper()
	reg, err := name.NewRegistry(host)
	if err != nil {
		t.Fatal(err)
	}
	repos, err := remote.Catalog(context.Background(), reg)
	if err != nil {
		t.Fatalf("catalog of %s: %v", host, err)
	}
	out := map[string][]string{}
	for _, r := range repos {
		tags, err := remote.List(reg.Repo(r))
		if err != nil {
			t.Fatalf("tags of %s/%s: %v", host, r, err)
		}
		if len(tags) > 0 {
			out[r] = tags
		}
	}
	return out
}

// assertNoTags checks that no repository of the registry at host has a tag.
func assertNoTags(t *testing.T, host string) {
	t.Helper()
	if tags := targetTags(t, host); len(tags) != 0 {
		t.Errorf("target has tags after a failed or refused import: %v", tags)
	}
}

// digestOf resolves ref and returns its digest; "" when it does not exist.
func digestOf(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return ""
		}
		t.Fatalf("resolving %s: %v", ref, err)
	}
	return d.Digest.String()
}

// referrerDigests lists what remote.Referrers finds for subject (API or fallback tag).
func referrerDigests(t *testing.T, subject name.Digest) []string {
	t.Helper()
	idx, err := remote.Referrers(subject)
	if err != nil {
		t.Fatalf("referrers of %s: %v", subject, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	// Digests only: ggcr's in-memory registry reports the config media
	// type as artifactType even when the manifest sets one, so the API and
	// the fallback index (which follows the spec) differ there.
	for _, d := range m.Manifests {
		out = append(out, d.Digest.String())
	}
	sort.Strings(out)
	return out
}

// legacyTags are the cosign tags the demo world publishes.
func legacyTags(w *demo.World) []string {
	tag := func(h v1.Hash, suffix string) string { return fmt.Sprintf("%s-%s.%s", h.Algorithm, h.Hex, suffix) }
	return []string{tag(w.Digest, "sig"), tag(w.Digest, "att"), tag(w.Platforms[0], "sig")}
}

var reexports atomic.Int64

// checkImported asserts that the demo image and everything attached to it
// is in the target registry under repo with the source's digests, and that
// the imported copy, exported again from the target, still verifies.
func checkImported(t *testing.T, f *fixture, repo name.Repository, orig string) {
	t.Helper()
	src := f.w.SourceHost() + "/vendor/app"
	if got := digestOf(t, repo.Tag("1.0").String()); got != f.w.Digest.String() {
		t.Fatalf("%s:1.0 = %q, want %s", repo, got, f.w.Digest)
	}
	for _, tag := range legacyTags(f.w) {
		want := digestOf(t, src+":"+tag)
		if want == "" {
			t.Fatalf("source has no %s", tag)
		}
		if got := digestOf(t, repo.Tag(tag).String()); got != want {
			t.Errorf("legacy tag %s: target %q, source %s", tag, got, want)
		}
	}
	for _, p := range f.w.Platforms {
		if got := digestOf(t, repo.Digest(p.String()).String()); got != p.String() {
			t.Errorf("platform manifest %s missing from the target (%q)", p, got)
		}
	}
	// Every blob of every platform is there and hashes right.
	for _, p := range f.w.Platforms {
		img, err := remote.Image(repo.Digest(p.String()))
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(img); err != nil {
			t.Errorf("imported %s does not validate: %v", p, err)
		}
	}
	srcDigest, err := name.NewDigest(src + "@" + f.w.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	want := referrerDigests(t, srcDigest)
	got := referrerDigests(t, repo.Digest(f.w.Digest.String()))
	if len(want) != 2 || !slices.Equal(got, want) {
		t.Errorf("referrers in the target %v, source %v (want the 2 Sigstore bundles)", got, want)
	}

	// The imported copy still verifies, and carries the same artifacts.
	again := f.export(t, fmt.Sprintf("reexport-%d.tar", reexports.Add(1)), []string{repo.Tag("1.0").String()})
	if _, err := airlock.Verify(context.Background(), again, f.verifyOpts()...); err != nil {
		t.Fatalf("re-exported copy does not verify: %v", err)
	}
	ins, err := airlock.Inspect(again)
	if err != nil {
		t.Fatal(err)
	}
	var arts []string
	for _, a := range ins.Images[0].Artifacts {
		arts = append(arts, string(a.Kind)+" "+a.Digest+" on "+a.Subject)
	}
	sort.Strings(arts)
	srcIns, err := airlock.Inspect(orig)
	if err != nil {
		t.Fatal(err)
	}
	var srcArts []string
	for _, a := range srcIns.Images[0].Artifacts {
		srcArts = append(srcArts, string(a.Kind)+" "+a.Digest+" on "+a.Subject)
	}
	sort.Strings(srcArts)
	if !slices.Equal(arts, srcArts) || len(arts) != 5 {
		t.Errorf("artifacts of the re-export:\n%v\nof the source:\n%v", strings.Join(arts, "\n"), strings.Join(srcArts, "\n"))
	}
}

func TestImportRoundTrip(t *testing.T) {
	for _, api := range []bool{true, false} {
		t.Run(fmt.Sprintf("referrersAPI=%v", api), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, demo.Options{TargetReferrersAPI: api})
			path := f.export(t, "b.tar", nil)
			res, err := airlock.Import(context.Background(), path, f.w.TargetHost()+"/mirror", f.importOpts()...)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			repo := mirrorRepo(t, f, f.w.TargetHost())
			if len(res.Images) != 1 {
				t.Fatalf("%d images in the result", len(res.Images))
			}
			ii := res.Images[0]
			if ii.Reference != repo.Tag("1.0").String() || ii.Digest != f.w.Digest.String() || ii.Verdict != verify.VerdictPass || ii.Skipped != "" {
				t.Errorf("result %+v", ii)
			}
			if len(ii.Referrers) != 2 || ii.Blobs == 0 || !slices.Contains(ii.Manifests, f.w.Digest.String()) {
				t.Errorf("result %+v", ii)
			}
			if got := res.Report.Images[0].Targets; !slices.Equal(got, []string{ii.Reference}) {
				t.Errorf("report targets %v", got)
			}
			tags := targetTags(t, f.w.TargetHost())["mirror/"+f.srcDir()+"/vendor/app"]
			fallback := "sha256-" + f.w.Digest.Hex
			if slices.Contains(tags, fallback) == api {
				t.Errorf("fallback tag %s present=%v with referrers API=%v (tags %v)", fallback, !api, api, tags)
			}
			checkImported(t, f, repo, path)
		})
	}
}

// A fault in the target fails the import with an error saying what and
// where; nothing incomplete is tagged; once the fault is gone the same
// import succeeds.
func TestImportTargetFaults(t *testing.T) {
	// ociError answers like a registry does.
	ociError := func(w http.ResponseWriter, status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, msg)
	}
	cases := []struct {
		name  string
		fault func(http.ResponseWriter, *http.Request) bool
		want  error
		says  []string // the error also contains these
	}{
		{
			name: "500 on blob upload",
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				if strings.Contains(r.URL.Path, "/blobs/uploads/") && (r.Method == http.MethodPut || r.Method == http.MethodPatch) {
					ociError(w, http.StatusInternalServerError, "UNKNOWN", "injected: storage backend full")
					return true
				}
				return false
			},
			want: registry.ErrUnavailable,
			says: []string{"500", "injected: storage backend full"},
		},
		{
			name: "connection dropped mid-upload",
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/blobs/uploads/") || r.Method != http.MethodPut {
					return false
				}
				io.CopyN(io.Discard, r.Body, 100) // part of the blob, then the line goes dead
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					panic(err)
				}
				conn.Close()
				return true
			},
			want: registry.ErrUnavailable,
		},
		{
			name: "401 on everything",
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("WWW-Authenticate", `Basic realm="airlock-test"`)
				ociError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
				return true
			},
			want: registry.ErrUnauthorized,
			says: []string{"401"},
		},
		{
			name: "401 on pushes (read-only credentials)",
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet || r.Method == http.MethodHead {
					return false
				}
				w.Header().Set("WWW-Authenticate", `Basic realm="airlock-test"`)
				ociError(w, http.StatusUnauthorized, "UNAUTHORIZED", "push access denied")
				return true
			},
			want: registry.ErrUnauthorized,
			says: []string{"401", "push access denied"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, demo.Options{})
			path := f.export(t, "b.tar", nil)
			proxy := newTargetProxy(t, f.w.Target.URL)
			proxy.setFault(c.fault)
			target := proxy.host() + "/mirror"

			_, err := airlock.Import(context.Background(), path, target, append(f.importOpts(), fastRetry)...)
			if !errors.Is(err, airlock.ErrImport) || !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want ErrImport and %v", err, c.want)
			}
			msg := err.Error()
			t.Logf("error: %v", err)
			if !strings.Contains(msg, f.w.Image) || !strings.Contains(msg, target) {
				t.Errorf("error does not name the image %s and the target %s: %v", f.w.Image, target, msg)
			}
			for _, s := range c.says {
				if !strings.Contains(msg, s) {
					t.Errorf("error does not say %q: %v", s, msg)
				}
			}
			log := proxy.take()
			// A failed blob upload is named by its digest.
			var uploaded []string
			for _, r := range log {
				if isBlobUpload(r) && r.Query.Get("digest") != "" {
					uploaded = append(uploaded, r.Query.Get("digest"))
				}
			}
			if len(uploaded) > 0 {
				m := regexp.MustCompile(`blob (sha256:[0-9a-f]{64})`).FindStringSubmatch(msg)
				if m == nil || !slices.Contains(uploaded, m[1]) {
					t.Errorf("error does not name the blob that failed (uploads tried: %v): %v", uploaded, msg)
				}
			}
			for _, r := range writes(log) {
				if strings.Contains(r.Path, "/manifests/") {
					t.Errorf("a manifest was pushed although the blobs failed: %s %s", r.Method, r.Path)
				}
			}
			assertNoTags(t, f.w.TargetHost())

			proxy.setFault(nil)
			if _, err := airlock.Import(context.Background(), path, target, f.importOpts()...); err != nil {
				t.Fatalf("import after the fault is gone: %v", err)
			}
			checkImported(t, f, mirrorRepo(t, f, f.w.TargetHost()), path)
		})
	}
}

// Cancelling the context in the middle of the blob uploads stops the
// import with the context's error and tags nothing.
func TestImportCancelled(t *testing.T) {
	f := newFixture(t, demo.Options{})
	path := f.export(t, "b.tar", nil)
	proxy := newTargetProxy(t, f.w.Target.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proxy.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			cancel()
		}
		return false
	})
	_, err := airlock.Import(ctx, path, proxy.host()+"/mirror", f.importOpts()...)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	for _, r := range writes(proxy.take()) {
		if strings.Contains(r.Path, "/manifests/") {
			t.Errorf("a manifest was pushed after the cancellation: %s %s", r.Method, r.Path)
		}
	}
	assertNoTags(t, f.w.TargetHost())
}

// The far side's temp space may be full (or missing): Import must not need
// it. Blobs stream out of the bundle file (a section of the tar, re-hashed
// as it is read) straight into the upload's request body, and manifests are
// read into memory; the only file Import writes is the trust store's state,
// which lives in the trust directory (temp name and rename there). So with
// TMPDIR pointing at nothing usable, where any os.CreateTemp("") fails,
// the import still succeeds.
func TestImportNeedsNoTempSpace(t *testing.T) {
	f := newFixture(t, demo.Options{})
	path := f.export(t, "b.tar", nil)
	notDir := filepath.Join(f.dir, "a-file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, tmp string }{
		{"missing", filepath.Join(f.dir, "does-not-exist")},
		{"not a directory", notDir},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("TMPDIR", c.tmp)
			if tf, err := os.CreateTemp("", "probe"); err == nil {
				tf.Close()
				os.Remove(tf.Name())
				t.Fatalf("temp space at %s is usable; the test proves nothing", c.tmp)
			}
			prefix := fmt.Sprintf("%s/tmp%d", f.w.TargetHost(), i)
			if _, err := airlock.Import(context.Background(), path, prefix, f.importOpts()...); err != nil {
				t.Fatalf("import with TMPDIR=%s: %v", c.tmp, err)
			}
			got := digestOf(t, prefix+"/"+f.srcDir()+"/vendor/app:1.0")
			if got != f.w.Digest.String() {
				t.Fatalf("%s/vendor/app:1.0 = %q, want %s", prefix, got, f.w.Digest)
			}
		})
	}
}

// flipBlobByte copies the bundle at path and flips one byte in the middle
// of blob h inside the copy's tar.
func flipBlobByte(t *testing.T, path string, h v1.Hash) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cr := &countReader{r: bytes.NewReader(data)}
	tr := tar.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("blob %s not found in %s", h, path)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(hdr.Name, "blobs/"+h.Algorithm+"/"+h.Hex) {
			// archive/tar reads headers in whole blocks and nothing ahead:
			// the content starts where the reader stands.
			off := cr.n + hdr.Size/2
			data[off] ^= 0x01
			break
		}
	}
	out := path + ".flipped"
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// A bundle that fails verification pushes nothing at all.
func TestImportRefusedBundlePushesNothing(t *testing.T) {
	f := newFixture(t, demo.Options{})
	path := f.export(t, "b.tar", nil)
	img, err := remote.Image(mustDigest(t, f.w.SourceHost()+"/vendor/app@"+f.w.Platforms[0].String()))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	layer, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	otherPolicy := filepath.Join(f.dir, "other-signer.yaml")
	if err := os.WriteFile(otherPolicy, []byte(strings.ReplaceAll(demo.Policy, demo.Identity, "someone-else@vendor.example")), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		bundle string
		opts   []airlock.Option
		want   error
		not    error
		exit   int
		// staged: blobs may have been streamed into upload sessions while
		// the bundle was hashed (import overlaps the two), but nothing may
		// have been committed. Otherwise no write at all may reach the target.
		staged bool
	}{
		{"integrity: one flipped byte in a layer", flipBlobByte(t, path, layer), f.importOpts(), bundle.ErrInvalidBundle, airlock.ErrPolicy, verify.ExitIntegrity, true},
		{"policy: identity does not match", path, append(f.importOpts(), airlock.WithPolicyFile(otherPolicy)), airlock.ErrPolicy, bundle.ErrInvalidBundle, verify.ExitPolicy, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			proxy := newTargetProxy(t, f.w.Target.URL)
			res, err := airlock.Import(context.Background(), c.bundle, proxy.host()+"/mirror", c.opts...)
			if !errors.Is(err, c.want) || errors.Is(err, c.not) {
				t.Fatalf("err = %v, want %v and not %v", err, c.want, c.not)
			}
			var re *airlock.ReportError
			if !errors.As(err, &re) || re.ExitCode() != c.exit {
				t.Errorf("err = %#v, want a ReportError with exit code %d", err, c.exit)
			}
			if res == nil || res.Report == nil || len(res.Images) != 0 {
				t.Errorf("result %+v: want the report and no imported image", res)
			}
			w := writes(proxy.take())
			if !c.staged && len(w) != 0 {
				t.Errorf("%d writes reached the target, first %s %s", len(w), w[0].Method, w[0].Path)
			}
			for _, r := range w {
				if r.Method == http.MethodPut || !isBlobUpload(r) {
					t.Errorf("something was committed to the target: %s %s", r.Method, r.Path)
				}
			}
			// No blob of the image became part of the target repository.
			resp, err := http.Head(f.w.Target.URL + "/v2/mirror/" + f.srcDir() + "/vendor/app/blobs/" + layer.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("HEAD of layer %s of a refused bundle in the target: %d, want 404", layer, resp.StatusCode)
			}
			assertNoTags(t, f.w.TargetHost())
		})
	}
}

func mustDigest(t *testing.T, s string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestImportOnlyVerified(t *testing.T) {
	f := newFixture(t, demo.Options{})
	// A second, unsigned image next to the signed one: the policy's rule
	// for vendor/app requires the vendor's signature.
	unsigned, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	unsignedRef := f.w.SourceHost() + "/vendor/app:2.0"
	tag, err := name.NewTag(unsignedRef)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, unsigned); err != nil {
		t.Fatal(err)
	}
	unsignedDigest, err := unsigned.Digest()
	if err != nil {
		t.Fatal(err)
	}
	path := f.export(t, "two.tar", []string{f.w.Image, unsignedRef})
	repo := mirrorRepo(t, f, f.w.TargetHost())
	ctx := context.Background()

	// Without the option: the whole bundle is refused.
	_, err = airlock.Import(ctx, path, f.w.TargetHost()+"/mirror", f.importOpts()...)
	if !errors.Is(err, airlock.ErrPolicy) {
		t.Fatalf("err = %v, want ErrPolicy", err)
	}
	assertNoTags(t, f.w.TargetHost())

	// With it: the signed image goes in, the other is reported skipped.
	res, err := airlock.Import(ctx, path, f.w.TargetHost()+"/mirror", f.importOpts(airlock.WithOnlyVerified())...)
	if !errors.Is(err, airlock.ErrPolicy) {
		t.Errorf("err = %v, want ErrPolicy still (one image did not pass)", err)
	}
	if res == nil || len(res.Images) != 2 {
		t.Fatalf("result %+v", res)
	}
	for _, ii := range res.Images {
		switch ii.Source {
		case f.w.Image:
			if ii.Skipped != "" || ii.Verdict != verify.VerdictPass || ii.Reference != repo.Tag("1.0").String() {
				t.Errorf("signed image: %+v", ii)
			}
		case unsignedRef:
			if ii.Skipped == "" || ii.Verdict == verify.VerdictPass || ii.Reference != "" || len(ii.Tags) != 0 {
				t.Errorf("unsigned image not reported skipped: %+v", ii)
			}
		default:
			t.Errorf("unexpected image %+v", ii)
		}
	}
	if got := digestOf(t, repo.Tag("1.0").String()); got != f.w.Digest.String() {
		t.Errorf("signed image not imported: %q", got)
	}
	if got := digestOf(t, repo.Tag("2.0").String()); got != "" {
		t.Errorf("unsigned image tagged in the target: %s", got)
	}
	if got := digestOf(t, repo.Digest(unsignedDigest.String()).String()); got != "" {
		t.Errorf("unsigned image pushed by digest: %s", got)
	}
	checkImported(t, f, repo, path)
}

func TestImportTagConflict(t *testing.T) {
	f := newFixture(t, demo.Options{})
	path := f.export(t, "b.tar", nil)
	repo := mirrorRepo(t, f, f.w.TargetHost())
	ctx := context.Background()
	other, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Tag("1.0"), other); err != nil {
		t.Fatal(err)
	}
	old, err := other.Digest()
	if err != nil {
		t.Fatal(err)
	}
	tagMove := func(res *airlock.ImportResult, tag string) airlock.TagMove {
		t.Helper()
		if res == nil || len(res.Images) != 1 {
			t.Fatalf("result %+v", res)
		}
		for _, m := range res.Images[0].Tags {
			if m.Tag == tag {
				return m
			}
		}
		t.Fatalf("no tag %s in %+v", tag, res.Images[0].Tags)
		return airlock.TagMove{}
	}

	// A dry run already says the tag would not move.
	res, err := airlock.Import(ctx, path, f.w.TargetHost()+"/mirror", f.importOpts(airlock.WithDryRun())...)
	if !errors.Is(err, airlock.ErrTagConflict) {
		t.Fatalf("dry run: err = %v, want ErrTagConflict", err)
	}
	if m := tagMove(res, "1.0"); m.Moved || m.Outcome != "conflict" || m.Previous != old.String() {
		t.Errorf("dry run: tag move %+v", m)
	}
	if got := targetTags(t, f.w.TargetHost())["mirror/"+f.srcDir()+"/vendor/app"]; !slices.Equal(got, []string{"1.0"}) {
		t.Errorf("dry run pushed tags: %v", got)
	}

	res, err = airlock.Import(ctx, path, f.w.TargetHost()+"/mirror", f.importOpts()...)
	if !errors.Is(err, airlock.ErrTagConflict) {
		t.Fatalf("err = %v, want ErrTagConflict", err)
	}
	if !strings.Contains(err.Error(), old.String()) {
		t.Errorf("error does not name the digest the tag has: %v", err)
	}
	if got := digestOf(t, repo.Tag("1.0").String()); got != old.String() {
		t.Errorf("tag moved without --force: %s", got)
	}
	m := tagMove(res, "1.0")
	if m.Moved || m.Outcome != "conflict" || m.Previous != old.String() || m.Digest != f.w.Digest.String() {
		t.Errorf("tag move %+v", m)
	}
	for _, lt := range legacyTags(f.w) {
		if m := tagMove(res, lt); !m.Moved || m.Outcome != "new" || m.Previous != "" {
			t.Errorf("new tag %s: %+v", lt, m)
		}
	}

	res, err = airlock.Import(ctx, path, f.w.TargetHost()+"/mirror", f.importOpts(airlock.WithForce())...)
	if err != nil {
		t.Fatalf("import --force: %v", err)
	}
	if m := tagMove(res, "1.0"); !m.Moved || m.Outcome != "forced" || m.Previous != old.String() || m.Digest != f.w.Digest.String() {
		t.Errorf("tag move with --force %+v", m)
	}
	checkImported(t, f, repo, path)

	// Once in place, importing again is not a conflict.
	res, err = airlock.Import(ctx, path, f.w.TargetHost()+"/mirror", f.importOpts()...)
	if err != nil {
		t.Fatalf("import again: %v", err)
	}
	if m := tagMove(res, "1.0"); m.Outcome != "present" || m.Previous != "" || m.Digest != f.w.Digest.String() {
		t.Errorf("tag already in place: %+v", m)
	}
}

func TestImportDryRun(t *testing.T) {
	f := newFixture(t, demo.Options{})
	path := f.export(t, "b.tar", nil)
	proxy := newTargetProxy(t, f.w.Target.URL)
	res, err := airlock.Import(context.Background(), path, proxy.host()+"/mirror", f.importOpts(airlock.WithDryRun())...)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if !res.DryRun || len(res.Images) != 1 {
		t.Fatalf("result %+v", res)
	}
	ii := res.Images[0]
	if ii.Reference != proxy.host()+"/mirror/"+f.srcDir()+"/vendor/app:1.0" || ii.Digest != f.w.Digest.String() {
		t.Errorf("planned %s@%s", ii.Reference, ii.Digest)
	}
	// 2 platforms x (config + 2 layers), plus the artifacts' blobs.
	if ii.Blobs < 6 || ii.Bytes < 4*256<<10 {
		t.Errorf("planned %d blobs, %d bytes", ii.Blobs, ii.Bytes)
	}
	for _, d := range append([]v1.Hash{f.w.Digest}, f.w.Platforms...) {
		if !slices.Contains(ii.Manifests, d.String()) {
			t.Errorf("plan lacks manifest %s: %v", d, ii.Manifests)
		}
	}
	if len(ii.Manifests) != 3+5 || len(ii.Referrers) != 2 {
		t.Errorf("plan: %d manifests %v, %d referrers", len(ii.Manifests), ii.Manifests, len(ii.Referrers))
	}
	var tags []string
	for _, m := range ii.Tags {
		tags = append(tags, m.Tag)
		if !m.Moved || m.Previous != "" {
			t.Errorf("planned tag %+v", m)
		}
	}
	want := append([]string{"1.0"}, legacyTags(f.w)...)
	sort.Strings(tags)
	sort.Strings(want)
	if !slices.Equal(tags, want) {
		t.Errorf("planned tags %v, want %v", tags, want)
	}
	if w := writes(proxy.take()); len(w) != 0 {
		t.Errorf("dry run wrote to the target: %+v", w[0])
	}
	assertNoTags(t, f.w.TargetHost())
	if len(res.Report.Images[0].Targets) != 0 {
		t.Errorf("dry run recorded targets %v", res.Report.Images[0].Targets)
	}
}

// manifestDoc is what the order check reads of a pushed manifest.
type manifestDoc struct {
	Subject   *v1.Descriptor  `json:"subject"`
	Manifests []v1.Descriptor `json:"manifests"`
	Config    *v1.Descriptor  `json:"config"`
	Layers    []v1.Descriptor `json:"layers"`
}

var (
	fallbackTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)
	legacyTag   = regexp.MustCompile(`^sha256-[0-9a-f]{64}\.(sig|att|sbom)$`)
)

// Nothing is pushed before what it needs: blobs before manifests, children
// before indexes, subjects before referrers, and tags last, each pointing
// at something already complete. A legacy cosign artifact goes up once,
// under its tag, with its blobs already in place.
func TestImportOrder(t *testing.T) {
	for _, api := range []bool{true, false} {
		t.Run(fmt.Sprintf("referrersAPI=%v", api), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, demo.Options{TargetReferrersAPI: api})
			path := f.export(t, "b.tar", nil)
			proxy := newTargetProxy(t, f.w.Target.URL)
			if _, err := airlock.Import(context.Background(), path, proxy.host()+"/mirror", f.importOpts()...); err != nil {
				t.Fatal(err)
			}
			log := proxy.take()
			pushed := map[string]int{} // digest -> position of its PUT by digest
			blobs := map[string]int{}  // digest -> position of its upload
			lastDigestPut, firstTagPut := -1, len(log)
			var withSubject, fallbacks, tags, legacy int
			for i, r := range log {
				if r.Method == http.MethodPut && isBlobUpload(r) {
					blobs[r.Query.Get("digest")] = i
					continue
				}
				if r.Method != http.MethodPut || !strings.Contains(r.Path, "/manifests/") {
					continue
				}
				ref := r.Path[strings.LastIndex(r.Path, "/")+1:]
				sum := sha256.Sum256(r.Body)
				h := "sha256:" + hex.EncodeToString(sum[:])
				var m manifestDoc
				if err := json.Unmarshal(r.Body, &m); err != nil {
					t.Fatalf("PUT %s: %v", r.Path, err)
				}
				before := func(what, d string, set map[string]int) {
					if j, ok := set[d]; !ok || j > i {
						t.Errorf("PUT %s (%s) before its %s %s", ref, h, what, d)
					}
				}
				for _, c := range m.Manifests {
					before("child", c.Digest.String(), pushed)
				}
				if m.Config != nil {
					before("config", m.Config.Digest.String(), blobs)
				}
				for _, l := range m.Layers {
					before("layer", l.Digest.String(), blobs)
				}
				if m.Subject != nil {
					withSubject++
					before("subject", m.Subject.Digest.String(), pushed)
				}
				switch {
				case strings.HasPrefix(ref, "sha256:"):
					if ref != h {
						t.Errorf("PUT by digest %s of content %s", ref, h)
					}
					pushed[h] = i
					lastDigestPut = i
				case fallbackTag.MatchString(ref):
					// The referrers fallback index: after its subject and
					// every referrer it lists.
					fallbacks++
					before("subject", "sha256:"+strings.TrimPrefix(ref, "sha256-"), pushed)
				case legacyTag.MatchString(ref):
					tags++
					legacy++
					firstTagPut = min(firstTagPut, i)
					if _, ok := pushed[h]; ok {
						t.Errorf("PUT %s (%s): pushed by digest before, the tag repeats it", ref, h)
					}
				default:
					tags++
					firstTagPut = min(firstTagPut, i)
					before("content (pushed by digest first)", h, pushed)
				}
			}
			if lastDigestPut >= firstTagPut {
				t.Errorf("a tag was set (request %d) before the last manifest was pushed by digest (request %d)", firstTagPut, lastDigestPut)
			}
			if withSubject != 2 || tags != 4 || legacy != 3 || (fallbacks > 0) == api || len(pushed) != 5 || len(blobs) == 0 {
				t.Errorf("checked %d referrers, %d tags (%d legacy), %d fallback tags, %d manifests by digest, %d blobs", withSubject, tags, legacy, fallbacks, len(pushed), len(blobs))
			}
		})
	}
}

// Blobs the target already has are not uploaded again.
func TestImportSkipsPresentBlobs(t *testing.T) {
	f := newFixture(t, demo.Options{})
	path := f.export(t, "b.tar", nil)
	proxy := newTargetProxy(t, f.w.Target.URL)
	uploads := func() int {
		n := 0
		for _, r := range proxy.take() {
			if isBlobUpload(r) && r.Method == http.MethodPost {
				n++
			}
		}
		return n
	}
	for i, want := range []func(int) bool{
		func(n int) bool { return n >= 6 },
		func(n int) bool { return n == 0 },
	} {
		if _, err := airlock.Import(context.Background(), path, proxy.host()+"/mirror", f.importOpts()...); err != nil {
			t.Fatalf("import %d: %v", i+1, err)
		}
		if n := uploads(); !want(n) {
			t.Errorf("import %d started %d blob uploads", i+1, n)
		}
	}
	checkImported(t, f, mirrorRepo(t, f, f.w.TargetHost()), path)
}

func TestMapReference(t *testing.T) {
	cases := []struct {
		src, prefix string
		dropHost    bool
		want        string
	}{
		{"docker.io/library/nginx:1.27", "registry.internal/mirror", true, "registry.internal/mirror/library/nginx"},
		{"nginx:1.27", "registry.internal/mirror", true, "registry.internal/mirror/library/nginx"},
		{"docker.io/library/nginx:1.27", "registry.internal/mirror", false, "registry.internal/mirror/docker.io/library/nginx"},
		{"nginx:1.27", "registry.internal/mirror", false, "registry.internal/mirror/docker.io/library/nginx"},
		{"index.docker.io/library/nginx:1.27", "registry.internal/mirror", false, "registry.internal/mirror/docker.io/library/nginx"},
		{"REGISTRY-1.Docker.IO/library/nginx:1.27", "registry.internal/mirror", false, "registry.internal/mirror/docker.io/library/nginx"},
		{"localhost:5000/team/app:v1", "registry.internal/mirror", false, "registry.internal/mirror/localhost_5000/team/app"},
		{"localhost:5000/team/app:v1", "registry.internal/mirror", true, "registry.internal/mirror/team/app"},
		{"registry.example:443/team/app:v1", "registry.internal/mirror", false, "registry.internal/mirror/registry.example/team/app"},
		{"ghcr.io/org/app@sha256:" + strings.Repeat("a", 64), "registry.internal/a/b", true, "registry.internal/a/b/org/app"},
		{"ghcr.io/org/app:1", "registry.internal", true, "registry.internal/org/app"},
		{"ghcr.io/org/app:1", "registry.internal:5000", false, "registry.internal:5000/ghcr.io/org/app"},
		// Two registries, one path: apart by default.
		{"evil.example/vendor/app:1.0", "registry.internal", false, "registry.internal/evil.example/vendor/app"},
		{"registry.vendor.example/vendor/app:1.0", "registry.internal", false, "registry.internal/registry.vendor.example/vendor/app"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s under %s dropHost=%v", c.src, c.prefix, c.dropHost), func(t *testing.T) {
			src, err := bundle.ParseName(c.src)
			if err != nil {
				t.Fatal(err)
			}
			var prefix name.Repository
			if strings.Contains(c.prefix, "/") {
				prefix, err = name.NewRepository(c.prefix)
			} else {
				var reg name.Registry
				reg, err = name.NewRegistry(c.prefix)
				prefix = reg.Repo()
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := airlock.MapReference(src, prefix, c.dropHost)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name() != c.want {
				t.Errorf("MapReference = %s, want %s", got.Name(), c.want)
			}
		})
	}
}

// Import refuses targets that are not REGISTRY[/PREFIX] before doing anything.
func TestImportTargetUsage(t *testing.T) {
	for _, target := range []string{"", "registry.internal/mirror@sha256:" + strings.Repeat("a", 64), "Bad Host/x"} {
		_, err := airlock.Import(context.Background(), "does-not-matter.tar", target)
		if !errors.Is(err, airlock.ErrUsage) {
			t.Errorf("target %q: err = %v, want ErrUsage", target, err)
		}
	}
}

// Bundles of other shapes import to where the documented mapping says and
// still verify there: an image named by digest (no tag but the legacy
// ones), and the source host kept in the path.
func TestImportVariants(t *testing.T) {
	f := newFixture(t, demo.Options{})
	src := f.w.SourceHost() + "/vendor/app"
	hostDir := strings.ReplaceAll(f.w.SourceHost(), ":", "_")
	fallback := "sha256-" + f.w.Digest.Hex // the target has no referrers API
	cases := []struct {
		name       string
		refs       []string
		exportOpts []airlock.Option
		importOpts []airlock.Option
		prefix     string
		wantRepo   string // under the target host
		tagged     bool   // the image ref carries a tag
		wantTags   []string
	}{
		{"by digest", []string{src + "@" + f.w.Digest.String()}, nil, nil,
			"bydigest", "bydigest/" + hostDir + "/vendor/app", false, append([]string{fallback}, legacyTags(f.w)...)},
		{"source host kept by default", nil, nil, nil,
			"kept", "kept/" + hostDir + "/vendor/app", true, append([]string{"1.0", fallback}, legacyTags(f.w)...)},
		{"source host dropped (unsafe opt-out)", nil, nil, []airlock.Option{airlock.WithDropSourceHostUnsafe()},
			"dropped", "dropped/vendor/app", true, append([]string{"1.0", fallback}, legacyTags(f.w)...)},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := f.export(t, fmt.Sprintf("variant-%d.tar", i), c.refs, c.exportOpts...)
			ins, err := airlock.Inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			digest := ins.Images[0].Digest
			res, err := airlock.Import(context.Background(), path, f.w.TargetHost()+"/"+c.prefix, f.importOpts(c.importOpts...)...)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			repo, err := name.NewRepository(f.w.TargetHost() + "/" + c.wantRepo)
			if err != nil {
				t.Fatal(err)
			}
			wantRef := repo.Digest(digest).String()
			if c.tagged {
				wantRef = repo.Tag("1.0").String()
			}
			if got := res.Images[0].Reference; got != wantRef {
				t.Errorf("reference %s, want %s", got, wantRef)
			}
			if got := digestOf(t, wantRef); got != digest {
				t.Errorf("%s = %q, want %s", wantRef, got, digest)
			}
			tags := targetTags(t, f.w.TargetHost())[c.wantRepo]
			sort.Strings(tags)
			want := slices.Clone(c.wantTags)
			sort.Strings(want)
			if !slices.Equal(tags, want) {
				t.Errorf("tags in %s: %v, want %v", c.wantRepo, tags, want)
			}
			again := f.export(t, fmt.Sprintf("variant-%d-again.tar", i), []string{wantRef})
			if _, err := airlock.Verify(context.Background(), again, f.verifyOpts()...); err != nil {
				t.Fatalf("the imported copy does not verify: %v", err)
			}
		})
	}
}

// Two images in different repositories that share their blobs: each blob
// is uploaded once, and the second repository mounts it from the first.
func TestImportMountsSharedBlobs(t *testing.T) {
	f := newFixture(t, demo.Options{})
	ctx := context.Background()
	src, err := name.ParseReference(f.w.Image)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(src)
	if err != nil {
		t.Fatal(err)
	}
	copyRef, err := name.ParseReference(f.w.SourceHost() + "/vendor/copy:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(copyRef, idx); err != nil {
		t.Fatal(err)
	}
	path := f.export(t, "two.tar", []string{f.w.Image, copyRef.Name()})
	allow := filepath.Join(f.dir, "allow.yaml")
	if err := os.WriteFile(allow, []byte("apiVersion: airlock.dev/v1\nkind: Policy\ndefaultAction: allow\nrules: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	proxy := newTargetProxy(t, f.w.Target.URL)
	res, err := airlock.Import(ctx, path, proxy.host()+"/mirror", airlock.WithPolicyFile(allow), airlock.WithTrustDir(f.trustDir), airlock.WithKeychain(authn.NewMultiKeychain()))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 2 {
		t.Fatalf("%d images imported", len(res.Images))
	}
	// Each blob is committed (PUT ?digest=) once, small blobs (all of this
	// workload's) with their content and no PATCH; the second repository
	// mounts it (a registry that shares blobs between repositories, like
	// ggcr's, already answers HEAD with 200).
	patches, mounts := 0, 0
	commits := map[string]int{}
	for _, r := range proxy.take() {
		switch {
		case r.Method == http.MethodPatch:
			patches++
		case r.Method == http.MethodPost && r.Query.Get("mount") != "":
			mounts++
		case r.Method == http.MethodPut && r.Query.Get("digest") != "":
			commits[r.Query.Get("digest")]++
		}
	}
	if patches != 0 || len(commits) != res.Images[0].Blobs {
		t.Errorf("%d PATCHes and %d committed digests for %d distinct small blobs", patches, len(commits), res.Images[0].Blobs)
	}
	for d, n := range commits {
		if n != 1 {
			t.Errorf("blob %s committed %d times", d, n)
		}
	}
	if mounts > res.Images[1].Blobs {
		t.Errorf("%d mounts for %d blobs", mounts, res.Images[1].Blobs)
	}
	for _, img := range res.Images {
		ref, err := name.ParseReference(strings.Replace(img.Reference, proxy.host(), f.w.TargetHost(), 1))
		if err != nil {
			t.Fatal(err)
		}
		ii, err := remote.Index(ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if err := validate.Index(ii); err != nil {
			t.Errorf("%s does not validate: %v", ref, err)
		}
	}
	// Imported again, every image finds every blob in its own repository,
	// also those the first image stages for both: the receipt says so.
	again, err := airlock.Import(ctx, path, proxy.host()+"/mirror", airlock.WithPolicyFile(allow), airlock.WithTrustDir(f.trustDir), airlock.WithKeychain(authn.NewMultiKeychain()))
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range again.Images {
		if img.Present != img.Blobs {
			t.Errorf("re-import of %s: %d of %d blobs present", img.Reference, img.Present, img.Blobs)
		}
	}
}

// Blobs the target already has are not uploaded again, so they are not
// hashed on the way out: import must still hash them, and refuse a bundle
// in which one of them was changed.
func TestImportHashesBlobsTheTargetHas(t *testing.T) {
	f := newFixture(t, demo.Options{})
	ctx := context.Background()
	path := f.export(t, "b.tar", nil)
	if _, err := airlock.Import(ctx, path, f.w.TargetHost()+"/mirror", f.importOpts()...); err != nil {
		t.Fatal(err)
	}
	src, _ := name.ParseReference(f.w.SourceHost() + "/vendor/app@" + f.w.Platforms[0].String())
	img, err := remote.Image(src)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	layer, _ := layers[0].Digest()
	bad := flipBlobByte(t, path, layer)
	_, err = airlock.Import(ctx, bad, f.w.TargetHost()+"/mirror", append(f.importOpts(), airlock.WithForce())...)
	if !errors.Is(err, bundle.ErrInvalidBundle) {
		t.Fatalf("err = %v, want ErrInvalidBundle", err)
	}
	if !strings.Contains(err.Error(), layer.Hex) {
		t.Errorf("error does not name the changed blob %s: %v", layer, err)
	}
}
