package verify

import (
	"strings"
	"testing"

	"github.com/airlock-oci/airlock/artifact"
)

// Issue 9 §4: provenance BuildKit puts inside the index is vouched for by
// the verified signatures on that index, never a signature of its own.
func TestBuildKitAttestationCoveredByIndexSignature(t *testing.T) {
	p := mustPolicy(t, header+`rules:
  - name: vendor
    images: ["**"]
    signers: [{key: keys/vendor.pub}]
    attestations:
      - name: provenance
        predicateType: https://slsa.dev/provenance/v1
        condition: predicate.runDetails.builder.id == "https://github.com/actions/runner"
`)
	bk := func(builder string) Finding {
		return Finding{Kind: artifact.KindBuildKitAttestation, Manifest: dOther, Layer: 0, Subject: dAMD64, Status: StatusUnsigned,
			PredicateType: slsaV1, Covers: []string{dAMD64},
			Statement: statement(t, slsaV1, slsaPredicate("https://github.com/acme/app", builder), dAMD64)}
	}
	prov := bk("https://github.com/actions/runner")
	indexSig := keySig("keys/vendor.pub", "k1", dIndex)
	img := func(index []IndexEntry, findings ...Finding) ImageInput {
		in := image(findings...)
		in.Platforms = []PlatformInput{{Platform: "linux/amd64", Digest: dAMD64}, {Platform: "unknown/unknown", Digest: dOther}}
		in.Index = index
		return in
	}
	listed := []IndexEntry{
		{Digest: dAMD64, Platform: "linux/amd64"},
		{Digest: dOther, Platform: "unknown/unknown", Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": dAMD64}},
	}
	notMarked := []IndexEntry{{Digest: dAMD64, Platform: "linux/amd64"}, {Digest: dOther, Platform: "unknown/unknown"}}
	otherSigner := keySig("keys/other.pub", "k2", dIndex)
	platformSigOnly := keySig("keys/vendor.pub", "k1", dAMD64)
	failedSig := indexSig
	failedSig.Status, failedSig.Reason, failedSig.Signer = StatusFailed, "signature does not verify", nil

	cases := []struct {
		name string
		in   ImageInput
		pass bool
		has  string
	}{
		{"index signed by the rule's key", img(listed, indexSig, prov), true, "covered by the index signature of key keys/vendor.pub"},
		{"unsigned index", img(listed, prov), false, "no verified signature on the image index"},
		{"index signed by another key", img(listed, otherSigner, prov), false, "not an allowed signer"},
		{"index signature failed", img(listed, failedSig, prov), false, "is failed"},
		{"only the platform manifest is signed", img(listed, platformSigOnly, prov), false, "no verified signature on the image index"},
		{"index does not list it as an attestation manifest", img(notMarked, indexSig, prov), false, "does not list it as an attestation manifest"},
		{"no index given", img(nil, indexSig, prov), false, "does not list it as an attestation manifest"},
		{"builder condition false", img(listed, indexSig, bk("https://evil.example/builder")), false, "condition is false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := p.Evaluate(tc.in)
			rr := byRequirement(res)["vendor/attestation provenance"]
			if rr.Satisfied != tc.pass {
				t.Fatalf("provenance satisfied %v, want %v: %s", rr.Satisfied, tc.pass, rr.Reason)
			}
			if !strings.Contains(rr.Reason, tc.has) {
				t.Fatalf("reason %q lacks %q", rr.Reason, tc.has)
			}
		})
	}
	// Never a signature of its own: an index with only BuildKit evidence
	// has no signature.
	res := p.Evaluate(img(listed, prov))
	if r := byRequirement(res)["vendor/signatures"]; r.Satisfied {
		t.Fatalf("BuildKit attestation counted as a signature: %s", r.Reason)
	}
}
