// Command benchdata pushes the workloads of `make bench` to a registry and
// prints their references, one per line.
//
// The default workload is IMAGES single-platform images (OCI media types) of
// LAYERS random layers of SIZE MiB each, unsigned (bench.sh signs them with
// cosign).
//
// With -catalogue N it pushes a catalogue instead: N images in repositories
// cat/app0000..., each of a shared base layer (mounted, not uploaded again)
// and a few small layers of its own, each with a legacy cosign signature
// (tag sha256-<hex>.sig), a Sigstore-bundle signature (`cosign sign
// --new-bundle-format`: an OCI 1.1 referrer, through the fallback tag where
// the registry has no referrers API) and a legacy SLSA provenance attestation
// (tag sha256-<hex>.att). Everything is signed in process with one ECDSA
// P-256 key and no transparency log, as `cosign sign --key k
// --tlog-upload=false` signs, so thousands of images take minutes instead of
// a cosign process per signature. -key-out writes the public key (PEM) for
// `airlock verify --key`.
//
// With -change-top REF it changes one image instead (the weekly-sync
// workload): its top layer is replaced by a new random layer of the same
// size, pushed to the same tag, and the new layer's size printed.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/internal/sign"
)

func main() {
	reg := flag.String("registry", "", "registry host:port (plain HTTP)")
	images := flag.Int("images", 4, "number of images")
	layers := flag.Int("layers", 4, "layers per image")
	size := flag.Int64("size", 64, "layer size in MiB")
	catalogue := flag.Int("catalogue", 0, "push a signed catalogue of this many small images instead")
	baseKiB := flag.Int64("base-kib", 1024, "catalogue: size of the shared base layer in KiB")
	ownLayers := flag.Int("own-layers", 2, "catalogue: layers of its own per image")
	ownKiB := flag.Int64("own-kib", 8, "catalogue: size of each own layer in KiB")
	keyOut := flag.String("key-out", "", "catalogue: write the signing public key (PEM) to this file")
	jobs := flag.Int("jobs", 8, "catalogue: images pushed and signed concurrently")
	changeTop := flag.String("change-top", "", "instead: replace the top layer of this image `REF` with a new random layer of the same size, push it to the same tag, and print the new layer's size in bytes")
	flag.Parse()
	if *changeTop != "" {
		check(replaceTop(*changeTop))
		return
	}
	if *reg == "" {
		fail(fmt.Errorf("-registry is required"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *catalogue > 0 {
		if *jobs < 1 || *ownLayers < 0 || *baseKiB < 1 || *ownKiB < 1 {
			fail(fmt.Errorf("-jobs and -base-kib, -own-kib must be positive, -own-layers not negative"))
		}
		refs, err := pushCatalogue(ctx, *reg, *catalogue, *baseKiB<<10, *ownLayers, *ownKiB<<10, *jobs, *keyOut)
		if err != nil {
			fail(err)
		}
		for _, r := range refs {
			fmt.Println(r)
		}
		return
	}
	for i := range *images {
		img := emptyImage()
		for range *layers {
			l, err := random.Layer(*size<<20, types.OCILayer)
			check(err)
			img, err = mutate.AppendLayers(img, l)
			check(err)
		}
		ref, err := name.ParseReference(fmt.Sprintf("%s/bench/app%d:v1", *reg, i), name.Insecure)
		check(err)
		check(remote.Write(ref, img, remote.WithContext(ctx)))
		fmt.Println(ref.Name())
	}
}

func emptyImage() v1.Image {
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers"}})
	check(err)
	return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// pushCatalogue pushes and signs n images, jobs at a time, and returns their
// references in order.
func pushCatalogue(ctx context.Context, reg string, n int, baseSize int64, own int, ownSize int64, jobs int, keyOut string) ([]string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if keyOut != "" {
		pub, err := sign.PublicKeyPEM(&key.PublicKey)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyOut, pub, 0o644); err != nil {
			return nil, err
		}
	}
	signer := sign.NewKey(key, nil) // no transparency log: cosign --tlog-upload=false
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
func pushSigned(ctx context.Context, signer *sign.Signer, repo name.Repository, base v1.Layer, own int, ownSize int64) (string, error) {
	img, err := mutate.AppendLayers(emptyImage(), base)
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
	if err := demo.PushLegacy(ctx, repo, d, "sig", sign.Artifact{Layers: []sign.Layer{l}}); err != nil {
		return "", err
	}
	// Legacy attestation (SLSA provenance v1), tag sha256-<hex>.att.
	st, err := sign.Statement(repo.Name(), d.String(), sign.PredicateSLSAProvenanceV1,
		sign.SLSAProvenance("https://ci.example/builders/catalogue@v1", "https://git.example/"+repo.RepositoryStr()))
	if err != nil {
		return "", err
	}
	if l, err = signer.CosignAttestation(st); err != nil {
		return "", err
	}
	if err := demo.PushLegacy(ctx, repo, d, "att", sign.Artifact{Layers: []sign.Layer{l}}); err != nil {
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

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchdata:", err)
	os.Exit(1)
}

// replaceTop is the weekly-sync workload: one image's top layer changes.
func replaceTop(s string) error {
	ref, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		return err
	}
	img, err := remote.Image(ref)
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		return fmt.Errorf("%s: no layers (%v)", s, err)
	}
	top := layers[len(layers)-1]
	size, err := top.Size()
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.RootFS.DiffIDs = nil
	next, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return err
	}
	next = mutate.ConfigMediaType(mutate.MediaType(next, types.OCIManifestSchema1), types.OCIConfigJSON)
	fresh, err := random.Layer(size, types.OCILayer)
	if err != nil {
		return err
	}
	next, err = mutate.AppendLayers(next, append(layers[:len(layers)-1:len(layers)-1], fresh)...)
	if err != nil {
		return err
	}
	if err := remote.Write(ref, next); err != nil {
		return err
	}
	n, err := fresh.Size()
	if err != nil {
		return err
	}
	fmt.Println(n)
	return nil
}
