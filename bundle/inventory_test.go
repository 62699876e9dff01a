package bundle

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/airlock-oci/airlock/artifact"
)

const (
	dA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	dB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	dC = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

func sampleInventory() *Inventory {
	inv := NewInventory(Exporter{Name: "airlock", Version: "v0.1.0", Time: time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)})
	inv.Images = []Image{{
		Reference:    "nginx:1.27",
		Name:         "index.docker.io/library/nginx:1.27",
		Digest:       dA,
		SourceDigest: dB,
		MediaType:    string(types.OCIImageIndex),
		Size:         1234,
		Platforms:    []Platform{{Platform: "linux/amd64", Digest: dC, Size: 999}},
		Filter:       &Filter{Requested: []string{"linux/amd64"}, Dropped: []string{"linux/arm64"}, Note: "index rewritten: digest differs from the source"},
		Artifacts: []Artifact{{
			Kind: artifact.KindCosignSignature, Digest: dB, MediaType: string(types.OCIManifestSchema1), Size: 500,
			Subject: dC, FoundBy: artifact.FoundByLegacyTag, Repository: "index.docker.io/library/nginx",
			Tag: "sha256-cccc.sig", PredicateTypes: []string{"https://slsa.dev/provenance/v1"},
		}},
	}}
	inv.Trust = []TrustSource{{
		Name: "sigstore-public-good", Kind: TrustKindTUF, URL: "https://tuf-repo-cdn.sigstore.dev", Manifest: dA,
		Files: []TrustFile{{Path: "metadata/1.root.json", Digest: dB, Size: 10}, {Path: "targets/abc.trusted_root.json", Digest: dC, Size: 20}},
		Roles: []Role{{Role: "root", Version: 15, Expires: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)}},
	}}
	return inv
}

func TestInventoryRoundTrip(t *testing.T) {
	inv := sampleInventory()
	dst := filepath.Join(t.TempDir(), "b.tar")
	w, err := Create(dst)
	must(t, err)
	trustD, err := w.PutArtifact(ArtifactTypeTUF, []File{
		{Name: "metadata/1.root.json", MediaType: "application/json", Data: []byte(`{"signed":{}}`)},
		{Name: "metadata/timestamp.json", MediaType: "application/json", Data: []byte(`{"signed":{"v":1}}`)},
	}, map[string]string{"dev.airlock.trust.name": "sigstore-public-good"})
	must(t, err)
	if trustD.ArtifactType != ArtifactTypeTUF {
		t.Errorf("artifact descriptor type %q", trustD.ArtifactType)
	}
	trustD.Annotations = map[string]string{AnnotationRole: RoleTrust}
	w.AddIndex(trustD)
	invD, err := w.PutInventory(inv)
	must(t, err)
	must(t, w.Commit(context.Background(), nil))

	r, err := Open(dst)
	must(t, err)
	defer r.Close()
	got, err := r.Inventory()
	must(t, err)
	if !reflect.DeepEqual(got, inv) {
		t.Errorf("inventory round trip:\n got %+v\nwant %+v", got, inv)
	}
	g, err := r.Graph()
	must(t, err)
	if n := g.Nodes[invD.Digest]; n == nil || !n.Root || n.Manifest.ArtifactType != MediaTypeInventory {
		t.Errorf("inventory node %+v", n)
	}
	m, err := r.ReadManifest(trustD.Digest)
	must(t, err)
	if m.Config.MediaType != types.OCIEmptyJSON || len(m.Layers) != 2 || m.Layers[1].Annotations[AnnotationTitle] != "metadata/timestamp.json" {
		t.Errorf("trust manifest %+v", m)
	}
	if _, err := r.ReadIndex(trustD.Digest); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadIndex of a manifest: %v, want ErrMalformed", err)
	}
	must(t, r.VerifyBlobs(context.Background(), nil))

	// ggcr reads the extracted layout, artifact entries included.
	dir := t.TempDir()
	extract(t, dst, dir)
	lp, err := layout.FromPath(dir)
	must(t, err)
	ii, err := lp.ImageIndex()
	must(t, err)
	must(t, validate.Index(ii))
}

func TestInventoryTwoEntries(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "b.tar")
	w, err := Create(dst)
	must(t, err)
	_, err = w.PutInventory(sampleInventory())
	must(t, err)
	other := sampleInventory()
	other.Exporter.Version = "v2"
	_, err = w.PutInventory(other)
	must(t, err)
	must(t, w.Commit(context.Background(), nil))
	r, err := Open(dst)
	must(t, err)
	defer r.Close()
	if _, err := r.Inventory(); !errors.Is(err, ErrMalformed) {
		t.Errorf("two inventories: %v, want ErrMalformed", err)
	}
}

func TestInventoryWrongLayer(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "b.tar")
	w, err := Create(dst)
	must(t, err)
	d, err := w.PutArtifact(MediaTypeInventory, []File{{Name: "inventory.json", MediaType: "application/json", Data: []byte(`{}`)}}, nil)
	must(t, err)
	d.Annotations = map[string]string{AnnotationRole: RoleInventory}
	w.AddIndex(d)
	must(t, w.Commit(context.Background(), nil))
	r, err := Open(dst)
	must(t, err)
	defer r.Close()
	if _, err := r.Inventory(); !errors.Is(err, ErrMalformed) {
		t.Errorf("inventory with wrong layer type: %v, want ErrMalformed", err)
	}
}

func TestParseInventory(t *testing.T) {
	good, err := sampleInventory().Marshal()
	must(t, err)
	mutate := func(f func(*Inventory)) []byte {
		inv := sampleInventory()
		f(inv)
		b, err := marshalJSON(inv)
		must(t, err)
		return b
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"valid", good, nil},
		{"camel case names", []byte(strings.Replace(string(good), `"sourceDigest"`, `"SourceDigest"`, 1)), nil},
		{"not json", []byte("{"), ErrMalformed},
		{"trailing data", append(append([]byte{}, good...), []byte(" {}")...), ErrMalformed},
		{"schema version 2", mutate(func(i *Inventory) { i.SchemaVersion = 2 }), ErrMalformed},
		{"wrong media type", mutate(func(i *Inventory) { i.MediaType = "application/json" }), ErrMalformed},
		{"bad image digest", mutate(func(i *Inventory) { i.Images[0].Digest = "sha256:xyz" }), ErrMalformed},
		{"sha512 digest", mutate(func(i *Inventory) { i.Images[0].Digest = "sha512:" + strings.Repeat("a", 128) }), ErrMalformed},
		{"upper-case digest", mutate(func(i *Inventory) { i.Images[0].Platforms[0].Digest = strings.ToUpper(dA) }), ErrMalformed},
		{"bad artifact subject", mutate(func(i *Inventory) { i.Images[0].Artifacts[0].Subject = "" }), ErrMalformed},
		{"artifact without kind", mutate(func(i *Inventory) { i.Images[0].Artifacts[0].Kind = "" }), ErrMalformed},
		{"negative size", mutate(func(i *Inventory) { i.Images[0].Size = -1 }), ErrMalformed},
		{"unknown trust kind", mutate(func(i *Inventory) { i.Trust[0].Kind = "x509" }), ErrMalformed},
		{"trust path traversal", mutate(func(i *Inventory) { i.Trust[0].Files[0].Path = "../../etc/passwd" }), ErrMalformed},
		{"trust absolute path", mutate(func(i *Inventory) { i.Trust[0].Files[0].Path = "/etc/passwd" }), ErrMalformed},
		{"trust unclean path", mutate(func(i *Inventory) { i.Trust[0].Files[0].Path = "metadata//1.root.json" }), ErrMalformed},
		{"trust duplicate path", mutate(func(i *Inventory) { i.Trust[0].Files[1].Path = i.Trust[0].Files[0].Path }), ErrMalformed},
		{"bad trust manifest", mutate(func(i *Inventory) { i.Trust[0].Manifest = "sha256:" }), ErrMalformed},
		{"too large", append([]byte(`{"pad":"`), append([]byte(strings.Repeat("x", DefaultMaxInventorySize)), '"', '}')...), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := ParseInventory(tt.data)
			if tt.want == nil {
				must(t, err)
				if inv.Images[0].Filter == nil || inv.Trust[0].Roles[0].Version != 15 {
					t.Errorf("parsed inventory lost fields: %+v", inv)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseInventory: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestInventoryJSONNames(t *testing.T) {
	b, err := sampleInventory().Marshal()
	must(t, err)
	for _, key := range []string{`"schemaVersion":1`, `"mediaType":"application/vnd.airlock.inventory.v1+json"`, `"sourceDigest"`, `"foundBy"`, `"predicateTypes"`, `"roles"`, `"filter"`, `"exporter"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("inventory JSON lacks %s: %s", key, b)
		}
	}
}

func TestCheckRelativePath(t *testing.T) {
	for _, p := range []string{"key.pub", "metadata/1.root.json", "targets/abc.trusted_root.json"} {
		if err := CheckRelativePath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	for _, p := range []string{"", ".", "..", "../x", "a/../../x", "/abs", "a\\b", "a/./b", "a/", "nul\x00"} {
		if err := CheckRelativePath(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}
