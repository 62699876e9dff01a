package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/registry"
)

// target is ggcr's in-memory registry on loopback, logging each request.
type target struct {
	host string
	mu   sync.Mutex
	reqs []string
}

func newTarget(t *testing.T, referrersAPI bool) *target {
	tg := &target{}
	inner := ggcrregistry.New(ggcrregistry.WithReferrersSupport(referrersAPI), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.mu.Lock()
		tg.reqs = append(tg.reqs, r.Method+" "+r.URL.Path)
		tg.mu.Unlock()
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tg.host = strings.TrimPrefix(srv.URL, "http://")
	return tg
}

func (tg *target) log() []string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return slices.Clone(tg.reqs)
}

// testBundle is a one-image bundle on disk: an index over one platform
// manifest (its layer over SmallBlob), a referrer (an SBOM whose subject is the platform manifest)
// and a legacy cosign signature of the index.
type testBundle struct {
	path                     string
	r                        *bundle.Reader
	g                        *bundle.Graph
	img                      bundle.CheckedImage
	cfg, layer, m, idx, sbom v1.Descriptor
	sig                      v1.Descriptor
	sigTag                   string
}

func writeBundle(t *testing.T) *testBundle {
	t.Helper()
	path := filepath.Join(t.TempDir(), "b.tar")
	w, err := bundle.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	put := func(mt types.MediaType, v any) v1.Descriptor {
		raw, ok := v.([]byte)
		if !ok {
			var err error
			if raw, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		d, err := w.Put(mt, raw)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	b := &testBundle{path: path}
	b.cfg = put(types.OCIConfigJSON, []byte(`{"architecture":"amd64","os":"linux"}`))
	// The layer is large (staged in an upload session); every other blob
	// is small (asked for, and uploaded whole at the commit).
	b.layer = put(types.OCILayer, bytes.Repeat([]byte("layer content "), SmallBlob/14+1))
	b.m = put(types.OCIManifestSchema1, v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: b.cfg, Layers: []v1.Descriptor{b.layer}})
	b.idx = put(types.OCIImageIndex, v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{b.m}})
	sbomCfg := put("application/vnd.example.sbom+json", []byte(`{}`))
	sbomLayer := put("application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`))
	m := b.m
	b.sbom = put(types.OCIManifestSchema1, v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: sbomCfg, Layers: []v1.Descriptor{sbomLayer}, Subject: &m})
	sigCfg := put(types.OCIConfigJSON, []byte(`{"sig":true}`))
	sigLayer := put("application/vnd.dev.cosign.simplesigning.v1+json", []byte(`{"critical":{}}`))
	b.sig = put(types.OCIManifestSchema1, v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: sigCfg, Layers: []v1.Descriptor{sigLayer}})
	for _, d := range []v1.Descriptor{b.idx, b.sbom, b.sig} {
		w.AddIndex(d)
	}
	if err := w.Commit(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if b.r, err = bundle.Open(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.r.Close() })
	if b.g, err = b.r.Graph(); err != nil {
		t.Fatal(err)
	}
	b.sigTag = "sha256-" + b.idx.Digest.Hex + ".sig"
	n, err := bundle.ParseName("registry.example/team/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	b.img = bundle.CheckedImage{Name: n, Descriptor: b.idx, Artifacts: []bundle.CheckedArtifact{
		{Kind: artifact.KindSBOM, Descriptor: b.sbom, Subject: b.m.Digest, FoundBy: artifact.FoundByReferrersAPI, ArtifactType: "application/vnd.example.sbom+json"},
		{Kind: artifact.KindCosignSignature, Descriptor: b.sig, Subject: b.idx.Digest, FoundBy: artifact.FoundByLegacyTag, Tag: b.sigTag},
	}}
	return b
}

func (b *testBundle) plan(t *testing.T, host string) *Plan {
	t.Helper()
	p, err := New(b.g, []bundle.CheckedImage{b.img}, all, Mapping{Prefix: mustRepo(t, host+"/mirror")})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func countPrefix(reqs []string, prefix string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// position finds the first logged request with the given method whose path
// ends with suffix.
func position(t *testing.T, reqs []string, method, suffix string) int {
	t.Helper()
	for i, r := range reqs {
		if strings.HasPrefix(r, method+" ") && strings.HasSuffix(r, suffix) {
			return i
		}
	}
	t.Fatalf("no %s …%s in %v", method, suffix, reqs)
	return -1
}

// The executor writes nothing visible before Commit, and Commit pushes in
// the order the plan promises: every blob committed before any manifest,
// the platform manifest before its index, each artifact after its subject,
// the fallback referrers index when the target has no referrers API, and
// the tags last, a legacy signature only under its tag.
func TestExecutorOrder(t *testing.T) {
	for _, api := range []bool{true, false} {
		t.Run(map[bool]string{true: "referrers API", false: "fallback tag"}[api], func(t *testing.T) {
			ctx := context.Background()
			b := writeBundle(t)
			tg := newTarget(t, api)
			ex := &Executor{Client: registry.New(registry.WithPlainHTTP(true)), Bundle: b.r, Jobs: 2}
			p := b.plan(t, tg.host)
			if err := ex.Settle(ctx, p, false); err != nil {
				t.Fatal(err)
			}
			s, err := ex.Stage(ctx, p)
			if err != nil || s.Integrity() != nil || !s.Verified {
				t.Fatalf("stage: %v, integrity %v, verified %v", err, s.Integrity(), s.Verified)
			}
			staged := tg.log()
			for _, r := range staged {
				if strings.HasPrefix(r, "PUT ") {
					t.Fatalf("%s before Commit: staging must not make anything visible", r)
				}
			}
			// Only the large layer streams into a session while staging.
			if n := countPrefix(staged, "PATCH "); n != 1 || countPrefix(staged, "POST ") != 1 {
				t.Errorf("staging: %d PATCH, %d POST, want one of each (the large layer):\n%s", n, countPrefix(staged, "POST "), strings.Join(staged, "\n"))
			}
			if err := ex.Commit(ctx, p, s); err != nil {
				t.Fatal(err)
			}
			reqs := tg.log()
			if n := countPrefix(reqs, "PATCH "); n != 1 {
				t.Errorf("%d PATCH requests; small blobs go whole in their PUT", n)
			}
			for _, d := range []v1.Descriptor{b.cfg, b.layer} {
				resp, err := http.Head("http://" + tg.host + "/v2/mirror/registry.example/team/app/blobs/" + d.Digest.String())
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.ContentLength != d.Size {
					t.Errorf("blob %s after commit: %d, %d bytes", d.Digest, resp.StatusCode, resp.ContentLength)
				}
			}
			for _, d := range []v1.Descriptor{b.cfg, b.layer} {
				if !slices.ContainsFunc(reqs, func(r string) bool { return r == "HEAD /v2/mirror/registry.example/team/app/blobs/"+d.Digest.String() }) {
					t.Errorf("blob %s was never asked for", d.Digest)
				}
			}
			lastBlob := -1
			for i, r := range reqs {
				if strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/blobs/uploads/") {
					lastBlob = i
				}
			}
			at := func(suffix string) int { return position(t, reqs, "PUT", "/manifests/"+suffix) }
			order := []int{lastBlob, at(b.m.Digest.String()), at(b.idx.Digest.String()), at(b.sbom.Digest.String())}
			if !api {
				order = append(order, at("sha256-"+b.m.Digest.Hex)) // the fallback index of the SBOM's subject
			}
			// The legacy signature goes up once, under its tag, last: pushing
			// it by digest first would only repeat it (Image.tagOnly).
			if slices.Contains(reqs, "PUT /v2/mirror/registry.example/team/app/manifests/"+b.sig.Digest.String()) {
				t.Errorf("the legacy signature was pushed by digest before its tag brought it")
			}
			for _, tag := range []string{"1.0", b.sigTag} {
				order = append(order, at(tag))
			}
			if !slices.IsSorted(order) || lastBlob < 0 {
				t.Errorf("pushed out of order (positions %v):\n%s", order, strings.Join(reqs, "\n"))
			}
			if api && slices.ContainsFunc(reqs, func(r string) bool { return strings.HasSuffix(r, "/manifests/sha256-"+b.m.Digest.Hex) }) {
				t.Errorf("a fallback referrers tag was written although the target has the referrers API")
			}
			if n := s.Present(p.Images[0]); n != 0 {
				t.Errorf("present %d on an empty target", n)
			}
		})
	}
}

// A blob changed in the bundle after it was opened, large (caught as it
// streams into its session) or small (caught by the bundle reader), fails
// the staging's integrity: nothing is committed, and Commit is never
// reached by a caller that checks.
func TestExecutorStageCatchesChangedBlobs(t *testing.T) {
	for name, content := range map[string][]byte{
		"large layer":       []byte("layer content layer content layer content "),
		"small sig payload": []byte(`{"critical":{}}`),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := writeBundle(t)
			flipInFile(t, b.path, content)
			tg := newTarget(t, false)
			ex := &Executor{Client: registry.New(registry.WithPlainHTTP(true)), Bundle: b.r, Jobs: 2}
			p := b.plan(t, tg.host)
			if err := ex.Settle(ctx, p, false); err != nil {
				t.Fatal(err)
			}
			s, err := ex.Stage(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if s.Integrity() == nil || s.Verified || !errors.Is(s.Integrity(), bundle.ErrInvalidBundle) {
				t.Fatalf("integrity %v, verified %v: the changed blob was not caught", s.Integrity(), s.Verified)
			}
			s.Cancel(ctx)
			for _, r := range tg.log() {
				if strings.HasPrefix(r, "PUT ") {
					t.Errorf("%s: a bundle that failed its integrity committed something", r)
				}
			}
		})
	}
}

// flipInFile changes one byte of the first occurrence of content in the
// file at path, in place (an open bundle.Reader sees the change).
func flipInFile(t *testing.T, path string, content []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, content)
	if i < 0 {
		t.Fatalf("%q not in %s", content, path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{data[i+len(content)/2] ^ 1}, int64(i+len(content)/2)); err != nil {
		t.Fatal(err)
	}
}

// A tag that points elsewhere in the target is left alone without force
// and moved with it; the commit pushes by the settled outcome. A plan whose
// tags were never settled is refused before anything is committed.
func TestExecutorTags(t *testing.T) {
	ctx := context.Background()
	b := writeBundle(t)
	tg := newTarget(t, true)
	c := registry.New(registry.WithPlainHTTP(true))
	ex := &Executor{Client: c, Bundle: b.r}

	p := b.plan(t, tg.host)
	s, err := ex.Stage(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.Commit(ctx, p, s); err == nil || !strings.Contains(err.Error(), "never compared with the target") {
		t.Fatalf("commit of an unsettled plan: %v", err)
	}
	for _, r := range tg.log() {
		if strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/manifests/") {
			t.Fatalf("%s: an unsettled plan pushed a manifest", r)
		}
	}

	// The image's tag points at the signature manifest (any other digest).
	repo := p.Images[0].Repo
	raw, err := b.r.ReadBlob(b.sig.Digest, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PushManifest(ctx, repo, b.sig.MediaType, raw, "1.0"); err != nil {
		t.Fatal(err)
	}
	for _, force := range []bool{false, true} {
		p := b.plan(t, tg.host)
		if err := ex.Settle(ctx, p, force); err != nil {
			t.Fatal(err)
		}
		want := map[bool]TagOutcome{false: TagConflict, true: TagForced}[force]
		if got := p.Images[0].Tags[0]; got.Outcome != want || got.Previous != b.sig.Digest {
			t.Fatalf("force %v: tag 1.0 settled as %s (previous %s), want %s (previous %s)", force, got.Outcome, got.Previous, want, b.sig.Digest)
		}
		s, err := ex.Stage(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := ex.Commit(ctx, p, s); err != nil {
			t.Fatal(err)
		}
		d, err := c.Resolve(ctx, repo.Tag("1.0"))
		if err != nil {
			t.Fatal(err)
		}
		if wantAt := map[bool]v1.Hash{false: b.sig.Digest, true: b.idx.Digest}[force]; d.Digest != wantAt {
			t.Errorf("force %v: 1.0 points at %s, want %s", force, d.Digest, wantAt)
		}
		if force {
			if n := s.Present(p.Images[0]); n != len(p.Images[0].Blobs) {
				t.Errorf("second import: %d of %d blobs present", n, len(p.Images[0].Blobs))
			}
		}
	}
}
