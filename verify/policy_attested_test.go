package verify

import (
	"errors"
	"strings"
	"testing"
)

// Issue 9 §3: images that are only attested.

func TestThresholdZero(t *testing.T) {
	const only = header + `rules:
  - name: attested
    images: ["**"]
    threshold: 0
    signers: [{issuer: https://token.actions.githubusercontent.com, subjectRegExp: 'https://github\.com/acme/app/.*'}]
    attestations:
      - name: provenance
        predicateType: https://slsa.dev/provenance/v1
`
	p := mustPolicy(t, only)
	prov := attestation(t, slsaV1, slsaPredicate("https://github.com/acme/app", "https://github.com/actions/runner"), Signer{Identity: ghWorkflow, Issuer: ghIssuer}, dIndex)
	res := p.Evaluate(image(prov))
	if res.Verdict != VerdictPass {
		t.Fatalf("attested image: %s %+v", res.Verdict, res.Rules)
	}
	if r := byRequirement(res)["attested/signatures"]; !r.Satisfied || !strings.Contains(r.Reason, "threshold: 0") {
		t.Fatalf("signatures requirement: %+v", r)
	}
	// The attestation still has to be there, verified, by the rule's signers.
	for name, img := range map[string]ImageInput{
		"no attestation":   image(),
		"only a signature": image(keylessSig(ghWorkflow, ghIssuer, dIndex)),
		"wrong signer":     image(attestation(t, slsaV1, slsaPredicate("x", "y"), Signer{Identity: "https://github.com/evil/app/x", Issuer: ghIssuer}, dIndex)),
		"wrong issuer":     image(attestation(t, slsaV1, slsaPredicate("x", "y"), Signer{Identity: ghWorkflow, Issuer: googleIss}, dIndex)),
	} {
		if res := p.Evaluate(img); res.Verdict == VerdictPass {
			t.Errorf("%s: passed: %+v", name, res.Rules)
		}
	}
	// Attestations with their own signers need no rule signers.
	mustPolicy(t, header+`rules:
  - name: a
    images: ["**"]
    threshold: 0
    attestations: [{predicateType: https://spdx.dev/Document, signers: [{key: k.pub}]}]
`)
	for name, doc := range map[string]string{
		"threshold 0 without attestations": header + "rules:\n  - name: a\n    images: [\"**\"]\n    threshold: 0\n    signers: [{key: k.pub}]\n",
		"negative threshold":               header + "rules:\n  - name: a\n    images: [\"**\"]\n    threshold: -1\n    signers: [{key: k.pub}]\n    attestations: [{predicateType: x}]\n",
		"no signers anywhere":              header + "rules:\n  - name: a\n    images: [\"**\"]\n    threshold: 0\n    attestations: [{predicateType: x}]\n",
		"threshold 1 without rule signers": header + "rules:\n  - name: a\n    images: [\"**\"]\n    attestations: [{predicateType: x, signers: [{key: k.pub}]}]\n",
	} {
		if _, err := ParsePolicy([]byte(doc)); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%s: error %v, want invalid policy", name, err)
		}
	}
}

func TestParsePredicateType(t *testing.T) {
	for in, want := range map[string]string{
		"custom":                              "https://cosign.sigstore.dev/attestation/v1",
		"slsaprovenance":                      "https://slsa.dev/provenance/v0.2",
		"slsaprovenance02":                    "https://slsa.dev/provenance/v0.2",
		"slsaprovenance1":                     "https://slsa.dev/provenance/v1",
		"spdx":                                "https://spdx.dev/Document",
		"spdxjson":                            "https://spdx.dev/Document",
		"cyclonedx":                           "https://cyclonedx.org/bom",
		"link":                                "https://in-toto.io/Link/v1",
		"vuln":                                "https://cosign.sigstore.dev/attestation/vuln/v1",
		"openvex":                             "https://openvex.dev/ns",
		"https://example.com/my-predicate/v1": "https://example.com/my-predicate/v1",
	} {
		if got, err := ParsePredicateType(in); err != nil || got != want {
			t.Errorf("ParsePredicateType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "slsa", "not a uri"} {
		if _, err := ParsePredicateType(bad); !errors.Is(err, ErrInvalidFlags) {
			t.Errorf("ParsePredicateType(%q): %v, want ErrInvalidFlags", bad, err)
		}
	}
}

func TestPolicyFromFlagsType(t *testing.T) {
	p, err := PolicyFromFlags(Flags{CertificateIdentity: ghWorkflow, CertificateOIDCIssuer: ghIssuer, Type: "slsaprovenance1"})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Rules[0]
	if r.Threshold != 0 || len(r.Attestations) != 1 || r.Attestations[0].PredicateType != slsaV1 {
		t.Fatalf("rule %+v", r)
	}
	good := attestation(t, slsaV1, slsaPredicate("x", "y"), Signer{Identity: ghWorkflow, Issuer: ghIssuer}, dIndex)
	if res := p.Evaluate(image(good)); res.Verdict != VerdictPass {
		t.Fatalf("verified attestation of the type: %+v", res.Rules)
	}
	for name, img := range map[string]ImageInput{
		"a signature is not enough": image(keylessSig(ghWorkflow, ghIssuer, dIndex)),
		"other type":                image(attestation(t, "https://spdx.dev/Document", map[string]any{}, Signer{Identity: ghWorkflow, Issuer: ghIssuer}, dIndex)),
		"other identity":            image(attestation(t, slsaV1, slsaPredicate("x", "y"), Signer{Identity: "someone@else", Issuer: ghIssuer}, dIndex)),
	} {
		if res := p.Evaluate(img); res.Verdict == VerdictPass {
			t.Errorf("%s: passed", name)
		}
	}
	if _, err := PolicyFromFlags(Flags{Key: "k.pub", Type: "bogus"}); !errors.Is(err, ErrInvalidFlags) {
		t.Errorf("bad --type: %v", err)
	}
	if _, err := PolicyFromFlags(Flags{Type: "custom"}); !errors.Is(err, ErrInvalidFlags) {
		t.Errorf("--type without a signer: %v", err)
	}
}
