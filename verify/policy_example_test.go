package verify_test

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/verify"
)

func ExampleParsePolicy() {
	policy, err := verify.ParsePolicy([]byte(`
apiVersion: airlock.dev/v1
kind: Policy
rules:
  - name: acme-release
    images: ["ghcr.io/acme/**"]
    signers:
      - issuer: https://token.actions.githubusercontent.com
        subjectRegExp: 'https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*'
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	digest := "sha256:" + strings.Repeat("a", 64)
	// In airlock the findings come from verify.Check on each piece of evidence.
	finding := verify.Finding{
		Kind: artifact.KindCosignSignature, Subject: digest, Status: verify.StatusVerified,
		Signer: &verify.Signer{
			Identity: "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0",
			Issuer:   "https://token.actions.githubusercontent.com",
		},
		Covers: []string{digest},
		TLog:   []verify.TLogProof{{LogID: "c0d23d6a", LogIndex: 7, Proof: "set"}},
	}
	res := policy.Evaluate(verify.ImageInput{
		Reference: "ghcr.io/acme/app:v1.0.0",
		Digest:    digest,
		Findings:  []verify.Finding{finding},
	})
	fmt.Println(res.Verdict)
	fmt.Println(res.Rules[0].Satisfied, res.Rules[0].Requirement)
	// Output:
	// pass
	// true signatures
}

func ExampleParsePolicy_error() {
	_, err := verify.ParsePolicy([]byte(`
apiVersion: airlock.dev/v1
kind: Policy
rules:
  - name: typo
    images: ["**"]
    signers: [{key: cosign.pub}]
    treshold: 2
`))
	fmt.Println(err)
	// Output:
	// reading policy: rules[0].treshold: invalid policy: unknown field "treshold" (this schema knows: attestations, description, images, name, platforms, signers, threshold, timestamp, tlog)
}

func ExamplePolicyFromFlags() {
	policy, err := verify.PolicyFromFlags(verify.Flags{Key: "cosign.pub"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The caller loads each key file into TrustMaterial under this name.
	fmt.Println(policy.KeyFiles())
	res := policy.Evaluate(verify.ImageInput{Reference: "registry.example.com/app:1", Digest: "sha256:" + strings.Repeat("b", 64)})
	fmt.Println(res.Verdict)
	fmt.Println(res.Rules[0].Reason)
	// Output:
	// [cosign.pub]
	// policy-failed
	// 0 of 1 required signers: none on sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb; no signature found
}

func ExampleReport_Summary() {
	digest := "sha256:" + strings.Repeat("c", 64)
	policy, _ := verify.PolicyFromFlags(verify.Flags{Key: "cosign.pub"})
	img := policy.Evaluate(verify.ImageInput{
		Reference: "registry.example.com/app:1",
		Digest:    digest,
		Findings: []verify.Finding{{
			Kind: artifact.KindCosignSignature, Manifest: "sha256:" + strings.Repeat("d", 64), Subject: digest,
			Status: verify.StatusVerified, Signer: &verify.Signer{Key: "cosign.pub", KeyID: "3f2a9c0d1e4b5a6f"},
			Covers: []string{digest}, Reason: "no transparency log vouches for this signature",
		}},
	})
	r := verify.Report{
		Tool:       verify.Tool{Name: "airlock", Version: "v0.1.0"},
		Bundle:     verify.BundleInfo{Path: "app.tar"},
		VerifiedAt: time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC),
		Integrity:  verify.Integrity{OK: true, Blobs: 7, Bytes: 3 << 20},
		Images:     []verify.ImageResult{img},
	}
	r.Finish()
	r.Summary(os.Stdout)
	fmt.Println("exit", r.ExitCode())
	// Output:
	// airlock v0.1.0 verification report (airlock.dev/report/v1)
	//   bundle:     app.tar
	//   verified:   2026-11-26T02:00:00Z
	//   integrity:  ok: 7 blobs, 3.0 MiB checked against their digests
	//   trust:      none loaded
	//
	// image registry.example.com/app:1
	//   digest:   sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
	//   verdict:  PASS
	//   policy:
	//     [ ok ] command-line / signatures: 1 of 1 required signers: key cosign.pub (keyid 3f2a9c0d1e4b) on sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc; note: cosign-signature by key cosign.pub (keyid 3f2a9c0d1e4b) has no transparency log entry (tlog optional)
	//   evidence:
	//     [verified] cosign-signature (manifest sha256:dddddddddddd layer 0) on sha256:cccccccccccc; signer key cosign.pub (keyid 3f2a9c0d1e4b); covers sha256:cccccccccccc; no transparency log vouches for this signature
	//
	// verdict: PASS (exit code 0)
	// exit 0
}
