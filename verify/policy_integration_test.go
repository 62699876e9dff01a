package verify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/internal/sign"
	"github.com/airlock-oci/airlock/verify"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
)

// TestPolicyOverRealEvidence runs the policy over findings that Check made
// from real cosign-format evidence (internal/sign over a VirtualSigstore),
// so that the contract between the evidence checks and the policy (signer
// fields, covers, log proofs, statements) is exercised end to end.
func TestPolicyOverRealEvidence(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	rootJSON, err := sign.TrustedRootJSON(vs)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRootFromJSON(rootJSON)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tm := &verify.TrustMaterial{
		Sources: []verify.TrustSource{{Name: "file:trusted_root.json", Root: tr}},
		Keys:    []verify.Key{{Name: "keys/scanner.pub", Public: &key.PublicKey}},
	}
	const (
		repo     = "registry.example.com/team/app"
		issuer   = "https://token.actions.githubusercontent.com"
		workflow = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"
	)
	digest := "sha256:" + strings.Repeat("0a", 32)
	release := sign.NewKeyless(vs, workflow, issuer)
	mallory := sign.NewKeyless(vs, "https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1", issuer)
	scanner := sign.NewKey(key, nil) // no transparency log

	must := func(l sign.Layer, err error) sign.Layer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	statement := func(predicateType string, predicate any) []byte {
		st, err := sign.Statement(repo, digest, predicateType, predicate)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	check := func(kind verify.Kind, l sign.Layer) verify.Finding {
		f := verify.Check(verify.Evidence{Kind: kind, Subject: digest, MediaType: l.MediaType, Annotations: l.Annotations, Data: l.Data}, tm, verify.Options{})
		if f.Status != verify.StatusVerified {
			t.Fatalf("fixture %s did not verify: %s", kind, f.Reason)
		}
		return f
	}
	sig := check(artifact.KindCosignSignature, must(release.CosignSignature(repo, digest)))
	art, err := release.CosignSignBundle(repo, digest)
	if err != nil {
		t.Fatal(err)
	}
	bundleSig := verify.Check(verify.Evidence{Kind: artifact.KindSigstoreBundle, Subject: digest, ArtifactType: art.ArtifactType,
		MediaType: art.Layers[0].MediaType, Annotations: art.Layers[0].Annotations, Data: art.Layers[0].Data}, tm, verify.Options{})
	if bundleSig.Status != verify.StatusVerified {
		t.Fatalf("cosign sign --new-bundle-format fixture did not verify: %s", bundleSig.Reason)
	}
	malSig := check(artifact.KindCosignSignature, must(mallory.CosignSignature(repo, digest)))
	prov := check(artifact.KindCosignAttestation, must(release.CosignAttestation(statement(sign.PredicateSLSAProvenanceV1,
		sign.SLSAProvenance("https://github.com/actions/runner/github-hosted", "https://github.com/acme/app")))))
	forked := check(artifact.KindCosignAttestation, must(release.CosignAttestation(statement(sign.PredicateSLSAProvenanceV1,
		sign.SLSAProvenance("https://github.com/actions/runner/github-hosted", "https://github.com/evil/app")))))
	sbom := check(artifact.KindCosignAttestation, must(scanner.CosignAttestation(statement(sign.PredicateSPDX, sign.SPDXDocument("app", "openssl", "zlib")))))

	policy, err := verify.ParsePolicy([]byte(`apiVersion: airlock.dev/v1
kind: Policy
rules:
  - name: acme
    images: ["registry.example.com/team/**"]
    signers:
      - issuer: https://token.actions.githubusercontent.com
        subjectRegExp: 'https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*'
    attestations:
      - name: provenance
        predicateType: https://slsa.dev/provenance/v1
        condition: >-
          predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/acme/app" &&
          predicate.runDetails.builder.id == "https://github.com/actions/runner/github-hosted" &&
          subject.name == image.name
      - name: sbom
        predicateType: https://spdx.dev/Document
        signers: [{key: keys/scanner.pub}]
        condition: predicate.packages.exists(p, p.name == "openssl")
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		findings []verify.Finding
		want     map[string]bool
		reason   string
	}{
		{"all present", []verify.Finding{sig, prov, sbom},
			map[string]bool{"signatures": true, "attestation provenance": true, "attestation sbom": true},
			"has no transparency log entry (tlog optional)"},
		{"signed with --new-bundle-format", []verify.Finding{bundleSig, prov, sbom},
			map[string]bool{"signatures": true, "attestation provenance": true, "attestation sbom": true},
			"1 of 1 required signers: " + workflow},
		{"signed by another workflow", []verify.Finding{malSig, prov, sbom},
			map[string]bool{"signatures": false, "attestation provenance": true, "attestation sbom": true},
			"its signer was https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1 (issuer https://token.actions.githubusercontent.com)"},
		{"provenance from another repository", []verify.Finding{sig, forked, sbom},
			map[string]bool{"signatures": true, "attestation provenance": false, "attestation sbom": true},
			"condition is false for " + digest},
		{"SBOM missing", []verify.Finding{sig, prov},
			map[string]bool{"signatures": true, "attestation provenance": true, "attestation sbom": false},
			"no attestation of that type was found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := policy.Evaluate(verify.ImageInput{Reference: repo + ":v1.2.3", Name: repo, Digest: digest, Findings: tc.findings})
			var reasons []string
			for _, r := range res.Rules {
				reasons = append(reasons, r.Reason)
				if want, ok := tc.want[r.Requirement]; !ok || want != r.Satisfied {
					t.Errorf("%s: satisfied %v, want %v: %s", r.Requirement, r.Satisfied, want, r.Reason)
				}
			}
			if len(res.Rules) != len(tc.want) {
				t.Errorf("%d results, want %d", len(res.Rules), len(tc.want))
			}
			if !strings.Contains(strings.Join(reasons, "\n"), tc.reason) {
				t.Errorf("reasons lack %q:\n%s", tc.reason, strings.Join(reasons, "\n"))
			}
		})
	}
}
