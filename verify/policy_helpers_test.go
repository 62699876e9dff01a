package verify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/airlock-oci/airlock/artifact"
)

// Digests used across the policy and report tests.
var (
	dIndex = "sha256:" + strings.Repeat("a", 64)
	dAMD64 = "sha256:" + strings.Repeat("b", 64)
	dARM64 = "sha256:" + strings.Repeat("c", 64)
	dOther = "sha256:" + strings.Repeat("d", 64)
	dSigM  = "sha256:" + strings.Repeat("e", 64)
)

const (
	ghIssuer   = "https://token.actions.githubusercontent.com"
	ghWorkflow = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"
	googleIss  = "https://accounts.google.com"
)

func mustPolicy(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatalf("ParsePolicy: %v\n%s", err, doc)
	}
	return p
}

func tlogProof() []TLogProof {
	return []TLogProof{{
		LogID:          "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d",
		LogIndex:       42,
		IntegratedTime: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Proof:          "set",
		EntryKind:      "hashedrekord 0.0.1",
	}}
}

// keylessSig is a verified keyless cosign signature covering digests.
func keylessSig(subject, issuer string, covers ...string) Finding {
	return Finding{
		Kind: artifact.KindCosignSignature, Manifest: dSigM, Subject: covers[0], Status: StatusVerified,
		Signer: &Signer{Identity: subject, Issuer: issuer}, Covers: covers, TLog: tlogProof(),
		TrustMaterial: []string{"tuf:sigstore"},
	}
}

// keySig is a verified key signature without a transparency log entry.
func keySig(name, keyID string, covers ...string) Finding {
	return Finding{
		Kind: artifact.KindCosignSignature, Manifest: dSigM, Subject: covers[0], Status: StatusVerified,
		Signer: &Signer{Key: name, KeyID: keyID}, Covers: covers,
		Reason:        "no transparency log vouches for this signature",
		TrustMaterial: []string{"key:" + name},
	}
}

// statement builds an in-toto v1 statement JSON.
func statement(t testing.TB, predicateType string, predicate any, subjects ...string) []byte {
	t.Helper()
	var subj []map[string]any
	for _, s := range subjects {
		alg, hex, _ := strings.Cut(s, ":")
		subj = append(subj, map[string]any{"name": "registry.example.com/team/app", "digest": map[string]string{alg: hex}})
	}
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       subj,
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attestation is a verified keyless attestation (legacy .att) covering digests.
func attestation(t testing.TB, predicateType string, predicate any, signer Signer, covers ...string) Finding {
	return Finding{
		Kind: artifact.KindCosignAttestation, Manifest: dSigM, Subject: covers[0], Status: StatusVerified,
		Signer: &signer, Covers: covers, PredicateType: predicateType,
		Statement: statement(t, predicateType, predicate, covers...), TLog: tlogProof(),
		TrustMaterial: []string{"tuf:sigstore"},
	}
}

const slsaV1 = "https://slsa.dev/provenance/v1"

func slsaPredicate(repo, builder string) map[string]any {
	return map[string]any{
		"buildDefinition": map[string]any{
			"buildType": "https://actions.github.io/buildtypes/workflow/v1",
			"externalParameters": map[string]any{
				"workflow": map[string]any{"repository": repo, "path": ".github/workflows/release.yml", "ref": "refs/tags/v1.2.3"},
			},
		},
		"runDetails": map[string]any{"builder": map[string]any{"id": builder}},
	}
}

// byRequirement indexes rule results by "rule/requirement".
func byRequirement(res ImageResult) map[string]RuleResult {
	m := map[string]RuleResult{}
	for _, r := range res.Rules {
		m[r.Name+"/"+r.Requirement] = r
	}
	return m
}
