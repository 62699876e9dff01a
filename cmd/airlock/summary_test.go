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

// Fewer than groupMin alike images keep a block each.
func TestInspectFewImagesUngrouped(t *testing.T) {
	ins := &airlock.Inspection{Bundle: "b.tar"}
	for i := range groupMin - 1 {
		ins.Images = append(ins.Images, inspectedImage(i, true))
	}
	var buf bytes.Buffer
	printInspection(&buf, ins)
	if strings.Contains(buf.String(), "alike") {
		t.Fatalf("grouped:\n%s", buf.String())
	}
	if n := strings.Count(buf.String(), "  signatures 1\n"); n != groupMin-1 {
		t.Fatalf("%d image blocks, want %d:\n%s", n, groupMin-1, buf.String())
	}
}

func exportedImage(i int, arts map[string]int) airlock.ExportedImage {
	return airlock.ExportedImage{Reference: fmt.Sprintf("registry.example/cat/app%04d:v1", i), Digest: fmt.Sprintf("sha256:%064x", i+1),
		Platforms: []string{"linux/amd64"}, Artifacts: arts}
}

func signed() map[string]int {
	return map[string]int{string(artifact.KindCosignSignature): 1, string(artifact.KindSigstoreBundle): 1, string(artifact.KindCosignAttestation): 1}
}

// assertOutput checks what a summary must say, how often each image is
// named, and that it stays short.
func assertOutput(t *testing.T, out string, want []string, named map[int]int, maxLines int) {
	t.Helper()
	for _, s := range want {
		if !strings.Contains(out, s) {
			t.Errorf("summary lacks %q:\n%s", s, out)
		}
	}
	for i, n := range named {
		if got := strings.Count(out, fmt.Sprintf("registry.example/cat/app%04d:v1", i)); got != n {
			t.Errorf("image %d named %d times, want %d:\n%s", i, got, n, out)
		}
	}
	if n := strings.Count(out, "\n"); n > maxLines {
		t.Errorf("%d lines, want at most %d:\n%s", n, maxLines, out)
	}
}

// A thousand alike images are one line; the unsigned, the filtered and the
// differently signed images keep their blocks.
func TestExportSummaryGroupsAlikeImages(t *testing.T) {
	res := &airlock.ExportResult{Bundle: "b.tar"}
	for i := range 1000 {
		res.Images = append(res.Images, exportedImage(i, signed()))
	}
	filtered := exportedImage(1001, signed())
	filtered.Filter = &bundle.Filter{Note: "kept 1 of 2 platforms"}
	res.Images = append(res.Images, exportedImage(1000, nil), filtered, exportedImage(1002, map[string]int{string(artifact.KindCosignSignature): 2}))
	var buf bytes.Buffer
	printExport(&buf, res)
	out := buf.String()
	assertOutput(t, out, []string{
		"wrote b.tar (0 B): 1003 images",
		"\n  1000 images: exported, platforms linux/amd64, attached 1 cosign-attestation, 1 cosign-signature, 1 sigstore-bundle each\n",
		"  registry.example/cat/app1000:v1\n    digest    " + fmt.Sprintf("sha256:%064x", 1001) + "\n    platforms linux/amd64\n    attached  none found\n",
		"    NOTE      kept 1 of 2 platforms\n",
		"    attached  2 cosign-signature\n",
	}, map[int]int{0: 0, 999: 0, 1000: 1, 1001: 1, 1002: 1}, 20)
	if strings.Count(out, "images:") != 1 {
		t.Errorf("want one group:\n%s", out)
	}
}

// Unsigned images alike are grouped, but each is named: each needs a look.
func TestExportSummaryNamesUnsignedGroup(t *testing.T) {
	res := &airlock.ExportResult{Bundle: "b.tar"}
	for i := range groupMin {
		res.Images = append(res.Images, exportedImage(i, nil))
	}
	var buf bytes.Buffer
	printExport(&buf, res)
	assertOutput(t, buf.String(), []string{fmt.Sprintf("  %d images: exported, platforms linux/amd64, attached none found\n", groupMin),
		fmt.Sprintf("    registry.example/cat/app0002:v1  sha256:%064x\n", 3)}, map[int]int{0: 1, groupMin - 1: 1}, groupMin+2)
}

// Below groupMin, each image keeps its block.
func TestExportSummaryFewImagesDetailed(t *testing.T) {
	res := &airlock.ExportResult{Bundle: "b.tar"}
	for i := range groupMin - 1 {
		res.Images = append(res.Images, exportedImage(i, signed()))
	}
	var buf bytes.Buffer
	printExport(&buf, res)
	if n := strings.Count(buf.String(), "    attached  1 cosign-attestation, 1 cosign-signature, 1 sigstore-bundle\n"); n != groupMin-1 || strings.Contains(buf.String(), "images:") {
		t.Errorf("%d image blocks, want %d and no group:\n%s", n, groupMin-1, buf.String())
	}
}

func importedImage(i, present int, outcomes ...string) airlock.ImportedImage {
	d := fmt.Sprintf("sha256:%064x", i+1)
	img := airlock.ImportedImage{Source: fmt.Sprintf("registry.example/cat/app%04d:v1", i), Reference: fmt.Sprintf("mirror.example/m/cat/app%04d:v1", i),
		Digest: d, Verdict: "pass", Blobs: 6, Bytes: 1 << 20, Present: present, Manifests: []string{d}, Referrers: []string{"a", "b", "c"}}
	for _, o := range outcomes {
		img.Tags = append(img.Tags, airlock.TagMove{Tag: img.Reference, Digest: d, Moved: o != "conflict", Outcome: o})
	}
	return img
}

// 1998 images pushed alike are three lines; the skipped image, the one
// whose tag points elsewhere and the one already there are listed.
func TestImportSummaryGroupsAlikeImages(t *testing.T) {
	res := &airlock.ImportResult{Target: "mirror.example/m"}
	for i := range 1998 {
		res.Images = append(res.Images, importedImage(i, 2, "new"))
	}
	skipped := importedImage(1998, 0)
	skipped.Skipped = "did not pass verification: nothing pushed"
	conflict := importedImage(1999, 6, "conflict")
	res.Images = append(res.Images, skipped, conflict, importedImage(2000, 6, "present"))
	var buf bytes.Buffer
	printImport(&buf, res)
	assertOutput(t, buf.String(), []string{
		"\n1998 images: pushed, 1 manifests and 3 referrers each, tag new\n  blobs, counted per image: 7992 pushed, 3996 already there, 2.0 GiB\n",
		"\nregistry.example/cat/app1998:v1: did not pass verification: nothing pushed\n",
		"(not moved: points at another digest (use --force))\n",
		"\nregistry.example/cat/app2000:v1 -> mirror.example/m/cat/app2000:v1\n  all 6 blobs (1.0 MiB) already there",
	}, map[int]int{0: 0, 1997: 0, 1998: 1, 1999: 1, 2000: 1}, 20)
}

// A dry run groups too, and says it pushed nothing; images with two tags
// count their states.
func TestImportSummaryGroupsDryRun(t *testing.T) {
	res := &airlock.ImportResult{DryRun: true}
	for i := range groupMin {
		res.Images = append(res.Images, importedImage(i, 0, "new", "present"))
	}
	var buf bytes.Buffer
	printImport(&buf, res)
	assertOutput(t, buf.String(), []string{"DRY RUN: nothing was pushed",
		fmt.Sprintf("\n%d images: would push, 1 manifests and 3 referrers each, tags 1 already there, 1 new each\n  blobs, counted per image: %d, 5.0 MiB\n", groupMin, 6*groupMin)},
		map[int]int{0: 0}, 8)
}

// Below groupMin, each image keeps its lines.
func TestImportSummaryFewImagesDetailed(t *testing.T) {
	res := &airlock.ImportResult{}
	for i := range groupMin - 1 {
		res.Images = append(res.Images, importedImage(i, 2, "new"))
	}
	var buf bytes.Buffer
	printImport(&buf, res)
	if n := strings.Count(buf.String(), "  pushed 4 of 6 blobs (2 already there, 1.0 MiB in all), 1 manifests, 3 referrers\n"); n != groupMin-1 || strings.Contains(buf.String(), "images:") {
		t.Errorf("%d image blocks, want %d and no group:\n%s", n, groupMin-1, buf.String())
	}
}
