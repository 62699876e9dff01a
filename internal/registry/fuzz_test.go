package registry

import (
	"bytes"
	"errors"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:`+hexA+`","size":1,"platform":{"os":"linux","architecture":"amd64"},"annotations":{"vnd.docker.reference.type":"attestation-manifest"}}]}`), "")
	f.Add([]byte(`{"schemaVersion":2,"config":{"digest":"sha256:`+hexA+`","size":2},"layers":[{"digest":"sha256:`+hexA+`","size":3,"annotations":{"predicateType":"x"}}],"subject":{"digest":"sha256:`+hexA+`","size":1}}`), string(types.OCIManifestSchema1))
	f.Add([]byte(`null`), "")
	f.Fuzz(func(t *testing.T, raw []byte, served string) {
		m, err := parseManifest(raw, types.MediaType(served))
		if err != nil {
			if !errors.Is(err, ErrInvalidManifest) {
				t.Fatalf("error does not wrap ErrInvalidManifest: %v", err)
			}
			return
		}
		_ = classify(m)
		_ = predicateTypes(m)
		_ = m.artifactType()
		if m.isIndex() {
			if _, err := rewriteIndex(raw, m.Manifests); err != nil && !errors.Is(err, ErrInvalidManifest) {
				t.Fatalf("rewriteIndex: %v", err)
			}
		}
	})
}

func FuzzReferrersPage(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), `</v2/x/referrers/sha256:a?last=b>; rel="next"`)
	f.Add([]byte(`{}`), `<>;rel=next,<`)
	f.Fuzz(func(t *testing.T, raw []byte, link string) {
		if _, err := parseReferrersPage(raw); err != nil && !errors.Is(err, ErrInvalidManifest) {
			t.Fatalf("error does not wrap ErrInvalidManifest: %v", err)
		}
		parseNextLink(link)
	})
}

func FuzzVerifyReader(f *testing.F) {
	f.Add([]byte("hello"), int64(5), uint8(7))
	f.Fuzz(func(t *testing.T, content []byte, size int64, chunk uint8) {
		desc := v1.Descriptor{Digest: sha256Hash(content), Size: size}
		vr, err := newVerifyReader(io.NopCloser(bytes.NewReader(content)), desc, "fuzz")
		if err != nil {
			if size >= 0 {
				t.Fatal(err)
			}
			return
		}
		var out bytes.Buffer
		buf := make([]byte, int(chunk)+1)
		for {
			n, err := vr.Read(buf)
			out.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				if size == int64(len(content)) || !errors.Is(err, ErrDigestMismatch) {
					t.Fatalf("size %d len %d: %v", size, len(content), err)
				}
				return
			}
		}
		if size != int64(len(content)) || !bytes.Equal(out.Bytes(), content) {
			t.Fatalf("accepted %d bytes with declared size %d", out.Len(), size)
		}
	})
}
