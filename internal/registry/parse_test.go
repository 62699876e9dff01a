package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/artifact"
)

const hexA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestParseManifest(t *testing.T) {
	cfg := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + hexA + `","size":2}`
	tests := []struct {
		name   string
		raw    string
		served types.MediaType
		want   error
		mt     types.MediaType
	}{
		{"oci manifest", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":` + cfg + `,"layers":[]}`, "", nil, types.OCIManifestSchema1},
		{"type from header", `{"schemaVersion":2,"config":` + cfg + `}`, types.DockerManifestSchema2, nil, types.DockerManifestSchema2},
		{"index guessed", `{"schemaVersion":2,"manifests":[]}`, "", nil, types.OCIImageIndex},
		{"not json", `{`, "", ErrInvalidManifest, ""},
		{"schema 1", `{"schemaVersion":1}`, "", ErrInvalidManifest, ""},
		{"no config", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`, "", ErrInvalidManifest, ""},
		{"index with layers", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","layers":[]}`, "", ErrInvalidManifest, ""},
		{"unknown type", `{"schemaVersion":2,"mediaType":"text/html"}`, "", ErrInvalidManifest, ""},
		{"bad digest", `{"schemaVersion":2,"config":{"digest":"sha256:zz","size":1}}`, "", ErrInvalidManifest, ""},
		{"sha512 digest", `{"schemaVersion":2,"config":{"digest":"sha512:` + hexA + hexA + `","size":1}}`, "", ErrInvalidManifest, ""},
		{"negative size", `{"schemaVersion":2,"config":{"digest":"sha256:` + hexA + `","size":-1}}`, "", ErrInvalidManifest, ""},
		{"too large", strings.Repeat(" ", MaxManifestSize+1), "", ErrManifestTooLarge, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseManifest([]byte(tc.raw), tc.served)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil || m.MediaType != tc.mt {
				t.Fatalf("got %v, %v", m, err)
			}
		})
	}
}

func TestParseNextLink(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`</v2/r/referrers/sha256:x?n=1&last=y>; rel="next"`, "/v2/r/referrers/sha256:x?n=1&last=y", true},
		{`<https://a/b>; rel=next`, "https://a/b", true},
		{`<https://a/prev>; rel="prev", <https://a/next>; rel="next"`, "https://a/next", true},
		{`<https://a/b>; rel="prev next"`, "https://a/b", true},
		{`<https://a/b>; rel="prev"`, "", false},
		{`garbage`, "", false},
		{`<unterminated; rel="next"`, "", false},
	} {
		got, ok := parseNextLink(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: got %q %v", tc.in, got, ok)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want artifact.Kind
	}{
		{`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:` + hexA + `","size":2}}`, artifact.KindSigstoreBundle},
		{`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:` + hexA + `","size":2},"layers":[{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.2","digest":"sha256:` + hexA + `","size":2}]}`, artifact.KindSigstoreBundle},
		{`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.notary.signature","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:` + hexA + `","size":2}}`, artifact.KindNotationSignature},
		{`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cyclonedx+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:` + hexA + `","size":2}}`, artifact.KindSBOM},
		{`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/spdx+json","digest":"sha256:` + hexA + `","size":2},"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + hexA + `","size":2}}`, artifact.KindSBOM},
		{`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:` + hexA + `","size":2}}`, artifact.KindReferrer},
	} {
		m, err := parseManifest([]byte(tc.raw), "")
		if err != nil {
			t.Fatal(err)
		}
		if got := classify(m); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.raw, got, tc.want)
		}
	}
}
