package testenv

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/airlock-oci/airlock/internal/sign"
)

// PublicGoodType is the predicate type of the real public-good attestation
// in cosign v2.6.5's test data (testdata/cosign/oci-attestation.sigstore.json):
// a Sigstore bundle whose DSSE statement names go-containerregistry's empty
// image.
const PublicGoodType = "https://cosign.sigstore.dev/attestation/v1"

// PublicGoodRegistry starts an in-memory registry (ggcr's, with the
// referrers API) holding the empty image at repo:latest and that
// attestation as its OCI referrer, and returns the image's reference. The
// registry stops when the test ends.
func PublicGoodRegistry(t testing.TB) name.Reference {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/repo:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, empty.Image); err != nil {
		t.Fatal(err)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "testdata", "cosign", "oci-attestation.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	art := sign.Artifact{ArtifactType: sign.MediaTypeBundleV03, Layers: []sign.Layer{{
		MediaType: sign.MediaTypeBundleV03, Data: data,
		Annotations: map[string]string{sign.AnnotationBundleType: "dsse-envelope", sign.AnnotationBundlePredic: PublicGoodType},
	}}}
	desc, err := partial.Descriptor(empty.Image)
	if err != nil {
		t.Fatal(err)
	}
	rimg, err := art.ReferrerImage(*desc)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := rimg.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref.Context().Digest(rd.String()), rimg); err != nil {
		t.Fatal(err)
	}
	return ref
}
