package registry

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/artifact"
)

// testRegistry is ggcr's in-memory registry on loopback, with a request log
// and an optional fault injector in front of it.
type testRegistry struct {
	t    *testing.T
	srv  *httptest.Server
	host string
	api  bool

	inner http.Handler

	mu    sync.Mutex
	reqs  []string
	fault func(w http.ResponseWriter, r *http.Request) bool // true: handled
}

func newTestRegistry(t *testing.T, referrersAPI bool) *testRegistry {
	t.Helper()
	tr := &testRegistry{t: t, api: referrersAPI}
	inner := ggcrregistry.New(ggcrregistry.WithReferrersSupport(referrersAPI), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	tr.inner = inner
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.reqs = append(tr.reqs, r.Method+" "+r.URL.RequestURI())
		fault := tr.fault
		tr.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "http://")
	return tr
}

func (tr *testRegistry) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.fault = f
}

func (tr *testRegistry) resetLog() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.reqs = nil
}

// log returns the logged requests ("METHOD /path"), without the /v2/ ping.
func (tr *testRegistry) log() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for _, r := range tr.reqs {
		if r != "GET /v2/" {
			out = append(out, r)
		}
	}
	return out
}

// count returns how many logged requests start with prefix ("METHOD /path").
func (tr *testRegistry) count(prefix string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, r := range tr.reqs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (tr *testRegistry) repo(s string) name.Repository {
	tr.t.Helper()
	r, err := name.NewRepository(tr.host + "/" + s)
	if err != nil {
		tr.t.Fatal(err)
	}
	return r
}

func testClient(opts ...Option) *Client {
	base := []Option{WithKeychain(authn.NewMultiKeychain()), WithRetries(2), WithBackoff(time.Millisecond, 5*time.Millisecond)}
	return New(append(base, opts...)...)
}

// putRaw PUTs a manifest without any client logic (no fallback tag upkeep).
func (tr *testRegistry) putRaw(repo name.Repository, ref string, mt types.MediaType, raw []byte) v1.Hash {
	tr.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, tr.srv.URL+"/v2/"+repo.RepositoryStr()+"/manifests/"+ref, bytes.NewReader(raw))
	req.Header.Set("Content-Type", string(mt))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tr.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		tr.t.Fatalf("PUT manifest %s: %d", ref, resp.StatusCode)
	}
	return sha256Hash(raw)
}

// putBlob uploads content monolithically and returns its descriptor.
func (tr *testRegistry) putBlob(repo name.Repository, mt types.MediaType, content []byte) v1.Descriptor {
	tr.t.Helper()
	h := sha256Hash(content)
	resp, err := http.Post(tr.srv.URL+"/v2/"+repo.RepositoryStr()+"/blobs/uploads/?digest="+h.String(), "application/octet-stream", bytes.NewReader(content))
	if err != nil {
		tr.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		tr.t.Fatalf("POST blob: %d", resp.StatusCode)
	}
	return v1.Descriptor{MediaType: mt, Size: int64(len(content)), Digest: h}
}

func (tr *testRegistry) writeImage(repo name.Repository, tag string, img v1.Image) v1.Descriptor {
	tr.t.Helper()
	if err := remote.Write(repo.Tag(tag), img); err != nil {
		tr.t.Fatal(err)
	}
	return descOf(tr.t, img)
}

func descOf(t *testing.T, m interface {
	RawManifest() ([]byte, error)
	MediaType() (types.MediaType, error)
}) v1.Descriptor {
	t.Helper()
	raw, err := m.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := m.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: sha256Hash(raw)}
}

func randomImage(t *testing.T, os, arch string) v1.Image {
	t.Helper()
	img, err := random.Image(64, 2)
	if err != nil {
		t.Fatal(err)
	}
	if os != "" {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = os, arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// cosignImage builds a manifest the way cosign does for .sig/.att/.sbom:
// mutate.Append on empty.Image, OCI manifest, OCI config.
func cosignImage(t *testing.T, layerType types.MediaType, payload []byte, ann map[string]string) v1.Image {
	t.Helper()
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(payload, layerType), Annotations: ann})
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON)
}

// pushCosignSig pushes sha256-<hex>.sig for subject into repo.
func (tr *testRegistry) pushCosignSig(repo name.Repository, subject v1.Hash) v1.Descriptor {
	payload := fmt.Sprintf(`{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, repo.String(), subject)
	img := cosignImage(tr.t, MediaTypeSimpleSigning, []byte(payload), map[string]string{
		"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString([]byte("not a real signature")),
		"dev.sigstore.cosign/bundle":         `{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"00"}}`,
	})
	return tr.writeImage(repo, FallbackTag(subject)+".sig", img)
}

func (tr *testRegistry) pushCosignAtt(repo name.Repository, subject v1.Hash, predicateType string) v1.Descriptor {
	stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":%q,"digest":{"sha256":%q}}],"predicateType":%q,"predicate":{}}`, repo.String(), subject.Hex, predicateType)
	env := fmt.Sprintf(`{"payloadType":"application/vnd.in-toto+json","payload":%q,"signatures":[{"keyid":"","sig":"AA=="}]}`, base64.StdEncoding.EncodeToString([]byte(stmt)))
	img := cosignImage(tr.t, MediaTypeDSSE, []byte(env), map[string]string{
		"dev.cosignproject.cosign/signature": "",
		"predicateType":                      predicateType,
	})
	return tr.writeImage(repo, FallbackTag(subject)+".att", img)
}

func (tr *testRegistry) pushCosignSBOM(repo name.Repository, subject v1.Hash) v1.Descriptor {
	img := cosignImage(tr.t, "text/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3","name":"x"}`), nil)
	return tr.writeImage(repo, FallbackTag(subject)+".sbom", img)
}

// pushReferrer pushes an OCI 1.1 artifact manifest with subject, empty
// config and one layer; it does not touch the fallback tag.
func (tr *testRegistry) pushReferrer(repo name.Repository, subject v1.Descriptor, artifactType string, layerType types.MediaType, content []byte, ann map[string]string) v1.Descriptor {
	tr.t.Helper()
	cfg := tr.putBlob(repo, "application/vnd.oci.empty.v1+json", []byte("{}"))
	layer := tr.putBlob(repo, layerType, content)
	layer.Annotations = ann
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIManifestSchema1,
		"artifactType":  artifactType,
		"config":        cfg,
		"layers":        []v1.Descriptor{layer},
		"subject":       v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest},
		"annotations":   ann,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		tr.t.Fatal(err)
	}
	h := tr.putRaw(repo, sha256Hash(raw).String(), types.OCIManifestSchema1, raw)
	return v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(raw)), Digest: h, ArtifactType: artifactType}
}

// writeFallback tags sha256-<hex> with an index listing referrers the way
// cosign v2.6.5 does against distribution: artifactType says empty.
func (tr *testRegistry) writeFallback(repo name.Repository, subject v1.Hash, refs ...v1.Descriptor) {
	tr.t.Helper()
	var entries []v1.Descriptor
	for _, r := range refs {
		r.ArtifactType = "application/vnd.oci.empty.v1+json"
		entries = append(entries, r)
	}
	raw, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: entries})
	tr.putRaw(repo, FallbackTag(subject), types.OCIImageIndex, raw)
}

// attach pushes a referrer and, on a registry without the API, lists it in the fallback tag.
func (tr *testRegistry) attach(repo name.Repository, subject v1.Descriptor, artifactType string, layerType types.MediaType, content []byte, ann map[string]string, fallback *[]v1.Descriptor) v1.Descriptor {
	d := tr.pushReferrer(repo, subject, artifactType, layerType, content, ann)
	if !tr.api {
		*fallback = append(*fallback, d)
		tr.writeFallback(repo, subject.Digest, *fallback...)
	}
	return d
}

func bundleJSON(predicateType string) []byte {
	return []byte(fmt.Sprintf(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]},"predicate":%q}`, predicateType))
}

// multiArch builds an index with two platforms and BuildKit attestation manifests for both.
func multiArch(t *testing.T) (v1.ImageIndex, []v1.Image) {
	t.Helper()
	amd := randomImage(t, "linux", "amd64")
	arm := randomImage(t, "linux", "arm64")
	var adds []mutate.IndexAddendum
	for _, p := range []struct {
		img     v1.Image
		os, arc string
	}{{amd, "linux", "amd64"}, {arm, "linux", "arm64"}} {
		adds = append(adds, mutate.IndexAddendum{Add: p.img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.os, Architecture: p.arc}}})
	}
	for _, img := range []v1.Image{amd, arm} {
		d := descOf(t, img)
		att, err := mutate.Append(empty.Image, mutate.Addendum{
			Layer:       static.NewLayer([]byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[{"name":"x","digest":{"sha256":"`+d.Digest.Hex+`"}}],"predicate":{}}`), MediaTypeInToto),
			Annotations: map[string]string{AnnotationInTotoPredicateType: "https://slsa.dev/provenance/v0.2"},
		})
		if err != nil {
			t.Fatal(err)
		}
		att = mutate.MediaType(att, types.OCIManifestSchema1)
		adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{AnnotationDockerReferenceType: "attestation-manifest", AnnotationDockerReferenceDigest: d.Digest.String()},
		}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	return idx, []v1.Image{amd, arm}
}

func kinds(d *Discovery) map[string]int {
	out := map[string]int{}
	for _, a := range d.Attached {
		out[string(a.Kind)+"/"+string(a.FoundBy)]++
	}
	return out
}

func findAttached(d *Discovery, subject v1.Hash, kind artifact.Kind) []Attached {
	var out []Attached
	for _, a := range d.Attached {
		if a.Subject == subject && a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}
