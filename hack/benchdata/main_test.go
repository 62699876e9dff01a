package main

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/internal/sign"
	"github.com/airlock-oci/airlock/verify"
)

// The catalogue is what the benchmark claims: every image carries a legacy
// signature, a Sigstore-bundle signature and an attestation, all of which
// airlock exports and verifies with the key written by -key-out.
func TestCatalogueVerifies(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	pub := filepath.Join(dir, "cat.pub")
	ctx := context.Background()
	refs, err := sign.PushCatalogue(ctx, host, 6, 64<<10, 2, 1<<10, 3, pub)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 6 {
		t.Fatalf("%d references, want 6", len(refs))
	}
	out := filepath.Join(dir, "cat.tar")
	if _, err := airlock.Export(ctx, out, refs, airlock.WithoutTUF()); err != nil {
		t.Fatal(err)
	}
	ins, err := airlock.Inspect(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range ins.Images {
		kinds := map[string]int{}
		for _, a := range img.Artifacts {
			kinds[string(a.Kind)]++
		}
		if kinds["cosign-signature"] != 1 || kinds["cosign-attestation"] != 1 || kinds["sigstore-bundle"] != 1 || len(img.Artifacts) != 3 {
			t.Errorf("%s carries %v, want one legacy signature, one attestation, one bundle", img.Reference, kinds)
		}
	}
	pol, err := verify.PolicyFromFlags(verify.Flags{Key: pub})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := airlock.Verify(ctx, out, airlock.WithPolicy(pol, "flags"), airlock.WithTrustDir(filepath.Join(dir, "trust")))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != verify.VerdictPass || len(rep.Images) != 6 {
		t.Fatalf("verdict %s over %d images, want pass over 6", rep.Verdict, len(rep.Images))
	}
	for _, img := range rep.Images {
		verified := 0
		for _, f := range img.Findings {
			if f.Status == verify.StatusVerified {
				verified++
			}
		}
		if verified != 3 {
			t.Errorf("%s: %d verified findings, want 3", img.Reference, verified)
		}
	}
}
