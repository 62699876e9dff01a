package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"

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

	"github.com/airlock-oci/airlock/internal/registry"
)

func ExampleClient_Discover() {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	// An image and a legacy cosign signature tag for it.
	img, _ := random.Image(64, 1)
	ref, _ := name.ParseReference(host + "/app:v1")
	_ = remote.Write(ref, img)
	digest, _ := img.Digest()
	sig, _ := mutate.Append(empty.Image, mutate.Addendum{
		Layer: static.NewLayer([]byte(`{"critical":{"image":{"docker-manifest-digest":"`+digest.String()+`"}}}`), registry.MediaTypeSimpleSigning),
	})
	sigTag, _ := name.NewTag(host + "/app:" + registry.FallbackTag(digest) + ".sig")
	_ = remote.Write(sigTag, mutate.MediaType(sig, types.OCIManifestSchema1))

	c := registry.New(registry.WithKeychain(authn.NewMultiKeychain()))
	r, err := c.ParseReference(host + "/app:v1")
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := c.Discover(context.Background(), r, registry.DiscoverOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("root is the image:", d.Root.Digest == digest)
	for _, a := range d.Attached {
		fmt.Println(a.Kind, a.FoundBy, a.Tag == registry.FallbackTag(digest)+".sig", a.Subject == digest)
	}
	fmt.Println("blobs:", len(d.Blobs))
	// Output:
	// root is the image: true
	// cosign-signature legacy-tag true true
	// blobs: 4
}

func ExampleClient_AddFallbackReferrer() {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))) // no referrers API
	defer srv.Close()
	c := registry.New(registry.WithKeychain(authn.NewMultiKeychain()))
	repo, _ := c.ParseRepository(strings.TrimPrefix(srv.URL, "http://") + "/app")
	ctx := context.Background()

	img, _ := random.Image(64, 1)
	_ = remote.Write(repo.Tag("v1"), img)
	subject, _ := img.Digest()
	api, err := c.ReferrersAPI(ctx, repo)
	fmt.Println("referrers API:", api, err)

	// A referrer: an artifact manifest whose subject is the image.
	emptyCfg := []byte("{}")
	cfg := v1.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Size: 2, Digest: v1.Hash{Algorithm: "sha256", Hex: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}}
	if _, err := c.PushBlob(ctx, repo, cfg, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(emptyCfg)), nil }); err != nil {
		fmt.Println(err)
		return
	}
	raw, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": types.OCIManifestSchema1, "artifactType": "application/vnd.example+json",
		"config": cfg, "layers": []v1.Descriptor{cfg}, "subject": v1.Descriptor{MediaType: types.DockerManifestSchema2, Size: 1, Digest: subject},
	})
	h, err := c.PushManifest(ctx, repo, types.OCIManifestSchema1, raw, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	referrer := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(raw)), Digest: h, ArtifactType: "application/vnd.example+json"}
	if !api {
		for range 2 { // idempotent
			if err := c.AddFallbackReferrer(ctx, repo, subject, referrer); err != nil {
				fmt.Println(err)
				return
			}
		}
	}
	descs, foundBy, err := c.Referrers(ctx, repo, subject)
	fmt.Println(len(descs), foundBy, err)
	// Output:
	// referrers API: false <nil>
	// 1 fallback-tag <nil>
}
