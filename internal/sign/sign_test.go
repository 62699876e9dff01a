package sign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
)

const (
	repo   = "registry.example/app"
	digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func newVS(t *testing.T) *ca.VirtualSigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestTrustedRootJSONRoundTrip(t *testing.T) {
	vs := newVS(t)
	b, err := TrustedRootJSON(vs)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRootFromJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := vs.RekorLogID()
	if _, ok := tr.RekorLogs()[id]; !ok {
		t.Fatalf("rekor log %s lost in the round trip; have %v", id, tr.RekorLogs())
	}
	if len(tr.CTLogs()) != 0 || len(tr.FulcioCertificateAuthorities()) != 1 || len(tr.TimestampingAuthorities()) != 1 {
		t.Fatalf("unexpected trusted root content: %s", b)
	}
	// A bundle made here verifies with sigstore-go against the round-tripped root.
	bj, err := NewKeyless(vs, "a@example.com", "https://issuer.example").BundleSignature([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	var bu bundle.Bundle
	if err := bu.UnmarshalJSON(bj); err != nil {
		t.Fatal(err)
	}
	v, err := sgverify.NewVerifier(tr, sgverify.WithTransparencyLog(1), sgverify.WithIntegratedTimestamps(1), sgverify.WithSignedTimestamps(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(&bu, sgverify.NewPolicy(sgverify.WithArtifact(strings.NewReader("hello")), sgverify.WithoutIdentitiesUnsafe())); err != nil {
		t.Fatalf("bundle does not verify against the serialised root: %v", err)
	}
}

func TestCosignSignatureLayer(t *testing.T) {
	vs := newVS(t)
	l, err := NewKeyless(vs, "a@example.com", "https://issuer.example").CosignSignature(repo, digest, WithTimestamp())
	if err != nil {
		t.Fatal(err)
	}
	if l.MediaType != MediaTypeSimpleSigning {
		t.Errorf("media type %s", l.MediaType)
	}
	var ss struct {
		Critical struct {
			Identity struct {
				Ref string `json:"docker-reference"`
			} `json:"identity"`
			Image struct {
				Digest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.Unmarshal(l.Data, &ss); err != nil {
		t.Fatal(err)
	}
	if ss.Critical.Identity.Ref != repo || ss.Critical.Image.Digest != digest || ss.Critical.Type != "cosign container image signature" {
		t.Errorf("payload %s", l.Data)
	}
	for _, k := range []string{AnnotationSignature, AnnotationCertificate, AnnotationChain, AnnotationBundle, AnnotationRFC3161} {
		if l.Annotations[k] == "" {
			t.Errorf("annotation %s missing", k)
		}
	}
	var cb struct {
		SignedEntryTimestamp []byte
		Payload              struct {
			Body           string `json:"body"`
			IntegratedTime int64  `json:"integratedTime"`
			LogIndex       int64  `json:"logIndex"`
			LogID          string `json:"logID"`
		}
	}
	if err := json.Unmarshal([]byte(l.Annotations[AnnotationBundle]), &cb); err != nil {
		t.Fatal(err)
	}
	id, _ := vs.RekorLogID()
	if len(cb.SignedEntryTimestamp) == 0 || cb.Payload.LogID != id || cb.Payload.LogIndex != 42 || cb.Payload.IntegratedTime == 0 {
		t.Errorf("bundle annotation %s", l.Annotations[AnnotationBundle])
	}
	nolog, err := NewKey(mustKey(t), nil).CosignSignature(repo, digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := nolog.Annotations[AnnotationBundle]; ok {
		t.Error("key signer without log wrote a bundle annotation")
	}
	if _, ok := nolog.Annotations[AnnotationCertificate]; ok {
		t.Error("key signer wrote a certificate")
	}
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestInputErrors(t *testing.T) {
	vs := newVS(t)
	s := NewKeyless(vs, "a", "b")
	for _, tc := range []struct {
		name string
		err  error
		call func() error
	}{
		{"bad digest", ErrInput, func() error { _, err := s.CosignSignature(repo, "sha256:xyz"); return err }},
		{"statement not JSON", ErrInput, func() error { _, err := s.CosignAttestation([]byte("nope")); return err }},
		{"no subjects", ErrInput, func() error { _, err := StatementMulti("p", nil); return err }},
		{"timestamp without TSA", ErrNoLog, func() error {
			_, err := NewKey(mustKey(t), nil).CosignSignature(repo, digest, WithTimestamp())
			return err
		}},
		{"log entry without log", ErrNoLog, func() error {
			_, err := NewKey(mustKey(t), nil).CosignSignaturePayload([]byte("x"), func(c *config) { c.tlog = true })
			return err
		}},
	} {
		if err := tc.call(); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
}

func TestImages(t *testing.T) {
	vs := newVS(t)
	s := NewKeyless(vs, "a@example.com", "https://issuer.example")
	sig, err := s.CosignSignature(repo, digest)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := Artifact{Layers: []Layer{sig, sig}}.LegacyImage()
	if err != nil {
		t.Fatal(err)
	}
	// Fast: like cosign's own images, the config lists the signature
	// layers as diff ids, which full validation counts only for tar layers.
	if err := validate.Image(legacy, validate.Fast); err != nil {
		t.Fatalf("legacy image: %v", err)
	}
	ls, err := legacy.Layers()
	if err != nil || len(ls) != 2 {
		t.Fatalf("layers %v %v", ls, err)
	}
	for i, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := v1.SHA256(rc)
		rc.Close()
		d, _ := l.Digest()
		if err != nil || got != d {
			t.Errorf("layer %d content hashes to %s, descriptor says %s", i, got, d)
		}
	}
	m, err := legacy.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 2 || m.Layers[0].Annotations[AnnotationSignature] == "" {
		t.Errorf("legacy manifest %+v", m)
	}

	st, err := Statement(repo, digest, PredicateSLSAProvenanceV1, SLSAProvenance("https://builder", "https://github.com/x/y"))
	if err != nil {
		t.Fatal(err)
	}
	art, err := s.AttestationBundle(st)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := v1.NewHash(digest)
	ref, err := art.ReferrerImage(v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 123, Digest: h})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(ref, validate.Fast); err != nil {
		t.Fatalf("referrer image: %v", err)
	}
	rm, err := ref.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := ref.RawConfigFile()
	if rm.Subject == nil || rm.Subject.Digest != h || rm.ArtifactType != MediaTypeBundleV03 || rm.Config.MediaType != MediaTypeOCIEmpty || string(cfg) != "{}" {
		t.Errorf("referrer manifest %+v config %s", rm, cfg)
	}
	if rm.Layers[0].Annotations[AnnotationBundlePredic] != PredicateSLSAProvenanceV1 {
		t.Errorf("predicate annotation %v", rm.Layers[0].Annotations)
	}
}

// Log entries are integrated when they are made, as a real log does: never
// after the moment a verifier looks at them (issue 8: the demo's entries
// were integrated a minute in the future), and within the certificate.
func TestIntegratedTimeIsNow(t *testing.T) {
	vs := newVS(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Statement(repo, digest, PredicateSPDX, SPDXDocument("app"))
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Signer{"keyless": NewKeyless(vs, "a@example.com", "https://issuer.example"), "key": NewKey(key, vs)} {
		before := time.Now().Add(-time.Second)
		sig, err := s.CosignSignature(repo, digest)
		if err != nil {
			t.Fatal(err)
		}
		att, err := s.CosignAttestation(st)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.BundleAttestation(st)
		if err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		var times []int64
		for _, l := range []Layer{sig, att} {
			var cb struct {
				Payload struct{ IntegratedTime int64 }
			}
			if err := json.Unmarshal([]byte(l.Annotations[AnnotationBundle]), &cb); err != nil {
				t.Fatal(err)
			}
			times = append(times, cb.Payload.IntegratedTime)
		}
		var pb struct {
			VerificationMaterial struct {
				TlogEntries []struct {
					IntegratedTime string `json:"integratedTime"`
				} `json:"tlogEntries"`
			} `json:"verificationMaterial"`
		}
		if err := json.Unmarshal(b, &pb); err != nil {
			t.Fatal(err)
		}
		var it int64
		fmt.Sscan(pb.VerificationMaterial.TlogEntries[0].IntegratedTime, &it)
		times = append(times, it)
		for i, it := range times {
			if tm := time.Unix(it, 0); tm.Before(before.Truncate(time.Second)) || tm.After(after) {
				t.Errorf("%s entry %d integrated at %s, outside signing window %s..%s", name, i, tm.UTC(), before.UTC(), after.UTC())
			}
		}
	}
}
