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
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

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
		refs, err := sign.PushCatalogue(ctx, *reg, *catalogue, *baseKiB<<10, *ownLayers, *ownKiB<<10, *jobs, *keyOut)
		if err != nil {
			fail(err)
		}
		for _, r := range refs {
			fmt.Println(r)
		}
		return
	}
	for i := range *images {
		img, err := sign.BaseImage()
		check(err)
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
