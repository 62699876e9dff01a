package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-oci/airlock/internal/testenv"
)

// TestE2EKeySignedWithRFC3161Only: real cosign signs and attests with a key,
// no transparency log and an RFC 3161 timestamp (--tlog-upload=false
// --timestamp-server-url). airlock checks both timestamps against the
// operator's trusted timestamp authority (issue 8), and refuses them
// without it.
func TestE2EKeySignedWithRFC3161Only(t *testing.T) {
	// The private Sigstore's timestamp authority; its trusted root lists it
	// (beside Fulcio and Rekor, which a key signature does not use).
	w := newKeylessWorld(t, "cosign")
	tsaURL, tsaRoot, reg, dir, pred := w.s.TSAURL, w.s.TrustedRoot, w.reg, w.dir, w.pred
	env := append(w.env, "COSIGN_PASSWORD=")
	testenv.Run(t, dir, env, "cosign", "generate-key-pair")
	ref, d, _ := w.push(t, "acme/tsa", false)
	byDigest := reg.Host + "/acme/tsa@" + d.String()
	base := []string{"--key", filepath.Join(dir, "cosign.key"), "--tlog-upload=false", "--timestamp-server-url", tsaURL, "--allow-insecure-registry", "--allow-http-registry", "-y"}
	testenv.Run(t, dir, env, "cosign", append([]string{"sign"}, append(base, byDigest)...)...)
	testenv.Run(t, dir, env, "cosign", append([]string{"attest", "--type", "slsaprovenance1", "--predicate", pred}, append(base, byDigest)...)...)

	bundlePath := filepath.Join(dir, "bundle.tar")
	exportNoTUF(t, reg.Host, bundlePath, ref)
	policy := writeFile(t, filepath.Join(dir, "policy.yaml"), `apiVersion: airlock.dev/v1
kind: Policy
rules:
  - name: tsa
    images: ["**"]
    timestamp: required
    signers: [{key: cosign.pub}]
    attestations: [{name: provenance, predicateType: "https://slsa.dev/provenance/v1"}]
`)
	type report struct {
		Verdict string
		Images  []struct {
			Findings []struct {
				Kind, Status, Reason string
				Timestamps           []struct{ Kind string }
				TrustMaterial        []string
			}
		}
	}
	verifyWith := func(extra ...string) (report, int, string) {
		args := append([]string{"verify", "--format", "json", "--trust-dir", filepath.Join(dir, "trust"), "--policy", policy}, extra...)
		stdout, stderr, code := airlockRun(t, append(args, bundlePath)...)
		var rep report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("report: %v\n%s\n%s", err, stdout, stderr)
		}
		return rep, code, stdout + stderr
	}

	rep, code, out := verifyWith("--trusted-root", tsaRoot)
	if code != 0 || rep.Verdict != "pass" {
		t.Fatalf("with the TSA trusted: exit %d\n%s", code, out)
	}
	kinds := map[string]bool{}
	for _, f := range rep.Images[0].Findings {
		if f.Status != "verified" {
			continue
		}
		kinds[f.Kind] = true
		if len(f.Timestamps) != 1 || f.Timestamps[0].Kind != "rfc3161" || !strings.Contains(strings.Join(f.TrustMaterial, ","), "file:"+tsaRoot) {
			t.Errorf("%s: timestamps %+v trust %v, want one rfc3161 from %s", f.Kind, f.Timestamps, f.TrustMaterial, tsaRoot)
		}
	}
	if !kinds["cosign-signature"] || !kinds["cosign-attestation"] {
		t.Fatalf("verified kinds %v, want the signature and the attestation\n%s", kinds, out)
	}

	// Without the TSA in the trust material neither is dated, so neither
	// counts: timestamps that cannot be checked fail the evidence.
	if rep, code, out := verifyWith(); code == 0 || rep.Verdict == "pass" {
		t.Fatalf("without a trusted TSA: exit %d\n%s", code, out)
	}
}
