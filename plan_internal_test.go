package airlock

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The push plan is validated before anything is sent, whatever reached it:
// a second line behind bundle.Reconcile.
func TestPushPlanValidate(t *testing.T) {
	subject := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	art := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}}
	repo, err := name.NewRepository("registry.internal/mirror/docker.io/library/app")
	if err != nil {
		t.Fatal(err)
	}
	good := func() *pushPlan {
		return &pushPlan{repo: repo, tag: "1.0", manifests: []v1.Descriptor{{MediaType: types.OCIImageIndex}},
			artifacts: []artifactPush{{desc: art, manifests: []v1.Descriptor{art}, subject: subject, tag: "sha256-" + subject.Hex + ".sig"}}}
	}
	if err := good().validate(); err != nil {
		t.Fatalf("good plan: %v", err)
	}
	cases := []struct {
		name string
		edit func(p *pushPlan)
		want string
	}{
		{"image tag the grammar refuses", func(p *pushPlan) { p.tag = "../../victim/app/manifests/prod" }, "not a valid tag"},
		{"artifact tag of the image", func(p *pushPlan) { p.artifacts[0].tag = "1.0" }, "not the legacy tag"},
		{"artifact tag traversing", func(p *pushPlan) { p.artifacts[0].tag = "../../victim/app/manifests/prod" }, "not the legacy tag"},
		{"artifact tag of another subject", func(p *pushPlan) { p.artifacts[0].tag = "sha256-" + strings.Repeat("c", 64) + ".sig" }, "not the legacy tag"},
		{"referrer with a tag", func(p *pushPlan) { p.artifacts[0].referrer = true }, "carries tag"},
		{"a layer pushed as a manifest", func(p *pushPlan) { p.manifests[0].MediaType = types.OCILayer }, "not a manifest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := good()
			c.edit(p)
			if err := p.validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("validate = %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// The commit pushes a tag by its typed outcome; the receipt's note is only
// its description.
func TestTagOutcome(t *testing.T) {
	for _, tc := range []struct {
		out  tagOutcome
		push bool
		note string
	}{
		{tagNew, true, ""},
		{tagPresent, false, "already there"},
		{tagForced, true, "moved (--force)"},
		{tagConflict, false, "not moved: points at another digest (use --force)"},
	} {
		if got := tc.out.push(); got != tc.push {
			t.Errorf("outcome %d: push %v, want %v", tc.out, got, tc.push)
		}
		if got := tc.out.note(); got != tc.note {
			t.Errorf("outcome %d: note %q, want %q", tc.out, got, tc.note)
		}
	}
}
