// Package demo builds airlock's built-in example: two in-process registries,
// a virtual Sigstore (Fulcio, Rekor and a timestamp authority in memory), a
// TUF repository vouching for that Sigstore's trusted root, and a
// multi-arch image signed and attested the ways real publishers do it. The
// `airlock demo` command runs the whole round trip on it; tests use the same
// world as a realistic fixture.
package demo

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/airlock-oci/airlock/internal/sign"
	"github.com/airlock-oci/airlock/internal/tufrepo"
)

// Identity and Issuer are the keyless signer of the demo image, as a
// vendor's release pipeline would appear in its Fulcio certificate.
const (
	Identity   = "release@vendor.example"
	Issuer     = "https://oidc.vendor.example"
	BuilderID  = "https://ci.vendor.example/builders/release@v1"
	SourceRepo = "https://git.vendor.example/vendor/app"
	TUFName    = "vendor-sigstore"
)

// World is the demo's little internet, all on loopback.
type World struct {
	Source, Target *httptest.Server // registries (source has the referrers API on)
	TUF            *httptest.Server
	TUFRepo        *tufrepo.Repo // publish new TUF metadata through it
	TUFRoot        []byte        // root.json v1 of the TUF repository, to pin
	TrustedRoot    []byte        // the virtual Sigstore's trusted_root.json
	Sigstore       *ca.VirtualSigstore
	// Image is the reference of the signed multi-arch image in Source.
	Image     string
	Digest    v1.Hash
	Platforms []v1.Hash
	indexDesc v1.Descriptor
}

// Options shape the world.
type Options struct {
	// TargetReferrersAPI turns the referrers API on in the target registry.
	// Off by default, like distribution v3 (the fallback tag is used).
	TargetReferrersAPI bool
	// Now is the clock for TUF expiry (default time.Now).
	Now func() time.Time
}

// NewWorld builds and starts the world. Close it when done.
func NewWorld(ctx context.Context, o Options) (w *World, err error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	quiet := log.New(io.Discard, "", 0)
	w = &World{
		Source: httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(quiet))),
		Target: httptest.NewServer(registry.New(registry.WithReferrersSupport(o.TargetReferrersAPI), registry.Logger(quiet))),
	}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if w.Sigstore, err = ca.NewVirtualSigstore(); err != nil {
		return nil, fmt.Errorf("virtual sigstore: %w", err)
	}
	if w.TrustedRoot, err = sign.TrustedRootJSON(w.Sigstore); err != nil {
		return nil, err
	}
	repo, err := tufrepo.New(o.Now().Add(365 * 24 * time.Hour))
	if err != nil {
		return nil, err
	}
	if err := repo.AddTarget("trusted_root.json", w.TrustedRoot); err != nil {
		return nil, err
	}
	w.TUFRepo = repo
	w.TUF = httptest.NewServer(repo.Handler())
	w.TUFRoot = repo.RootJSON()

	if err := w.publish(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// SourceHost and TargetHost are host:port of the registries.
func (w *World) SourceHost() string { return strings.TrimPrefix(w.Source.URL, "http://") }
func (w *World) TargetHost() string { return strings.TrimPrefix(w.Target.URL, "http://") }

// Close stops every server.
func (w *World) Close() {
	for _, s := range []*httptest.Server{w.Source, w.Target, w.TUF} {
		if s != nil {
			s.Close()
		}
	}
}

// publish pushes the demo image and signs it: a legacy cosign signature on
// the index and on one platform manifest, a Sigstore bundle referrer (what
// cosign --new-bundle-format attaches), a signed SLSA provenance
// attestation (legacy .att) and a signed SPDX SBOM attestation (Sigstore
// bundle referrer).
func (w *World) publish(ctx context.Context) error {
	repo, err := name.NewRepository(w.SourceHost() + "/vendor/app")
	if err != nil {
		return err
	}
	var idx v1.ImageIndex = empty.Index
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(256<<10, 2)
		if err != nil {
			return err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return err
		}
		cf.OS, cf.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
		d, err := img.Digest()
		if err != nil {
			return err
		}
		w.Platforms = append(w.Platforms, d)
	}
	tag := repo.Tag("1.0")
	if err := remote.WriteIndex(tag, idx, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing demo image: %w", err)
	}
	if w.Digest, err = idx.Digest(); err != nil {
		return err
	}
	w.Image = tag.Name()
	desc, err := remote.Head(repo.Digest(w.Digest.String()), remote.WithContext(ctx))
	if err != nil {
		return err
	}

	signer := sign.NewKeyless(w.Sigstore, Identity, Issuer)
	// Legacy cosign signatures: on the index, and on the first platform.
	for _, d := range []v1.Hash{w.Digest, w.Platforms[0]} {
		l, err := signer.CosignSignature(repo.Name(), d.String(), sign.WithTimestamp())
		if err != nil {
			return err
		}
		if err := sign.PushLegacy(ctx, repo, d, "sig", sign.Artifact{Layers: []sign.Layer{l}}); err != nil {
			return err
		}
	}
	// Legacy attestation: SLSA provenance.
	prov, err := sign.Statement(repo.Name(), w.Digest.String(), sign.PredicateSLSAProvenanceV1, sign.SLSAProvenance(BuilderID, SourceRepo))
	if err != nil {
		return err
	}
	l, err := signer.CosignAttestation(prov)
	if err != nil {
		return err
	}
	if err := sign.PushLegacy(ctx, repo, w.Digest, "att", sign.Artifact{Layers: []sign.Layer{l}}); err != nil {
		return err
	}
	// Sigstore bundle referrers: cosign sign --new-bundle-format, and a signed SBOM.
	sig, err := signer.CosignSignBundle(repo.Name(), w.Digest.String())
	if err != nil {
		return err
	}
	sbom, err := sign.Statement(repo.Name(), w.Digest.String(), sign.PredicateSPDX, sign.SPDXDocument("vendor/app", "openssl-3.0.15", "zlib-1.3.1"))
	if err != nil {
		return err
	}
	sbomArt, err := signer.AttestationBundle(sbom)
	if err != nil {
		return err
	}
	w.indexDesc = *desc
	for _, a := range []sign.Artifact{sig, sbomArt} {
		if err := w.Attach(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// Attach pushes a as an OCI 1.1 referrer of the demo image's index.
func (w *World) Attach(ctx context.Context, a sign.Artifact) error {
	img, err := a.ReferrerImage(w.indexDesc)
	if err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	repo, err := name.NewRepository(w.SourceHost() + "/vendor/app")
	if err != nil {
		return err
	}
	if err := remote.Write(repo.Digest(d.String()), img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing referrer: %w", err)
	}
	return nil
}
