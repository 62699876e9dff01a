package verify

import (
	"strings"
	"testing"

	"github.com/airlock-oci/airlock/artifact"
)

const header = "apiVersion: airlock.dev/v1\nkind: Policy\n"

const ghPolicy = header + `rules:
  - name: acme
    images: ["registry.example.com/team/**"]
    signers:
      - issuer: https://token.actions.githubusercontent.com
        subjectRegExp: 'https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*'
`

const keyPolicy = header + `rules:
  - name: vendor
    images: ["registry.example.com/**"]
    signers:
      - key: keys/vendor.pub
`

func image(findings ...Finding) ImageInput {
	return ImageInput{
		Reference: "registry.example.com/team/app:v1.2.3",
		Name:      "registry.example.com/team/app",
		Digest:    dIndex,
		Findings:  findings,
	}
}

func multiArch(findings ...Finding) ImageInput {
	img := image(findings...)
	img.Platforms = []PlatformInput{
		{Platform: "linux/amd64", Digest: dAMD64},
		{Platform: "linux/arm64", Digest: dARM64},
		{Platform: "unknown/unknown", Digest: dOther}, // BuildKit attestation manifest: ignored
	}
	return img
}

type evalCase struct {
	name   string
	policy string
	img    ImageInput
	// want: "rule/requirement" -> satisfied
	want        map[string]bool
	verdict     string
	reasonHas   []string // substrings of the joined reasons
	reasonLacks []string
}

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, tc.policy)
			res := p.Evaluate(tc.img)
			got := byRequirement(res)
			var reasons []string
			for _, r := range res.Rules {
				reasons = append(reasons, r.Reason)
			}
			all := strings.Join(reasons, "\n")
			if len(got) != len(tc.want) {
				t.Errorf("got %d rule results %v, want %d", len(got), got, len(tc.want))
			}
			for k, sat := range tc.want {
				r, ok := got[k]
				if !ok {
					t.Errorf("no result for %s; got %v", k, got)
					continue
				}
				if r.Satisfied != sat {
					t.Errorf("%s satisfied = %v, want %v; reason: %s", k, r.Satisfied, sat, r.Reason)
				}
				if r.Reason == "" {
					t.Errorf("%s has no reason", k)
				}
			}
			if res.Verdict != tc.verdict {
				t.Errorf("verdict = %q, want %q; reasons:\n%s", res.Verdict, tc.verdict, all)
			}
			for _, s := range tc.reasonHas {
				if !strings.Contains(all, s) {
					t.Errorf("reasons lack %q:\n%s", s, all)
				}
			}
			for _, s := range tc.reasonLacks {
				if strings.Contains(all, s) {
					t.Errorf("reasons contain %q:\n%s", s, all)
				}
			}
			if len(res.Findings) != len(tc.img.Findings) {
				t.Errorf("result carries %d findings, want all %d", len(res.Findings), len(tc.img.Findings))
			}
		})
	}
}

func TestEvaluateSignatures(t *testing.T) {
	sig := map[string]bool{"acme/signatures": true}
	noSig := map[string]bool{"acme/signatures": false}
	exactIssuer := header + `rules:
  - name: acme
    images: ["registry.example.com/**"]
    signers:
      - issuer: https://token.actions.githubusercontent.com
        subject: ` + ghWorkflow + "\n"
	issuerRegexp := header + `rules:
  - name: acme
    images: ["registry.example.com/**"]
    signers:
      - issuerRegExp: 'https://token\.actions\.githubusercontent\.com'
        subject: ` + ghWorkflow + "\n"
	emailAnchored := header + `rules:
  - name: acme
    images: ["registry.example.com/**"]
    signers:
      - issuer: https://accounts.google.com
        subjectRegExp: 'release@acme\.com'
`
	threshold2 := header + `rules:
  - name: acme
    images: ["registry.example.com/**"]
    threshold: 2
    signers:
      - issuer: https://accounts.google.com
        subjectRegExp: '.*@acme\.com'
`
	tsRequired := header + `rules:
  - name: acme
    images: ["registry.example.com/**"]
    timestamp: required
    signers:
      - issuer: https://accounts.google.com
        subject: release@acme.com
`
	failed := keylessSig(ghWorkflow, ghIssuer, dIndex)
	failed.Status, failed.Reason, failed.Signer = StatusFailed, "signature does not verify: crypto/ecdsa: verification error", nil
	unverifiable := keylessSig(ghWorkflow, ghIssuer, dIndex)
	unverifiable.Status, unverifiable.Reason = StatusUnverifiable, "dsse 0.0.2 entries on Rekor v2 are not supported"
	noLog := keylessSig(ghWorkflow, ghIssuer, dIndex)
	noLog.TLog = nil
	withTS := keylessSig("release@acme.com", googleIss, dIndex)
	withTS.Timestamps = []Timestamp{{Kind: "rfc3161", Authority: "CN=tsa"}}
	withLogTime := keylessSig("release@acme.com", googleIss, dIndex)
	withLogTime.Timestamps = []Timestamp{{Kind: "tlog-integrated"}}
	bundleSig := keylessSig(ghWorkflow, ghIssuer, dIndex)
	bundleSig.Kind, bundleSig.PredicateType = artifact.KindSigstoreBundle, CosignSignPredicateType
	bundleAtt := keylessSig(ghWorkflow, ghIssuer, dIndex)
	bundleAtt.Kind, bundleAtt.PredicateType = artifact.KindSigstoreBundle, slsaV1
	verifiedNoSigner := keylessSig(ghWorkflow, ghIssuer, dIndex)
	verifiedNoSigner.Signer = nil

	runEvalCases(t, []evalCase{
		{name: "keyless identity matches", policy: ghPolicy, img: image(keylessSig(ghWorkflow, ghIssuer, dIndex)),
			want: sig, verdict: VerdictPass, reasonHas: []string{"1 of 1 required signers: " + ghWorkflow + " (issuer " + ghIssuer + ")"}},
		{name: "wrong identity", policy: ghPolicy,
			img:  image(keylessSig("https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1", ghIssuer, dIndex)),
			want: noSig, verdict: VerdictPolicyFailed,
			reasonHas: []string{"0 of 1 required signers", "its signer was https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1 (issuer " + ghIssuer + "), not an allowed signer"}},
		{name: "wrong issuer exact", policy: exactIssuer, img: image(keylessSig(ghWorkflow, googleIss, dIndex)),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"issuer https://accounts.google.com), not an allowed signer"}},
		{name: "right issuer exact", policy: exactIssuer, img: image(keylessSig(ghWorkflow, ghIssuer, dIndex)),
			want: sig, verdict: VerdictPass},
		{name: "wrong issuer regexp", policy: issuerRegexp, img: image(keylessSig(ghWorkflow, googleIss, dIndex)),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"not an allowed signer"}},
		{name: "issuer regexp is anchored at the end", policy: issuerRegexp,
			img:  image(keylessSig(ghWorkflow, ghIssuer+".evil.example", dIndex)),
			want: noSig, verdict: VerdictPolicyFailed},
		{name: "issuer regexp is anchored at the start", policy: issuerRegexp,
			img:  image(keylessSig(ghWorkflow, "https://evil.example/"+ghIssuer, dIndex)),
			want: noSig, verdict: VerdictPolicyFailed},
		{name: "right issuer regexp", policy: issuerRegexp, img: image(keylessSig(ghWorkflow, ghIssuer, dIndex)),
			want: sig, verdict: VerdictPass},
		{name: "subject that contains the allowed one fails (prefix)", policy: emailAnchored,
			img:  image(keylessSig("evil-release@acme.com", googleIss, dIndex)),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"its signer was evil-release@acme.com"}},
		{name: "subject that contains the allowed one fails (suffix)", policy: emailAnchored,
			img:  image(keylessSig("release@acme.com.evil.example", googleIss, dIndex)),
			want: noSig, verdict: VerdictPolicyFailed},
		{name: "workflow regexp does not accept another repository's workflow", policy: ghPolicy,
			img:  image(keylessSig("https://github.com/acme/app-fork/.github/workflows/release.yml@refs/tags/v1", ghIssuer, dIndex)),
			want: noSig, verdict: VerdictPolicyFailed},
		{name: "anchored subject itself passes", policy: emailAnchored, img: image(keylessSig("release@acme.com", googleIss, dIndex)),
			want: sig, verdict: VerdictPass},
		{name: "threshold 2 with one signer", policy: threshold2, img: image(keylessSig("alice@acme.com", googleIss, dIndex)),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"1 of 2 required signers: alice@acme.com"}},
		{name: "threshold 2, two signatures by the same signer count once", policy: threshold2,
			img:  image(keylessSig("alice@acme.com", googleIss, dIndex), keylessSig("alice@acme.com", googleIss, dIndex)),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"1 of 2 required signers", "(2 signatures, counted once)"}},
		{name: "same subject from another issuer is another signer", policy: header + `rules:
  - name: acme
    images: ["registry.example.com/**"]
    threshold: 2
    signers:
      - {issuerRegExp: '.*', subject: alice@acme.com}
`,
			img:  image(keylessSig("alice@acme.com", googleIss, dIndex), keylessSig("alice@acme.com", "https://login.acme.com", dIndex)),
			want: sig, verdict: VerdictPass, reasonHas: []string{"2 of 2 required signers"}},
		{name: "threshold 2 with two signers", policy: threshold2,
			img:  image(keylessSig("alice@acme.com", googleIss, dIndex), keylessSig("bob@acme.com", googleIss, dIndex)),
			want: sig, verdict: VerdictPass, reasonHas: []string{"2 of 2 required signers: alice@acme.com (issuer https://accounts.google.com), bob@acme.com"}},
		{name: "threshold 2 with three signers", policy: threshold2,
			img: image(keylessSig("alice@acme.com", googleIss, dIndex), keylessSig("bob@acme.com", googleIss, dIndex),
				keylessSig("carol@acme.com", googleIss, dIndex)),
			want: sig, verdict: VerdictPass, reasonHas: []string{"3 distinct signers, 2 required"}},
		{name: "failed signature never counts", policy: ghPolicy, img: image(failed),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"is failed: signature does not verify"}},
		{name: "unverifiable signature never counts", policy: ghPolicy, img: image(unverifiable),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"is unverifiable: dsse 0.0.2"}},
		{name: "verified finding without signer never counts", policy: ghPolicy, img: image(verifiedNoSigner),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"names no signer"}},
		{name: "no evidence at all", policy: ghPolicy, img: image(),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"0 of 1 required signers: none", "no signature found"}},
		{name: "keyless signature without tlog fails by default", policy: ghPolicy, img: image(noLog),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"no transparency log entry (tlog: required)"}},
		{name: "keyless signature without tlog passes with tlog optional",
			policy: strings.Replace(ghPolicy, "    signers:", "    tlog: optional\n    signers:", 1), img: image(noLog),
			want: sig, verdict: VerdictPass, reasonHas: []string{"note: cosign-signature by " + ghWorkflow}},
		{name: "timestamp required, none", policy: tsRequired, img: image(withLogTime),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"no RFC 3161 timestamp (timestamp: required)"}},
		{name: "timestamp required, present", policy: tsRequired, img: image(withTS), want: sig, verdict: VerdictPass},
		{name: "signature for another digest does not cover the image", policy: ghPolicy,
			img:  image(keylessSig(ghWorkflow, ghIssuer, dOther)),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"covers " + dOther + ", not this image"}},
		{name: "cosign sign --new-bundle-format bundle is a signature", policy: ghPolicy, img: image(bundleSig),
			want: sig, verdict: VerdictPass},
		{name: "an attestation is not a signature", policy: ghPolicy, img: image(bundleAtt),
			want: noSig, verdict: VerdictPolicyFailed},
		{name: "image without digest", policy: ghPolicy,
			img:  ImageInput{Reference: "registry.example.com/team/app:v1", Findings: []Finding{keylessSig(ghWorkflow, ghIssuer, dIndex)}},
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"no digest"}},
	})
}

func TestEvaluateKeys(t *testing.T) {
	sig := map[string]bool{"vendor/signatures": true}
	noSig := map[string]bool{"vendor/signatures": false}
	withLog := keySig("keys/vendor.pub", "0123456789abcdef0123", dIndex)
	withLog.TLog = tlogProof()
	sameKeyTwoNames := header + `rules:
  - name: vendor
    images: ["registry.example.com/**"]
    threshold: 2
    signers:
      - key: keys/vendor.pub
      - key: keys/vendor-copy.pub
`
	runEvalCases(t, []evalCase{
		{name: "key rule", policy: keyPolicy, img: image(keySig("keys/vendor.pub", "0123456789abcdef0123", dIndex)),
			want: sig, verdict: VerdictPass,
			reasonHas: []string{"1 of 1 required signers: key keys/vendor.pub (keyid 0123456789ab)",
				"note: cosign-signature by key keys/vendor.pub (keyid 0123456789ab) has no transparency log entry (tlog optional)"}},
		{name: "key rule with log entry has no note", policy: keyPolicy, img: image(withLog), want: sig, verdict: VerdictPass,
			reasonLacks: []string{"tlog optional"}},
		{name: "wrong key", policy: keyPolicy, img: image(keySig("keys/other.pub", "ffff", dIndex)),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"its signer was key keys/other.pub"}},
		{name: "keyless signature does not satisfy a key rule", policy: keyPolicy, img: image(keylessSig(ghWorkflow, ghIssuer, dIndex)),
			want: noSig, verdict: VerdictPolicyFailed},
		{name: "tlog required for key signatures", policy: strings.Replace(keyPolicy, "    signers:", "    tlog: required\n    signers:", 1),
			img:  image(keySig("keys/vendor.pub", "0123", dIndex)),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"no transparency log entry (tlog: required)"}},
		{name: "one key under two names counts once", policy: sameKeyTwoNames,
			img:  image(keySig("keys/vendor.pub", "0123", dIndex), keySig("keys/vendor-copy.pub", "0123", dIndex)),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"1 of 2 required signers"}},
		{name: "two keys", policy: sameKeyTwoNames,
			img:  image(keySig("keys/vendor.pub", "0123", dIndex), keySig("keys/vendor-copy.pub", "4567", dIndex)),
			want: sig, verdict: VerdictPass, reasonHas: []string{"2 of 2 required signers"}},
	})
}

func TestEvaluatePlatforms(t *testing.T) {
	all := strings.Replace(ghPolicy, "    signers:", "    platforms: all\n    signers:", 1)
	sig := map[string]bool{"acme/signatures": true}
	noSig := map[string]bool{"acme/signatures": false}
	s := func(d ...string) Finding { return keylessSig(ghWorkflow, ghIssuer, d...) }
	runEvalCases(t, []evalCase{
		{name: "all: one platform unsigned", policy: all, img: multiArch(s(dIndex), s(dAMD64)),
			want: noSig, verdict: VerdictPolicyFailed,
			reasonHas:   []string{"linux/arm64 (" + dARM64 + ") 0 of 1 required signers: none", "linux/amd64 (" + dAMD64 + ") 1 of 1"},
			reasonLacks: []string{"unknown/unknown"}},
		{name: "all: index signature does not count for platforms", policy: all, img: multiArch(s(dIndex)),
			want: noSig, verdict: VerdictPolicyFailed},
		{name: "all: every platform signed", policy: all, img: multiArch(s(dAMD64), s(dARM64)),
			want: sig, verdict: VerdictPass, reasonHas: []string{"platforms: all"}},
		{name: "all: a signature covering both platforms", policy: all, img: multiArch(s(dAMD64, dARM64)),
			want: sig, verdict: VerdictPass},
		{name: "all: single-platform image needs its own digest", policy: all, img: image(s(dIndex)),
			want: sig, verdict: VerdictPass},
		{name: "default: index signature satisfies", policy: ghPolicy, img: multiArch(s(dIndex)),
			want: sig, verdict: VerdictPass},
		{name: "default: every platform signed satisfies", policy: ghPolicy, img: multiArch(s(dAMD64), s(dARM64)),
			want: sig, verdict: VerdictPass, reasonHas: []string{"every platform manifest must be covered"}},
		{name: "default: one platform signed is not enough", policy: ghPolicy, img: multiArch(s(dAMD64)),
			want: noSig, verdict: VerdictPolicyFailed, reasonHas: []string{"linux/arm64 (" + dARM64 + ") 0 of 1"}},
	})
}

func TestEvaluateAttestations(t *testing.T) {
	gh := Signer{Identity: ghWorkflow, Issuer: ghIssuer}
	const pol = header + `rules:
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
          predicate.runDetails.builder.id.startsWith("https://github.com/actions/runner") &&
          has(subject.digest)
      - name: sbom
        predicateType: https://spdx.dev/Document
        signers:
          - key: keys/scanner.pub
`
	const evalErrPol = header + `rules:
  - name: acme
    images: ["registry.example.com/**"]
    signers: [{key: keys/scanner.pub}]
    attestations:
      - name: provenance
        predicateType: https://slsa.dev/provenance/v1
        signers: [{issuer: https://token.actions.githubusercontent.com, subjectRegExp: '.*'}]
        condition: predicate.runDetails.nosuchfield.id == "x"
`
	sig := keylessSig(ghWorkflow, ghIssuer, dIndex)
	good := attestation(t, slsaV1, slsaPredicate("https://github.com/acme/app", "https://github.com/actions/runner/github-hosted"), gh, dIndex)
	forked := attestation(t, slsaV1, slsaPredicate("https://github.com/evil/app", "https://github.com/actions/runner/github-hosted"), gh, dIndex)
	sbom := attestation(t, "https://spdx.dev/Document", map[string]any{"spdxVersion": "SPDX-2.3"}, Signer{Key: "keys/scanner.pub", KeyID: "abcd"}, dIndex)
	sbom.TLog = nil
	sbomWrongKey := sbom
	sbomWrongKey.Signer = &Signer{Key: "keys/other.pub", KeyID: "ffff"}
	unverified := good
	unverified.Status, unverified.Reason, unverified.Statement = StatusFailed, "DSSE signature does not verify", nil
	otherImage := attestation(t, slsaV1, slsaPredicate("https://github.com/acme/app", "https://github.com/actions/runner/github-hosted"), gh, dOther)
	buildkit := Finding{Kind: artifact.KindBuildKitAttestation, Manifest: dOther, Subject: dAMD64, Status: StatusUnsigned,
		PredicateType: slsaV1, Covers: []string{dIndex}, Reason: "unsigned BuildKit statement",
		Statement: statement(t, slsaV1, slsaPredicate("https://github.com/acme/app", "https://github.com/actions/runner"), dIndex)}
	noStatement := good
	noStatement.Statement = nil
	platAMD := attestation(t, slsaV1, slsaPredicate("https://github.com/acme/app", "https://github.com/actions/runner/x"), gh, dAMD64)
	platARM := attestation(t, slsaV1, slsaPredicate("https://github.com/acme/app", "https://github.com/actions/runner/x"), gh, dARM64)

	ok3 := map[string]bool{"acme/signatures": true, "acme/attestation provenance": true, "acme/attestation sbom": true}
	provFails := map[string]bool{"acme/signatures": true, "acme/attestation provenance": false, "acme/attestation sbom": true}
	sbomFails := map[string]bool{"acme/signatures": true, "acme/attestation provenance": true, "acme/attestation sbom": false}
	runEvalCases(t, []evalCase{
		{name: "signed provenance with condition true and an SBOM", policy: pol, img: image(sig, good, sbom),
			want: ok3, verdict: VerdictPass,
			reasonHas: []string{"verified https://slsa.dev/provenance/v1 attestation signed by " + ghWorkflow, "with condition true",
				"verified https://spdx.dev/Document attestation signed by key keys/scanner.pub"}},
		{name: "CEL condition false", policy: pol, img: image(sig, forked, sbom),
			want: provFails, verdict: VerdictPolicyFailed,
			reasonHas: []string{"no verified attestation of type https://slsa.dev/provenance/v1 signed by keyless subject",
				"1 found, not counted: condition is false for " + dIndex}},
		{name: "CEL evaluation error is not satisfied, with the error", policy: evalErrPol,
			img:  image(keySig("keys/scanner.pub", "abcd", dIndex), good),
			want: map[string]bool{"acme/signatures": true, "acme/attestation provenance": false}, verdict: VerdictPolicyFailed,
			reasonHas: []string{"condition could not be evaluated for " + dIndex, "no such key: nosuchfield"}},
		{name: "attestation present but unverified", policy: pol, img: image(sig, unverified, sbom),
			want: provFails, verdict: VerdictPolicyFailed,
			reasonHas: []string{"1 found, not counted: cosign-attestation", "is failed: DSSE signature does not verify"}},
		{name: "attestation signed by someone else", policy: pol, img: image(sig, good, sbomWrongKey),
			want: sbomFails, verdict: VerdictPolicyFailed,
			reasonHas: []string{"no verified attestation of type https://spdx.dev/Document signed by key keys/scanner.pub",
				"1 found, not counted: its signer was key keys/other.pub (keyid ffff), not an allowed signer"}},
		{name: "attestation of another image", policy: pol, img: image(sig, otherImage, sbom),
			want: provFails, verdict: VerdictPolicyFailed, reasonHas: []string{"it covers " + dOther + ", not this image"}},
		{name: "missing SBOM", policy: pol, img: image(sig, good),
			want: sbomFails, verdict: VerdictPolicyFailed,
			reasonHas: []string{"no attestation of that type was found (other types present: https://slsa.dev/provenance/v1)"}},
		{name: "unsigned BuildKit provenance does not satisfy", policy: pol, img: image(sig, buildkit, sbom),
			want: provFails, verdict: VerdictPolicyFailed, reasonHas: []string{"is unsigned and the image index sha256:aaaaaaaaaaaa does not list it as an attestation manifest"}},
		{name: "verified attestation without statement cannot satisfy a condition", policy: pol, img: image(sig, noStatement, sbom),
			want: provFails, verdict: VerdictPolicyFailed, reasonHas: []string{"carries no statement"}},
		{name: "per-platform provenance covers every platform", policy: pol, img: multiArch(sig, platAMD, platARM, sbom),
			want: ok3, verdict: VerdictPass, reasonHas: []string{"every platform manifest has a verified https://slsa.dev/provenance/v1"}},
		{name: "provenance of one platform only is not enough", policy: pol, img: multiArch(sig, platAMD, sbom),
			want: provFails, verdict: VerdictPolicyFailed, reasonHas: []string{"missing: linux/arm64 (" + dARM64 + ")"}},
		{name: "platforms all needs provenance per platform", policy: strings.Replace(pol, "    signers:\n      - issuer", "    platforms: all\n    signers:\n      - issuer", 1),
			img:     multiArch(keylessSig(ghWorkflow, ghIssuer, dAMD64, dARM64), good, platAMD, sbom),
			want:    map[string]bool{"acme/signatures": true, "acme/attestation provenance": false, "acme/attestation sbom": false},
			verdict: VerdictPolicyFailed, reasonHas: []string{"platforms: all: no verified https://slsa.dev/provenance/v1 attestation",
				"for linux/arm64 (" + dARM64 + ")", "1 found, but they do not cover every platform manifest"}},
	})
}

func TestEvaluateMatching(t *testing.T) {
	const two = header + `rules:
  - name: team
    images: ["registry.example.com/team/**"]
    signers: [{key: keys/team.pub}]
  - name: nginx
    images: ["docker.io/library/nginx:1.*", "registry.example.com/team/app@sha256:*"]
    signers: [{key: keys/vendor.pub}]
`
	team := keySig("keys/team.pub", "1111", dIndex)
	vendor := keySig("keys/vendor.pub", "2222", dIndex)
	nginx := func(ref string, f ...Finding) ImageInput {
		return ImageInput{Reference: ref, Digest: dIndex, Findings: f}
	}
	runEvalCases(t, []evalCase{
		{name: "every matching rule applies: both satisfied", policy: two,
			img:  ImageInput{Reference: "registry.example.com/team/app@" + dIndex, Digest: dIndex, Findings: []Finding{team, vendor}},
			want: map[string]bool{"team/signatures": true, "nginx/signatures": true}, verdict: VerdictPass},
		{name: "every matching rule applies: one unsatisfied fails the image", policy: two,
			img:  ImageInput{Reference: "registry.example.com/team/app@" + dIndex, Digest: dIndex, Findings: []Finding{team}},
			want: map[string]bool{"team/signatures": true, "nginx/signatures": false}, verdict: VerdictPolicyFailed},
		{name: "a Name that carries the tag still matches", policy: two,
			img:  ImageInput{Reference: "docker.io/library/nginx:1.27", Name: "docker.io/library/nginx:1.27", Digest: dIndex, Findings: []Finding{vendor}},
			want: map[string]bool{"nginx/signatures": true}, verdict: VerdictPass},
		{name: "tag from Name when the reference is by digest", policy: two,
			img:  ImageInput{Reference: "docker.io/library/nginx@" + dIndex, Name: "docker.io/library/nginx:1.27", Digest: dIndex, Findings: []Finding{vendor}},
			want: map[string]bool{"nginx/signatures": true}, verdict: VerdictPass},
		{name: "tag glob", policy: two, img: nginx("docker.io/library/nginx:1.27", vendor),
			want: map[string]bool{"nginx/signatures": true}, verdict: VerdictPass},
		{name: "index.docker.io is docker.io", policy: two, img: nginx("index.docker.io/library/nginx:1.27", vendor),
			want: map[string]bool{"nginx/signatures": true}, verdict: VerdictPass},
		{name: "tag that does not match is not covered: refused", policy: two, img: nginx("docker.io/library/nginx:latest", vendor),
			want: map[string]bool{"defaultAction/default-action": false}, verdict: VerdictPolicyFailed,
			reasonHas: []string{"no policy rule matches docker.io/library/nginx:latest; refused (defaultAction: refuse)"}},
		{name: "image no rule covers is refused", policy: two, img: nginx("quay.io/other/thing:v1", vendor),
			want: map[string]bool{"defaultAction/default-action": false}, verdict: VerdictPolicyFailed,
			reasonHas: []string{"no policy rule matches quay.io/other/thing:v1"}},
		{name: "image no rule covers is allowed with defaultAction allow", policy: two + "defaultAction: allow\n",
			img:  nginx("quay.io/other/thing:v1"),
			want: map[string]bool{"defaultAction/default-action": true}, verdict: VerdictAllowedByDefault,
			reasonHas: []string{"allowed UNVERIFIED because defaultAction is allow"}},
		{name: "defaultAction allow does not soften a matching rule", policy: two + "defaultAction: allow\n",
			img:  nginx("docker.io/library/nginx:1.27"),
			want: map[string]bool{"nginx/signatures": false}, verdict: VerdictPolicyFailed},
	})
}

func TestEvaluateAllowedByDefaultWarns(t *testing.T) {
	p := mustPolicy(t, header+"defaultAction: allow\n")
	res := p.Evaluate(ImageInput{Reference: "quay.io/x/y:1", Digest: dIndex})
	if res.Verdict != VerdictAllowedByDefault || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "without verification") {
		t.Fatalf("verdict %q warnings %q", res.Verdict, res.Warnings)
	}
}

func TestEvaluateUnloadedPolicyRefuses(t *testing.T) {
	for _, p := range []*Policy{nil, {DefaultAction: ActionAllow}} {
		res := p.Evaluate(image(keylessSig(ghWorkflow, ghIssuer, dIndex)))
		if res.Verdict != VerdictPolicyFailed {
			t.Errorf("verdict %q for an unloaded policy, want %q", res.Verdict, VerdictPolicyFailed)
		}
	}
}

// TestEvaluateConcurrent backs the claim that a Policy is safe for
// concurrent use (run with -race).
func TestEvaluateConcurrent(t *testing.T) {
	p := mustPolicy(t, ghPolicy+`    attestations:
      - name: provenance
        predicateType: https://slsa.dev/provenance/v1
        condition: predicate.runDetails.builder.id.startsWith("https://github.com/actions/runner")
`)
	gh := Signer{Identity: ghWorkflow, Issuer: ghIssuer}
	in := multiArch(keylessSig(ghWorkflow, ghIssuer, dIndex),
		attestation(t, slsaV1, slsaPredicate("https://github.com/acme/app", "https://github.com/actions/runner/x"), gh, dAMD64, dARM64))
	want := p.Evaluate(in)
	if want.Verdict != VerdictPass {
		t.Fatalf("verdict %q: %+v", want.Verdict, want.Rules)
	}
	done := make(chan ImageResult)
	for range 8 {
		go func() { done <- p.Evaluate(in) }()
	}
	for range 8 {
		got := <-done
		if got.Verdict != want.Verdict || len(got.Rules) != len(want.Rules) || got.Rules[1].Reason != want.Rules[1].Reason {
			t.Errorf("concurrent evaluation differs: %+v", got.Rules)
		}
	}
}
