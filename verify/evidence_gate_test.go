package verify

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/internal/sign"
)

// Issue 8, "Also found in evidence evaluation": one test per finding.

// A DSSE statement without a predicateType is neither an attestation nor a
// signature: Check refuses it, and the policy never counts such a bundle as
// a signature even if something reported it verified.
func TestStatementWithoutPredicateTypeIsNoSignature(t *testing.T) {
	e := newEnv(t)
	keyless := sign.NewKeyless(e.vs, testIdentity, testIssuer)
	st := ok(sign.Statement(testRepo, testDigest, "", map[string]any{}))
	a := ok(keyless.AttestationBundle(st))
	ev := layerEvidence(artifact.KindSigstoreBundle, testDigest, a.Layers[0])
	f := Check(ev, e.tm, Options{})
	if f.Status == StatusVerified || !strings.Contains(f.Reason, "no predicateType") {
		t.Fatalf("statement without predicateType: %s %q, want failed \"no predicateType\"", f.Status, f.Reason)
	}
	if !errors.Is(errFromReason(f.Reason), ErrMalformedEvidence) {
		t.Errorf("reason %q does not start with %v", f.Reason, ErrMalformedEvidence)
	}

	p := mustPolicy(t, header+`rules:
  - name: team
    images: ["**"]
    signers: [{issuer: "`+testIssuer+`", subject: "`+testIdentity+`"}]
`)
	img := ImageInput{Reference: testRepo + ":1", Digest: testDigest, Findings: []Finding{f}}
	if res := p.Evaluate(img); res.Verdict == VerdictPass {
		t.Fatalf("a failed untyped statement passed: %+v", res.Rules)
	}
	// Defence in depth: even a verified DSSE finding with a statement but
	// no predicate type is not a signature.
	forged := Finding{Kind: artifact.KindSigstoreBundle, Manifest: dSigM, Subject: testDigest, Status: StatusVerified,
		Signer: &Signer{Identity: testIdentity, Issuer: testIssuer}, Covers: []string{testDigest}, TLog: tlogProof(),
		Statement: st}
	img.Findings = []Finding{forged}
	if res := p.Evaluate(img); res.Verdict == VerdictPass {
		t.Fatalf("a DSSE statement without predicateType counted as a signature: %+v", res.Rules)
	}
	// A plain message signature (no statement) still is one.
	msg := forged
	msg.Statement = nil
	img.Findings = []Finding{msg}
	if res := p.Evaluate(img); res.Verdict != VerdictPass {
		t.Fatalf("a message signature did not count: %+v", res.Rules)
	}
}

// errFromReason maps a Reason back to the most specific sentinel it starts
// with (reasons are built as "%w: ...").
func errFromReason(reason string) error {
	for _, e := range []error{ErrFutureTime, ErrSignature, ErrMalformedEvidence, ErrNoTrust, ErrSubjectMismatch} {
		if strings.HasPrefix(reason, e.Error()) {
			return e
		}
	}
	return nil
}

// Log entries and timestamps dated after the verification time (plus
// MaxClockSkew) fail; the same evidence judged later verifies.
func TestFutureTimesRefused(t *testing.T) {
	e := newEnv(t)
	keyless := sign.NewKeyless(e.vs, testIdentity, testIssuer)
	now := time.Now()
	// The leaf is valid for ten minutes: a log time five minutes ahead is
	// inside it, so only the clock check can refuse it.
	ahead := layerEvidence(artifact.KindCosignSignature, testDigest, ok(keyless.CosignSignature(testRepo, testDigest, sign.WithIntegratedTime(now.Add(5*time.Minute).Truncate(time.Second)))))
	f := Check(ahead, e.tm, Options{Now: now})
	if f.Status != StatusFailed || errFromReason(f.Reason) != ErrFutureTime || !strings.Contains(f.Reason, "integrated at") {
		t.Fatalf("log entry 5m ahead: %s %q, want %v", f.Status, f.Reason, ErrFutureTime)
	}
	if f := Check(ahead, e.tm, Options{Now: now.Add(4 * time.Minute)}); f.Status != StatusVerified {
		t.Fatalf("within MaxClockSkew: %s %q, want verified", f.Status, f.Reason)
	}
	// The same holds through CheckBundle, for its integrated time and its
	// RFC 3161 timestamp (made now; judged as of ten minutes ago).
	b := ok(keyless.BundleSignature([]byte("artifact")))
	if f := CheckBundle(b, Artifact{Bytes: []byte("artifact")}, e.tm, Options{Now: now.Add(-10 * time.Minute)}); f.Status != StatusFailed || errFromReason(f.Reason) != ErrFutureTime {
		t.Fatalf("bundle judged before it was made: %s %q, want %v", f.Status, f.Reason, ErrFutureTime)
	}
	if f := CheckBundle(b, Artifact{Bytes: []byte("artifact")}, e.tm, Options{Now: now.Add(time.Minute)}); f.Status != StatusVerified {
		t.Fatalf("bundle judged after it was made: %s %q", f.Status, f.Reason)
	}
	// An RFC 3161 time alone (key signature, no log).
	keyTSA := layerEvidence(artifact.KindCosignSignature, testDigest, ok(sign.NewKey(e.key, e.vs).CosignSignature(testRepo, testDigest, sign.WithoutTLog(), sign.WithTimestamp())))
	if f := Check(keyTSA, e.tm, Options{Now: now.Add(-10 * time.Minute)}); f.Status != StatusFailed || !strings.Contains(f.Reason, "rfc3161 time") {
		t.Fatalf("RFC 3161 time ahead: %s %q", f.Status, f.Reason)
	}
	// The fixtures' default times are sane: signed now, judged now.
	if f := Check(layerEvidence(artifact.KindCosignSignature, testDigest, ok(keyless.CosignSignature(testRepo, testDigest))), e.tm, Options{}); f.Status != StatusVerified {
		t.Fatalf("default fixture time: %s %q", f.Status, f.Reason)
	}
}

// One key loaded under two file names is one signer, matched by key id
// whichever name the policy uses, and counted once.
func TestKeyUnderTwoNames(t *testing.T) {
	e := newEnv(t)
	tm := &TrustMaterial{Sources: e.tm.Sources, Keys: []Key{
		{Name: "keys/a.pub", Public: &e.key.PublicKey},
		{Name: "keys/b.pub", Public: &e.key.PublicKey},
		{Name: "keys/other.pub", Public: &e.otherKey.PublicKey},
	}}
	kid := ok(keyID(&e.key.PublicKey))
	signer := sign.NewKey(e.key, nil)
	evs := []Evidence{
		layerEvidence(artifact.KindCosignSignature, testDigest, ok(signer.CosignSignature(testRepo, testDigest))),
		layerEvidence(artifact.KindCosignSignature, testDigest, ok(sign.NewKey(e.key, e.vs).CosignSignature(testRepo, testDigest))),
		layerEvidence(artifact.KindCosignAttestation, testDigest, ok(sign.NewKey(e.key, e.vs).CosignAttestation(ok(sign.Statement(testRepo, testDigest, sign.PredicateSPDX, sign.SPDXDocument("app"))), sign.WithIntotoEntry()))),
	}
	for i, ev := range evs {
		f := Check(ev, tm, Options{})
		if f.Status != StatusVerified || f.Signer.KeyID != kid || strings.Join(f.Signer.Keys, ",") != "keys/a.pub,keys/b.pub" {
			t.Fatalf("evidence %d: %s %q signer %+v, want key id %s under both names", i, f.Status, f.Reason, f.Signer, kid)
		}
		for _, name := range []string{"keys/a.pub", "keys/b.pub"} {
			p := mustPolicy(t, header+"rules:\n  - name: r\n    images: [\"**\"]\n    signers: [{key: "+name+"}]\n")
			res := p.Evaluate(ImageInput{Reference: testRepo + ":1", Digest: testDigest, Findings: []Finding{f}})
			if res.Verdict != VerdictPass && ev.Kind == artifact.KindCosignSignature {
				t.Errorf("evidence %d, policy naming %s: %s %+v", i, name, res.Verdict, res.Rules)
			}
		}
	}
	// Counted by key id: two names of one key are one signer.
	f := Check(evs[0], tm, Options{})
	p := mustPolicy(t, header+"rules:\n  - name: r\n    images: [\"**\"]\n    threshold: 2\n    signers: [{key: keys/a.pub}, {key: keys/b.pub}]\n")
	res := p.Evaluate(ImageInput{Reference: testRepo + ":1", Digest: testDigest, Findings: []Finding{f, f}})
	if res.Verdict == VerdictPass {
		t.Fatalf("one key under two names met a threshold of 2: %+v", res.Rules)
	}
	if !strings.Contains(res.Rules[0].Reason, "1 of 2 required signers") {
		t.Errorf("reason %q", res.Rules[0].Reason)
	}
	// The other key is not matched by either name.
	if got := Check(layerEvidence(artifact.KindCosignSignature, testDigest, ok(sign.NewKey(e.otherKey, nil).CosignSignature(testRepo, testDigest))), tm, Options{}); got.Signer == nil || got.Signer.Key != "keys/other.pub" || len(got.Signer.Keys) != 0 {
		t.Fatalf("other key: %+v", got.Signer)
	}
}

// A key signature or attestation whose only observer is an RFC 3161
// timestamp (cosign --tlog-upload=false --timestamp-server-url) verifies
// against the operator's trusted timestamp authorities, and fails when none
// of them made it.
func TestKeySignedWithOnlyTimestamp(t *testing.T) {
	e := newEnv(t)
	key := sign.NewKey(e.key, e.vs) // e.vs is the TSA
	slsa := ok(sign.Statement(testRepo, testDigest, sign.PredicateSLSAProvenanceV1, sign.SLSAProvenance("https://builder.example/gh", "https://github.com/example/app")))
	sigEv := layerEvidence(artifact.KindCosignSignature, testDigest, ok(key.CosignSignature(testRepo, testDigest, sign.WithoutTLog(), sign.WithTimestamp())))
	attEv := layerEvidence(artifact.KindCosignAttestation, testDigest, ok(key.CosignAttestation(slsa, sign.WithoutTLog(), sign.WithTimestamp())))
	bundle := layerEvidence(artifact.KindSigstoreBundle, testDigest, ok(key.AttestationBundle(slsa, sign.WithoutTLog())).Layers[0])

	other := ok(ca.NewVirtualSigstore())
	otherTM := &TrustMaterial{Sources: []TrustSource{{Name: "file:other-tsa.json", Root: ok(root.NewTrustedRootFromJSON(ok(sign.TrustedRootJSON(other))))}}, Keys: e.tm.Keys}
	keysOnly := &TrustMaterial{Keys: e.tm.Keys}

	for _, tc := range []struct {
		name string
		ev   Evidence
	}{{"legacy signature", sigEv}, {"legacy attestation", attEv}, {"bundle attestation", bundle}} {
		t.Run(tc.name, func(t *testing.T) {
			f := Check(tc.ev, e.tm, Options{})
			if f.Status != StatusVerified {
				t.Fatalf("%s %q, want verified", f.Status, f.Reason)
			}
			if len(f.Timestamps) != 1 || f.Timestamps[0].Kind != "rfc3161" || len(f.TLog) != 0 {
				t.Fatalf("timestamps %+v tlog %+v, want one rfc3161 and no log", f.Timestamps, f.TLog)
			}
			if f.Signer.Key != "cosign.pub" || !contains(f.TrustMaterial, "file:virtual-root.json") {
				t.Fatalf("signer %+v trust %v", f.Signer, f.TrustMaterial)
			}
			if strings.Contains(f.Reason, "no timestamp dates it") {
				t.Errorf("reason %q denies the timestamp it relied on", f.Reason)
			}
			if g := Check(tc.ev, otherTM, Options{}); g.Status == StatusVerified {
				t.Fatalf("verified against a TSA that did not make the timestamp")
			}
			if g := Check(tc.ev, keysOnly, Options{}); g.Status == StatusVerified {
				t.Fatalf("verified with no trusted timestamp authority at all")
			}
			// timestamp: required is met by it.
			p := mustPolicy(t, header+"rules:\n  - name: r\n    images: [\"**\"]\n    threshold: 0\n    timestamp: required\n    signers: [{key: cosign.pub}]\n    attestations: [{predicateType: "+sign.PredicateSLSAProvenanceV1+"}]\n")
			if tc.ev.Kind == artifact.KindCosignSignature {
				p = mustPolicy(t, header+"rules:\n  - name: r\n    images: [\"**\"]\n    timestamp: required\n    signers: [{key: cosign.pub}]\n")
			}
			if res := p.Evaluate(ImageInput{Reference: testRepo + ":1", Digest: testDigest, Findings: []Finding{f}}); res.Verdict != VerdictPass {
				t.Fatalf("policy: %s %+v", res.Verdict, res.Rules)
			}
		})
	}
}

// An attestation of the required type that failed verification is named
// under "not counted" with the reason it failed.
func TestFailedAttestationListedAsNotCounted(t *testing.T) {
	e := newEnv(t)
	slsa := ok(sign.Statement(testRepo, testDigest, sign.PredicateSLSAProvenanceV1, sign.SLSAProvenance("https://builder.example/gh", "https://github.com/example/app")))
	wrongKey := layerEvidence(artifact.KindCosignAttestation, testDigest, ok(sign.NewKey(e.otherKey, e.vs).CosignAttestation(slsa)))
	bundleWrongKey := layerEvidence(artifact.KindSigstoreBundle, testDigest, ok(sign.NewKey(e.otherKey, e.vs).AttestationBundle(slsa)).Layers[0])
	garbled := wrongKey
	garbled.Data = []byte("{not json")
	p := mustPolicy(t, header+`rules:
  - name: r
    images: ["**"]
    signers: [{key: cosign.pub}]
    attestations: [{name: provenance, predicateType: `+sign.PredicateSLSAProvenanceV1+`}]
`)
	for _, tc := range []struct {
		name string
		ev   Evidence
		why  string
	}{
		{"legacy attestation by an untrusted key", wrongKey, "verification failed"},
		{"bundle attestation by an untrusted key", bundleWrongKey, "verification failed"},
		{"unparseable envelope, type from its annotation", garbled, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Check(tc.ev, e.tm, Options{})
			if f.Status != StatusFailed || f.PredicateType != sign.PredicateSLSAProvenanceV1 {
				t.Fatalf("%s predicate %q: %q", f.Status, f.PredicateType, f.Reason)
			}
			res := p.Evaluate(ImageInput{Reference: testRepo + ":1", Digest: testDigest, Findings: []Finding{f}})
			rr := byRequirement(res)["r/attestation provenance"]
			if rr.Satisfied {
				t.Fatal("a failed attestation satisfied the requirement")
			}
			if !strings.Contains(rr.Reason, "1 found, not counted: "+string(tc.ev.Kind)) || !strings.Contains(rr.Reason, "is failed: evidence: "+tc.why) {
				t.Fatalf("reason %q does not list the failed attestation and why", rr.Reason)
			}
		})
	}
}
