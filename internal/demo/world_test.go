package demo

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The world holds what it promises: a multi-arch image with legacy
// signatures and attestations as tags and two Sigstore bundle referrers.
func TestWorld(t *testing.T) {
	w, err := NewWorld(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	repo, err := name.NewRepository(w.SourceHost() + "/vendor/app")
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(repo)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"1.0": false,
		"sha256-" + w.Digest.Hex + ".sig": false, "sha256-" + w.Digest.Hex + ".att": false,
		"sha256-" + w.Platforms[0].Hex + ".sig": false}
	for _, tag := range tags {
		if _, ok := want[tag]; ok {
			want[tag] = true
		}
	}
	for tag, ok := range want {
		if !ok {
			t.Errorf("tag %s missing; have %v", tag, tags)
		}
	}
	idx, err := remote.Referrers(repo.Digest(w.Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("referrers = %d, want 2", len(im.Manifests))
	}
}
