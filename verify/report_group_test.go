package verify

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/airlock-oci/airlock/artifact"
)

// catalogueImage is an image that passed with a key signature and an
// attestation; its digests and reasons are its own.
func catalogueImage(i int, key string) ImageResult {
	d := fmt.Sprintf("sha256:%064x", i+1)
	signer := &Signer{Key: key, KeyID: strings.Repeat("ab", 32)}
	return ImageResult{
		Reference: fmt.Sprintf("registry.example/cat/app%04d:v1", i),
		Name:      fmt.Sprintf("registry.example/cat/app%04d", i),
		Digest:    d,
		Platforms: []PlatformInput{{Platform: "linux/amd64", Digest: d}},
		Rules: []RuleResult{{Name: "command-line", Requirement: "signatures", Satisfied: true,
			Reason: "1 of 1 required signers on " + d}},
		Findings: []Finding{
			{Kind: artifact.KindCosignSignature, Status: StatusVerified, Manifest: fmt.Sprintf("sha256:%064x", 1000+i), Subject: d,
				Signer: signer, Covers: []string{d}, TrustMaterial: []string{"key:" + key}, Reason: "accepted as of " + d},
			{Kind: artifact.KindCosignAttestation, Status: StatusVerified, PredicateType: "https://slsa.dev/provenance/v1",
				Manifest: fmt.Sprintf("sha256:%064x", 2000+i), Subject: d, Signer: signer, TrustMaterial: []string{"key:" + key}},
		},
		Verdict: VerdictPass,
		Targets: []string{fmt.Sprintf("mirror.example/cat/app%04d:v1", i)},
	}
}

// A catalogue of images that passed alike is one block that names each of
// them; an image that failed, one with a warning and one signed differently
// keep blocks of their own.
func TestSummaryGroupsUniformImages(t *testing.T) {
	r := &Report{Tool: Tool{Name: "airlock"}, Integrity: Integrity{OK: true, Blobs: 10, Bytes: 100}}
	for i := range 8 {
		r.Images = append(r.Images, catalogueImage(i, "cosign.pub"))
	}
	failed := catalogueImage(8, "cosign.pub")
	failed.Verdict = VerdictPolicyFailed
	failed.Rules[0].Satisfied = false
	failed.Rules[0].Reason = "no signature by cosign.pub"
	warned := catalogueImage(9, "cosign.pub")
	warned.Warnings = []string{"a warning of its own"}
	other := catalogueImage(10, "other.pub")
	r.Images = append(r.Images, failed, warned, other, catalogueImage(11, "cosign.pub"))
	r.Finish()
	var buf bytes.Buffer
	r.Summary(&buf)
	out := buf.String()

	if n := strings.Count(out, "9 images: PASS, signed by key cosign.pub (keyid abababababab)"); n != 1 {
		t.Errorf("group header appears %d times, want once:\n%s", n, out)
	}
	for _, i := range []int{0, 1, 2, 3, 4, 5, 6, 7, 11} {
		ref := fmt.Sprintf("registry.example/cat/app%04d:v1", i)
		if n := strings.Count(out, ref); n != 1 {
			t.Errorf("%s appears %d times, want once (on the group's list):\n%s", ref, n, out)
		}
		if strings.Contains(out, "image "+ref) {
			t.Errorf("%s has a block of its own, want it in the group", ref)
		}
		if !strings.Contains(out, fmt.Sprintf("mirror.example/cat/app%04d:v1", i)) {
			t.Errorf("group list lacks the target of %s", ref)
		}
	}
	for _, i := range []int{8, 9, 10} {
		ref := fmt.Sprintf("registry.example/cat/app%04d:v1", i)
		if !strings.Contains(out, "image "+ref+"\n") {
			t.Errorf("%s has no block of its own:\n%s", ref, out)
		}
	}
	for _, want := range []string{
		"  policy (each image):\n    [ ok ] command-line / signatures\n",
		"    [verified] cosign-attestation https://slsa.dev/provenance/v1; signer key cosign.pub (keyid abababababab); trusted via key:cosign.pub\n",
		"    [verified] cosign-signature; signer key cosign.pub (keyid abababababab); trusted via key:cosign.pub\n",
		"no signature by cosign.pub", "WARNING:  a warning of its own",
		"verdict: POLICY-FAILED (exit code 1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// The group is where its first member was: before the failed image.
	if strings.Index(out, "9 images:") > strings.Index(out, "image registry.example/cat/app0008:v1") {
		t.Errorf("group printed after the image that follows its first member:\n%s", out)
	}
}

// Below GroupMin, images keep their blocks.
func TestSummaryFewImagesUngrouped(t *testing.T) {
	r := &Report{Integrity: Integrity{OK: true}}
	for i := range GroupMin - 1 {
		r.Images = append(r.Images, catalogueImage(i, "cosign.pub"))
	}
	r.Finish()
	var buf bytes.Buffer
	r.Summary(&buf)
	if strings.Contains(buf.String(), " images: ") {
		t.Fatalf("grouped %d images:\n%s", GroupMin-1, buf.String())
	}
	for i := range GroupMin - 1 {
		if !strings.Contains(buf.String(), fmt.Sprintf("image registry.example/cat/app%04d:v1\n", i)) {
			t.Errorf("image %d has no block", i)
		}
	}
}
