package registry

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/artifact"
)

// mirror pushes a discovery into dst the way the import side must: blobs,
// then children, then the root, then attachments subject-first; fallback
// indexes when dst has no referrers API.
func mirror(t *testing.T, c *Client, d *Discovery, dst name.Repository, tag string) {
	t.Helper()
	ctx := context.Background()
	for _, b := range d.Blobs {
		b := b
		_, err := c.PushBlob(ctx, dst, b.Desc, func() (io.ReadCloser, error) { return c.FetchBlob(ctx, b.Repo, b.Desc) })
		if err != nil {
			t.Fatal(err)
		}
	}
	push := func(n Node, tag string) {
		t.Helper()
		h, err := c.PushManifest(ctx, dst, n.MediaType, n.Raw, tag)
		if err != nil {
			t.Fatal(err)
		}
		if h != n.Digest {
			t.Fatalf("pushed %s, got %s", n.Digest, h)
		}
	}
	for _, p := range d.Platforms {
		push(p.Node, "")
	}
	for _, a := range d.Attached {
		if a.FoundBy == artifact.FoundByInIndex {
			push(a.Manifest, "")
		}
	}
	push(d.Root, tag)
	api, err := c.ReferrersAPI(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range d.Attached {
		switch a.FoundBy {
		case artifact.FoundByInIndex:
		case artifact.FoundByLegacyTag:
			push(a.Manifest, a.Tag)
		default:
			push(a.Manifest, "")
			if !api {
				if err := c.AddFallbackReferrer(ctx, dst, a.Subject, a.Manifest.Descriptor()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

type attKey struct {
	kind            artifact.Kind
	digest, subject v1.Hash
}

func attSet(d *Discovery) []attKey {
	var out []attKey
	for _, a := range d.Attached {
		out = append(out, attKey{a.Kind, a.Manifest.Digest, a.Subject})
	}
	slices.SortFunc(out, func(a, b attKey) int { return strings.Compare(a.digest.String(), b.digest.String()) })
	return out
}

func TestPushRoundTrip(t *testing.T) {
	for _, srcAPI := range []bool{true, false} {
		for _, dstAPI := range []bool{true, false} {
			t.Run(fmt.Sprintf("src-api=%v/dst-api=%v", srcAPI, dstAPI), func(t *testing.T) {
				ctx := context.Background()
				src := newTestRegistry(t, srcAPI)
				f := setupMulti(t, src)
				src.pushCosignSig(f.repo, f.index.Digest)
				src.pushCosignAtt(f.repo, f.amd.Digest, "https://spdx.dev/Document")
				c := testClient()
				d, err := c.Discover(ctx, f.repo.Tag("latest"), DiscoverOptions{})
				if err != nil {
					t.Fatal(err)
				}
				dst := newTestRegistry(t, dstAPI)
				target := dst.repo("mirror/multi")
				mirror(t, c, d, target, "latest")

				got, err := c.Discover(ctx, target.Tag("latest"), DiscoverOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if got.Root.Digest != d.Root.Digest || len(got.Platforms) != len(d.Platforms) || len(got.Blobs) != len(d.Blobs) {
					t.Errorf("root/platforms/blobs differ: %s %d %d", got.Root.Digest, len(got.Platforms), len(got.Blobs))
				}
				if !slices.Equal(attSet(got), attSet(d)) {
					t.Errorf("attachments differ:\n got %v\nwant %v", attSet(got), attSet(d))
				}
				want := artifact.FoundByFallbackTag
				if dstAPI {
					want = artifact.FoundByReferrersAPI
				}
				for _, a := range got.Attached {
					if a.Kind == artifact.KindSigstoreBundle && a.FoundBy != want {
						t.Errorf("bundle found by %s, want %s", a.FoundBy, want)
					}
				}
				if !dstAPI {
					// Fallback entries written here carry the manifest's real type
					// and annotations (cosign's say "empty").
					descs, _, err := c.Referrers(ctx, target, f.index.Digest)
					if err != nil {
						t.Fatal(err)
					}
					i := slices.IndexFunc(descs, func(d v1.Descriptor) bool { return d.Digest == f.idxBundle.Digest })
					if i < 0 || descs[i].ArtifactType != MediaTypeSigstoreBundle03 || descs[i].Annotations[AnnotationBundlePredicateType] == "" {
						t.Errorf("fallback entries = %+v", descs)
					}
				}
				// Second import: every blob is skipped after one HEAD, nothing is uploaded.
				dst.resetLog()
				var opened atomic.Int32
				for _, b := range d.Blobs {
					_, err := c.PushBlob(ctx, target, b.Desc, func() (io.ReadCloser, error) { opened.Add(1); return nil, errors.New("must not open") })
					if err != nil {
						t.Fatal(err)
					}
				}
				if n := dst.count("HEAD /v2/mirror/multi/blobs/"); n != len(d.Blobs) || dst.count("POST") != 0 || dst.count("PUT") != 0 || opened.Load() != 0 {
					t.Errorf("re-push: %d HEAD, %d POST, %d PUT, %d opens", n, dst.count("POST"), dst.count("PUT"), opened.Load())
				}
			})
		}
	}
}

func TestReferrersAPIProbe(t *testing.T) {
	ctx := context.Background()
	for _, api := range []bool{true, false} {
		reg := newTestRegistry(t, api)
		repo := reg.repo("probe")
		c := testClient()
		if api {
			// A registry with the API that does not know the repository yet.
			if _, err := c.ReferrersAPI(ctx, repo); !errors.Is(err, ErrNotFound) {
				t.Errorf("empty repo: err = %v, want ErrNotFound", err)
			}
		}
		reg.writeImage(repo, "v1", randomImage(t, "", ""))
		got, err := c.ReferrersAPI(ctx, repo)
		if err != nil || got != api {
			t.Errorf("api=%v: got %v, %v", api, got, err)
		}
	}
}

func TestAddFallbackReferrer(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, false)
	repo := reg.repo("fb")
	subject := reg.writeImage(repo, "v1", randomImage(t, "", ""))
	r1 := reg.pushReferrer(repo, subject, "application/vnd.example.a", "application/octet-stream", []byte("a"), nil)
	r2 := reg.pushReferrer(repo, subject, "application/vnd.example.b", "application/octet-stream", []byte("b"), nil)
	// An existing fallback index written by another tool, with fields we do not know.
	existing := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"annotations":{"made-by":"other"},"manifests":[{"mediaType":%q,"digest":%q,"size":%d,"artifactType":"application/vnd.example.a","annotations":{"keep":"me"},"x-unknown":true}]}`,
		types.OCIImageIndex, r1.MediaType, r1.Digest, r1.Size)
	reg.putRaw(repo, FallbackTag(subject.Digest), types.OCIImageIndex, []byte(existing))
	c := testClient()
	for i := 0; i < 2; i++ { // idempotent
		if err := c.AddFallbackReferrer(ctx, repo, subject.Digest, r2); err != nil {
			t.Fatal(err)
		}
		if err := c.AddFallbackReferrer(ctx, repo, subject.Digest, r1); err != nil {
			t.Fatal(err)
		}
	}
	if n := reg.count("PUT /v2/fb/manifests/" + FallbackTag(subject.Digest)); n != 2 { // the fixture's own PUT + one merge
		t.Errorf("%d PUTs of the fallback tag, want 2", n)
	}
	node, m, err := c.fetchManifest(ctx, repo, FallbackTag(subject.Digest), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 2 {
		t.Fatalf("entries = %+v", m.Manifests)
	}
	if !strings.Contains(string(node.Raw), `"x-unknown":true`) || !strings.Contains(string(node.Raw), `"made-by":"other"`) || m.Manifests[slices.IndexFunc(m.Manifests, func(d v1.Descriptor) bool { return d.Digest == r1.Digest })].Annotations["keep"] != "me" {
		t.Errorf("existing fields lost: %s", node.Raw)
	}
	if m.Manifests[0].Digest.String() > m.Manifests[1].Digest.String() {
		t.Error("entries not sorted by digest")
	}
	descs, how, err := c.Referrers(ctx, repo, subject.Digest)
	if err != nil || how != artifact.FoundByFallbackTag || len(descs) != 2 {
		t.Errorf("Referrers = %v, %s, %v", descs, how, err)
	}
	// A fallback tag holding something else is not overwritten.
	other := reg.writeImage(repo, FallbackTag(r1.Digest), randomImage(t, "", ""))
	_ = other
	if err := c.AddFallbackReferrer(ctx, repo, r1.Digest, r2); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("err = %v, want ErrInvalidManifest", err)
	}
}

func TestPushBlob(t *testing.T) {
	ctx := context.Background()
	content := bytes.Repeat([]byte("airlock"), 1000)
	desc := v1.Descriptor{MediaType: types.OCILayer, Size: int64(len(content)), Digest: sha256Hash(content)}
	opener := func(n *atomic.Int32, b []byte) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { n.Add(1); return io.NopCloser(bytes.NewReader(b)), nil }
	}
	present := func(t *testing.T, c *Client, repo name.Repository) bool {
		t.Helper()
		rc, err := c.FetchBlob(ctx, repo, desc)
		if errors.Is(err, ErrNotFound) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		return err == nil && bytes.Equal(got, content)
	}

	t.Run("retry reopens", func(t *testing.T) {
		reg := newTestRegistry(t, true)
		var puts atomic.Int32
		reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && puts.Add(1) == 1 {
				io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusBadGateway)
				return true
			}
			return false
		})
		var opens atomic.Int32
		c := testClient()
		if _, err := c.PushBlob(ctx, reg.repo("b"), desc, opener(&opens, content)); err != nil {
			t.Fatal(err)
		}
		if opens.Load() != 2 || !present(t, c, reg.repo("b")) {
			t.Errorf("opens = %d", opens.Load())
		}
	})
	t.Run("wrong content not retried", func(t *testing.T) {
		reg := newTestRegistry(t, true)
		bad := bytes.Clone(content)
		bad[10] ^= 1
		var opens atomic.Int32
		c := testClient()
		_, err := c.PushBlob(ctx, reg.repo("b"), desc, opener(&opens, bad))
		if !errors.Is(err, ErrDigestMismatch) || opens.Load() != 1 || present(t, c, reg.repo("b")) {
			t.Errorf("err = %v, opens = %d", err, opens.Load())
		}
		short := content[:100]
		_, err = c.PushBlob(ctx, reg.repo("b"), desc, opener(&opens, short))
		if !errors.Is(err, ErrDigestMismatch) {
			t.Errorf("short: err = %v", err)
		}
	})
	t.Run("open error", func(t *testing.T) {
		reg := newTestRegistry(t, true)
		boom := errors.New("disk gone")
		_, err := testClient().PushBlob(ctx, reg.repo("b"), desc, func() (io.ReadCloser, error) { return nil, boom })
		if !errors.Is(err, boom) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("mount", func(t *testing.T) {
		for _, mounted := range []bool{false, true} {
			reg := newTestRegistry(t, true)
			var mountReq atomic.Value
			reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				// ggcr's registry shares blobs across repositories: hide them from
				// the target so the mount path is taken.
				if r.Method == http.MethodHead && strings.HasPrefix(r.URL.Path, "/v2/dst/blobs/") {
					w.WriteHeader(http.StatusNotFound)
					return true
				}
				if r.Method == http.MethodPost && r.URL.Query().Get("mount") != "" {
					mountReq.Store(r.URL.RawQuery)
					if mounted {
						w.WriteHeader(http.StatusCreated)
						return true
					}
				}
				return false
			})
			var opens atomic.Int32
			_, err := testClient().PushBlob(ctx, reg.repo("dst"), desc, opener(&opens, content), reg.repo("src"), reg.repo("dst"))
			if err != nil {
				t.Fatal(err)
			}
			q, _ := mountReq.Load().(string)
			if !strings.Contains(q, "from=src") || !strings.Contains(q, "mount="+strings.Replace(desc.Digest.String(), ":", "%3A", 1)) {
				t.Errorf("mount query = %q", q)
			}
			wantOpens := int32(1)
			if mounted {
				wantOpens = 0
			}
			if opens.Load() != wantOpens || reg.count("PUT") != int(wantOpens) {
				t.Errorf("mounted=%v: opens %d, PUTs %d", mounted, opens.Load(), reg.count("PUT"))
			}
		}
	})
}

func TestPushManifestAndResolve(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, true)
	repo := reg.repo("m")
	c := testClient()
	img := randomImage(t, "", "")
	src := reg.writeImage(reg.repo("src"), "v1", img) // blobs exist (shared store)
	raw, _ := img.RawManifest()
	for _, tag := range []string{"", "v2"} {
		h, err := c.PushManifest(ctx, repo, src.MediaType, raw, tag)
		if err != nil || h != src.Digest {
			t.Fatalf("push %q: %s %v", tag, h, err)
		}
	}
	for _, ref := range []name.Reference{repo.Tag("v2"), repo.Digest(src.Digest.String())} {
		desc, err := c.Resolve(ctx, ref)
		if err != nil || desc.Digest != src.Digest || desc.Size != src.Size || desc.MediaType != src.MediaType {
			t.Errorf("resolve %s: %+v %v", ref, desc, err)
		}
	}
	if _, err := c.Resolve(ctx, repo.Tag("missing")); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	if _, err := c.PushManifest(ctx, repo, "application/octet-stream", raw, ""); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("bad type: %v", err)
	}
	if _, err := c.PushManifest(ctx, repo, src.MediaType, raw, "bad tag!"); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("bad tag: %v", err)
	}
	if _, err := c.PushManifest(ctx, repo, src.MediaType, make([]byte, MaxManifestSize+1), ""); !errors.Is(err, ErrManifestTooLarge) {
		t.Errorf("large: %v", err)
	}
	// A registry whose HEAD does not announce the digest: Resolve falls back to GET.
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/") {
			w.Header().Set("Content-Type", string(src.MediaType))
			w.WriteHeader(http.StatusOK)
			return true
		}
		return false
	})
	if desc, err := c.Resolve(ctx, repo.Tag("v2")); err != nil || desc.Digest != src.Digest {
		t.Errorf("resolve without digest header: %+v %v", desc, err)
	}
}

func TestHostileAnswers(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, true)
	repo := reg.repo("h")
	img := randomImage(t, "", "")
	d := reg.writeImage(repo, "v1", img)
	cfgName, _ := img.ConfigName()
	cfgDesc := v1.Descriptor{Digest: cfgName}
	rawCfg, _ := img.RawConfigFile()
	cfgDesc.Size = int64(len(rawCfg))
	c := testClient()

	tamper := func(match string, body func([]byte) []byte) {
		reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, match) {
				return false
			}
			rec := httptest.NewRecorder()
			reg.inner.ServeHTTP(rec, r)
			b := body(rec.Body.Bytes())
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.WriteHeader(rec.Code)
			w.Write(b)
			return true
		})
	}
	flip := func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 0x20; return b }

	tamper("/manifests/"+d.Digest.String(), flip)
	if _, err := c.Discover(ctx, repo.Digest(d.Digest.String()), DiscoverOptions{}); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("tampered manifest by digest: %v", err)
	}
	tamper("/manifests/v1", flip) // Docker-Content-Digest no longer matches
	if _, err := c.Discover(ctx, repo.Tag("v1"), DiscoverOptions{}); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("tampered manifest by tag: %v", err)
	}
	tamper("/manifests/v1", func([]byte) []byte { return bytes.Repeat([]byte(" "), MaxManifestSize+10) })
	if _, err := c.Discover(ctx, repo.Tag("v1"), DiscoverOptions{}); !errors.Is(err, ErrManifestTooLarge) {
		t.Errorf("huge manifest: %v", err)
	}
	tamper("/blobs/"+cfgName.String(), flip)
	rc, err := c.FetchBlob(ctx, repo, cfgDesc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("tampered blob: %v", err)
	}
	rc.Close()
	tamper("/blobs/"+cfgName.String(), func(b []byte) []byte { return append(b, 'x') })
	if _, err := c.FetchBlob(ctx, repo, cfgDesc); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("longer blob: %v", err)
	}
	// A referrers page that is not JSON from a registry with the API.
	tamper("/referrers/", func([]byte) []byte { return []byte("{not json") })
	if _, _, err := c.Referrers(ctx, repo, d.Digest); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("bad referrers page: %v", err)
	}
}

func TestReferrersPagination(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, true)
	repo := reg.repo("p")
	subject := reg.writeImage(repo, "v1", randomImage(t, "", ""))
	var want []v1.Hash
	for i := 0; i < 5; i++ {
		want = append(want, reg.pushReferrer(repo, subject, "application/vnd.example", "application/octet-stream", []byte{byte(i)}, nil).Digest)
	}
	// Serve the registry's answer one entry per page, linked with relative URLs.
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "/referrers/") {
			return false
		}
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		r2 := r.Clone(r.Context())
		r2.URL.RawQuery = ""
		rec := httptest.NewRecorder()
		reg.inner.ServeHTTP(rec, r2)
		var idx v1.IndexManifest
		json.Unmarshal(rec.Body.Bytes(), &idx)
		slices.SortFunc(idx.Manifests, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
		all := idx.Manifests
		idx.Manifests = all[p : p+1]
		if p+1 < len(all) {
			w.Header().Set("Link", fmt.Sprintf(`<%s?page=%d>; rel="next"`, r.URL.Path, p+1))
		}
		w.Header().Set("Content-Type", string(types.OCIImageIndex))
		json.NewEncoder(w).Encode(idx)
		return true
	})
	descs, how, err := testClient().Referrers(ctx, repo, subject.Digest)
	if err != nil || how != artifact.FoundByReferrersAPI {
		t.Fatal(how, err)
	}
	var got []v1.Hash
	for _, d := range descs {
		got = append(got, d.Digest)
	}
	slices.SortFunc(want, func(a, b v1.Hash) int { return strings.Compare(a.String(), b.String()) })
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if n := reg.count("GET /v2/p/referrers/"); n != 5 {
		t.Errorf("%d pages fetched", n)
	}
}

// Storage that labels gzip layers "Content-Encoding: gzip" must not make
// net/http decompress them: the digest is over the stored bytes.
func TestFetchBlobNoTransparentDecompression(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, true)
	repo := reg.repo("gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(bytes.Repeat([]byte("layer"), 500))
	zw.Close()
	desc := reg.putBlob(repo, types.OCILayer, buf.Bytes())
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			w.Header().Set("Content-Encoding", "gzip")
		}
		return false
	})
	rc, err := testClient().FetchBlob(ctx, repo, desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, buf.Bytes()) {
		t.Errorf("read %d bytes, %v", len(got), err)
	}
}

// Resolve goes through ggcr's remote.Head on the Client's own
// authenticated transport: one handshake per registry, one HEAD per call,
// and remote's answers classified like every other request.
func TestResolveThroughRemote(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, true)
	repo := reg.repo("r")
	d := reg.writeImage(repo, "v1", randomImage(t, "", ""))
	reg.resetLog()
	c := testClient()
	for range 3 {
		if got, err := c.Resolve(ctx, repo.Tag("v1")); err != nil || got.Digest != d.Digest || got.MediaType != d.MediaType {
			t.Fatalf("%+v %v", got, err)
		}
	}
	reg.mu.Lock()
	var pings, heads int
	for _, r := range reg.reqs {
		pings += btoi(r == "GET /v2/")
		heads += btoi(strings.HasPrefix(r, "HEAD /v2/r/manifests/v1"))
	}
	reg.mu.Unlock()
	if pings != 1 || heads != 3 {
		t.Errorf("%d pings, %d HEADs; want 1 and 3", pings, heads)
	}
	for code, want := range map[int]error{401: ErrUnauthorized, 403: ErrDenied, 429: ErrRateLimited, 503: ErrUnavailable} {
		var n atomic.Int32
		reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodHead {
				n.Add(1)
				w.WriteHeader(code)
				return true
			}
			return false
		})
		_, err := c.Resolve(ctx, repo.Tag("v1"))
		if !errors.Is(err, want) || !strings.Contains(err.Error(), strconv.Itoa(code)) {
			t.Errorf("HEAD answered %d: %v, want %v", code, err, want)
		}
		wantN := int32(1)
		if transient(err) {
			wantN = 3 // testClient retries twice
		}
		if n.Load() != wantN {
			t.Errorf("HEAD answered %d: sent %d times, want %d", code, n.Load(), wantN)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
