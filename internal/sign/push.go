package sign

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// PushLegacy pushes a as a legacy cosign artifact of subject in repo, under
// the tag cosign uses: sha256-<hex>.<suffix> (sig, att, sbom).
func PushLegacy(ctx context.Context, repo name.Repository, subject v1.Hash, suffix string, a Artifact) error {
	img, err := a.LegacyImage()
	if err != nil {
		return err
	}
	tag := repo.Tag(fmt.Sprintf("%s-%s.%s", subject.Algorithm, subject.Hex, suffix))
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", tag, err)
	}
	return nil
}

// BaseImage is an empty linux/amd64 OCI image, to append layers to.
func BaseImage() (v1.Image, error) {
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		return nil, err
	}
	return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON), nil
}

// PushCatalogue pushes n images to reg as reg/cat/appNNNN:v1, jobs at a
// time, and signs each with one new key (its public key written to keyOut
// when set): a shared base layer of baseSize bytes and own random layers of
// ownSize, a legacy signature, a legacy SLSA attestation and a
// Sigstore-bundle referrer. It returns the references in order. The
// catalogue benchmark (hack/benchdata) and the memory test build their
// catalogues with it.
func PushCatalogue(ctx context.Context, reg string, n int, baseSize int64, own int, ownSize int64, jobs int, keyOut string) ([]string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if keyOut != "" {
		pub, err := PublicKeyPEM(&key.PublicKey)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyOut, pub, 0o644); err != nil {
			return nil, err
		}
	}
	signer := NewKey(key, nil) // no transparency log: cosign --tlog-upload=false
	base, err := random.Layer(baseSize, types.OCILayer)
	if err != nil {
		return nil, err
	}
	// The first image uploads the base layer; the others mount it from there.
	first, err := name.NewRepository(fmt.Sprintf("%s/cat/app%04d", reg, 0), name.Insecure)
	if err != nil {
		return nil, err
	}
	refs := make([]string, n)
	if refs[0], err = pushSigned(ctx, signer, first, base, own, ownSize); err != nil {
		return nil, err
	}
	mounted := &remote.MountableLayer{Layer: base, Reference: first.Tag("v1")}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for i := 1; i < n; i++ {
		g.Go(func() error {
			repo, err := name.NewRepository(fmt.Sprintf("%s/cat/app%04d", reg, i), name.Insecure)
			if err != nil {
				return err
			}
			refs[i], err = pushSigned(gctx, signer, repo, mounted, own, ownSize)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return refs, nil
}

// pushSigned pushes one image (base plus own random layers) as repo:v1 and
// attaches its legacy signature, bundle signature and legacy attestation.
func pushSigned(ctx context.Context, signer *Signer, repo name.Repository, base v1.Layer, own int, ownSize int64) (string, error) {
	start, err := BaseImage()
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(start, base)
	if err != nil {
		return "", err
	}
	for range own {
		l, err := random.Layer(ownSize, types.OCILayer)
		if err != nil {
			return "", err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return "", err
		}
	}
	tag := repo.Tag("v1")
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("pushing %s: %w", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	mt, err := img.MediaType()
	if err != nil {
		return "", err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return "", err
	}
	subject := v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: d}

	// Legacy signature, tag sha256-<hex>.sig.
	l, err := signer.CosignSignature(repo.Name(), d.String())
	if err != nil {
		return "", err
	}
	if err := PushLegacy(ctx, repo, d, "sig", Artifact{Layers: []Layer{l}}); err != nil {
		return "", err
	}
	// Legacy attestation (SLSA provenance v1), tag sha256-<hex>.att.
	st, err := Statement(repo.Name(), d.String(), PredicateSLSAProvenanceV1,
		SLSAProvenance("https://ci.example/builders/catalogue@v1", "https://git.example/"+repo.RepositoryStr()))
	if err != nil {
		return "", err
	}
	if l, err = signer.CosignAttestation(st); err != nil {
		return "", err
	}
	if err := PushLegacy(ctx, repo, d, "att", Artifact{Layers: []Layer{l}}); err != nil {
		return "", err
	}
	// Sigstore-bundle signature, an OCI 1.1 referrer of the image.
	a, err := signer.CosignSignBundle(repo.Name(), d.String())
	if err != nil {
		return "", err
	}
	ri, err := a.ReferrerImage(subject)
	if err != nil {
		return "", err
	}
	rd, err := ri.Digest()
	if err != nil {
		return "", err
	}
	if err := remote.Write(repo.Digest(rd.String()), ri, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("pushing bundle referrer of %s: %w", tag, err)
	}
	return tag.Name(), nil
}
