package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
)

func inspectedImage(i int, withAttestation bool) airlock.InspectedImage {
	d := fmt.Sprintf("sha256:%064x", i+1)
	img := airlock.InspectedImage{
		Image: bundle.Image{
			Reference: fmt.Sprintf("registry.example/cat/app%04d:v1", i), Digest: d,
			Platforms: []bundle.Platform{{Platform: "linux/amd64", Digest: d}},
			Artifacts: []bundle.Artifact{{Kind: artifact.KindCosignSignature, Digest: fmt.Sprintf("sha256:%064x", 1000+i), Subject: d, FoundBy: "legacy-tag"}},
		},
		TotalSize: 1 << 20,
		Vouching:  airlock.Vouching{Signatures: 1, Attestations: map[string]int{}, Other: map[string]int{}},
	}
	if withAttestation {
		img.Artifacts = append(img.Artifacts, bundle.Artifact{Kind: artifact.KindCosignAttestation, Digest: fmt.Sprintf("sha256:%064x", 2000+i),
			Subject: d, FoundBy: "legacy-tag", PredicateTypes: []string{"https://slsa.dev/provenance/v1"}})
		img.Vouching.Attestations["https://slsa.dev/provenance/v1"] = 1
	}
	return img
}

// Alike images are described once and listed a line each; the odd one out
// keeps its own block, with its artifacts' digests.
func TestInspectGroupsAlikeImages(t *testing.T) {
	ins := &airlock.Inspection{Bundle: "b.tar"}
	for i := range 7 {
		ins.Images = append(ins.Images, inspectedImage(i, true))
	}
	ins.Images = append(ins.Images, inspectedImage(7, false))
	var buf bytes.Buffer
	printInspection(&buf, ins)
	out := buf.String()
	for _, want := range []string{
		"\n7 images alike\n  platforms  linux/amd64\n  signatures 1 each\n  attestation 1x https://slsa.dev/provenance/v1 each\n",
		"    - cosign-attestation   on the image via legacy-tag https://slsa.dev/provenance/v1\n",
		"    - cosign-signature     on the image via legacy-tag\n",
		fmt.Sprintf("  registry.example/cat/app0003:v1  sha256:%064x (1.0 MiB)\n", 4),
		"\nregistry.example/cat/app0007:v1\n",
		fmt.Sprintf("on %s via legacy-tag", short(fmt.Sprintf("sha256:%064x", 8))),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	for i := range 8 {
		if n := strings.Count(out, fmt.Sprintf("registry.example/cat/app%04d:v1", i)); n != 1 {
			t.Errorf("image %d named %d times, want once:\n%s", i, n, out)
		}
	}
	if n := strings.Count(out, "signatures"); n != 2 {
		t.Errorf("%d signature lines, want 2 (the group and the odd image):\n%s", n, out)
	}
}

// Fewer than inspectGroupMin alike images keep a block each.
func TestInspectFewImagesUngrouped(t *testing.T) {
	ins := &airlock.Inspection{Bundle: "b.tar"}
	for i := range inspectGroupMin - 1 {
		ins.Images = append(ins.Images, inspectedImage(i, true))
	}
	var buf bytes.Buffer
	printInspection(&buf, ins)
	if strings.Contains(buf.String(), "alike") {
		t.Fatalf("grouped:\n%s", buf.String())
	}
	if n := strings.Count(buf.String(), "  signatures 1\n"); n != inspectGroupMin-1 {
		t.Fatalf("%d image blocks, want %d:\n%s", n, inspectGroupMin-1, buf.String())
	}
}
