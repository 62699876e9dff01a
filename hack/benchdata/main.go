// Command benchdata pushes the benchmark workload of `make bench` to a
// registry: IMAGES single-platform images (OCI media types) of LAYERS random
// layers of SIZE MiB each, and prints their references, one per line.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	reg := flag.String("registry", "", "registry host:port (plain HTTP)")
	images := flag.Int("images", 4, "number of images")
	layers := flag.Int("layers", 4, "layers per image")
	size := flag.Int64("size", 64, "layer size in MiB")
	changeTop := flag.String("change-top", "", "instead: replace the top layer of this image `REF` with a new random layer of the same size, push it to the same tag, and print the new layer's size in bytes")
	flag.Parse()
	if *reg == "" && *changeTop == "" {
		fmt.Fprintln(os.Stderr, "benchdata: -registry is required")
		os.Exit(2)
	}
	if *changeTop != "" {
		check(replaceTop(*changeTop))
		return
	}
	for i := range *images {
		img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers"}})
		check(err)
		img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
		for range *layers {
			l, err := random.Layer(*size<<20, types.OCILayer)
			check(err)
			img, err = mutate.AppendLayers(img, l)
			check(err)
		}
		ref, err := name.ParseReference(fmt.Sprintf("%s/bench/app%d:v1", *reg, i), name.Insecure)
		check(err)
		check(remote.Write(ref, img))
		fmt.Println(ref.Name())
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchdata:", err)
		os.Exit(1)
	}
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
