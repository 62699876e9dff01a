package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/artifact"
)

// reconcileFixture writes a bundle with one single-platform image
// (linux/arm64/v8 in its config) and a legacy .sig on it, with an inventory
// edited by edit, and reconciles it.
func reconcileFixture(t *testing.T, edit func(inv *Inventory, idx *[]v1.Descriptor)) ([]CheckedImage, error) {
	t.Helper()
	img := randomImage(t, 256, 1)
	cf, err := img.ConfigFile()
	must(t, err)
	cf.OS, cf.Architecture, cf.Variant = "linux", "arm64", "v8"
	img, err = mutate.ConfigFile(img, cf)
	must(t, err)
	path := filepath.Join(t.TempDir(), "b.tar")
	w, err := Create(path)
	must(t, err)
	defer w.Abort()
	s := newSource()
	root := s.putImage(t, w, img)
	sigLayer, err := w.Put(mediaTypeSimpleSigning, []byte(`{"critical":{}}`))
	must(t, err)
	m, err := NewArtifactManifest("application/vnd.dev.cosign.artifact.sig.v1+json", []v1.Descriptor{sigLayer}, nil)
	must(t, err)
	m.ArtifactType = ""
	raw, err := json.Marshal(m)
	must(t, err)
	sig, err := w.Put(types.OCIManifestSchema1, raw)
	must(t, err)
	_, err = w.Put(types.OCIEmptyJSON, EmptyJSON)
	must(t, err)
	tag := "sha256-" + root.Digest.Hex + ".sig"
	idx := []v1.Descriptor{
		{MediaType: root.MediaType, Size: root.Size, Digest: root.Digest, Annotations: map[string]string{
			AnnotationRole: RoleImage, AnnotationRefName: "Registry.Example:443/team/app:v1", AnnotationImageName: "registry.example/team/app:v1"}},
		{MediaType: sig.MediaType, Size: sig.Size, Digest: sig.Digest, Annotations: map[string]string{
			AnnotationRole: RoleArtifact, AnnotationRefName: "registry.example/team/app:" + tag}},
	}
	inv := NewInventory(Exporter{Name: "test"})
	inv.Images = []Image{{Reference: "registry.example/team/app:v1", Name: "registry.example/team/app:v1", Digest: root.Digest.String(),
		MediaType: string(root.MediaType), Size: root.Size,
		Platforms: []Platform{{Platform: "linux/arm64/v8", Digest: root.Digest.String(), Size: root.Size}},
		Artifacts: []Artifact{{Kind: artifact.KindCosignSignature, Digest: sig.Digest.String(), MediaType: string(sig.MediaType), Size: sig.Size,
			Subject: root.Digest.String(), FoundBy: artifact.FoundByLegacyTag, Repository: "registry.example/team/app", Tag: tag}}}}
	if edit != nil {
		edit(inv, &idx)
	}
	for _, d := range idx {
		w.AddIndex(d)
	}
	_, err = w.PutInventory(inv)
	must(t, err)
	must(t, w.Commit(context.Background(), s.fetch))
	r, err := Open(path)
	must(t, err)
	defer r.Close()
	g, err := r.Graph()
	must(t, err)
	got, err := r.Inventory()
	must(t, err)
	return r.Reconcile(g, got)
}

func TestReconcile(t *testing.T) {
	imgs, err := reconcileFixture(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	ci := imgs[0]
	if ci.Name.String() != "registry.example/team/app:v1" || len(ci.Platforms) != 1 || ci.Platforms[0].Platform != "linux/arm64/v8" ||
		ci.Platforms[0].Descriptor.Digest != ci.Descriptor.Digest || len(ci.Artifacts) != 1 || ci.Artifacts[0].Tag == "" {
		t.Fatalf("derived %+v", ci)
	}
	cases := []struct {
		name   string
		edit   func(inv *Inventory, idx *[]v1.Descriptor)
		want   error
		reason string
	}{
		{"platform relabelled", func(inv *Inventory, _ *[]v1.Descriptor) { inv.Images[0].Platforms[0].Platform = "linux/amd64" }, ErrDisagreement, "platforms"},
		{"platform list emptied", func(inv *Inventory, _ *[]v1.Descriptor) { inv.Images[0].Platforms = nil }, ErrDisagreement, "platforms"},
		{"inventory name differs from index.json's", func(inv *Inventory, _ *[]v1.Descriptor) {
			inv.Images[0].Name, inv.Images[0].Reference = "registry.example/team/other:v1", "registry.example/team/other:v1"
		}, ErrDisagreement, "no image entry named"},
		{"reference from another repository", func(inv *Inventory, _ *[]v1.Descriptor) { inv.Images[0].Reference = "docker.io/team/app:v1" }, ErrDisagreement, "different repositories"},
		{"legacy tag of the image's tag", func(inv *Inventory, _ *[]v1.Descriptor) { inv.Images[0].Artifacts[0].Tag = "v1" }, ErrDisagreement, "legacy tag"},
		{"legacy tag with another suffix", func(inv *Inventory, _ *[]v1.Descriptor) {
			inv.Images[0].Artifacts[0].Tag = strings.Replace(inv.Images[0].Artifacts[0].Tag, ".sig", ".att", 1)
		}, ErrDisagreement, "legacy tag"},
		{"a .sig relabelled .att", func(inv *Inventory, _ *[]v1.Descriptor) {
			a := &inv.Images[0].Artifacts[0]
			a.Kind, a.Tag = artifact.KindCosignAttestation, strings.Replace(a.Tag, ".sig", ".att", 1)
		}, ErrDisagreement, "not what a .att tag holds"},
		{"artifact entry named with another tag", func(_ *Inventory, idx *[]v1.Descriptor) {
			(*idx)[1].Annotations = map[string]string{AnnotationRole: RoleArtifact, AnnotationRefName: "registry.example/team/app:v1"}
		}, ErrDisagreement, "not the legacy tag"},
		{"artifact entry named with its tag in another repository", func(inv *Inventory, idx *[]v1.Descriptor) {
			(*idx)[1].Annotations = map[string]string{AnnotationRole: RoleArtifact, AnnotationRefName: "registry.example/team/other:" + inv.Images[0].Artifacts[0].Tag}
		}, ErrDisagreement, "not the legacy tag"},
		{"trust entry with a name", func(_ *Inventory, idx *[]v1.Descriptor) {
			(*idx)[1].Annotations = map[string]string{AnnotationRole: RoleTrust, AnnotationRefName: "registry.example/team/app:v1"}
		}, ErrDisagreement, "carries the image name"},
		{"a name the grammar refuses", func(_ *Inventory, idx *[]v1.Descriptor) {
			(*idx)[0].Annotations = map[string]string{AnnotationRole: RoleImage, AnnotationRefName: "registry.example/team/../app:v1"}
		}, ErrInvalidName, "dot segment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := reconcileFixture(t, c.edit)
			if !errors.Is(err, c.want) || !errors.Is(err, ErrInvalidBundle) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("err = %v, want %v saying %q", err, c.want, c.reason)
			}
		})
	}
}
