package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/internal/sign"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
)

const (
	testRepo     = "registry.example/team/app"
	testIdentity = "builder@example.com"
	testIssuer   = "https://issuer.example"
)

var (
	testDigest  = digestOf("image manifest")
	otherDigest = digestOf("another image")
)

func digestOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

// testEnv is one VirtualSigstore, its trusted root as an operator would
// load it (JSON round trip), and two ECDSA keys.
type testEnv struct {
	vs       *ca.VirtualSigstore
	rootJSON []byte
	tm       *TrustMaterial
	key      *ecdsa.PrivateKey
	otherKey *ecdsa.PrivateKey
	v2log    *sign.RekorV2Log
	tmV2     *TrustMaterial // tm plus the Rekor v2 log
}

var (
	envOnce sync.Once
	envVal  *testEnv
	envErr  error
)

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	envOnce.Do(func() {
		e := &testEnv{}
		if e.vs, envErr = ca.NewVirtualSigstore(); envErr != nil {
			return
		}
		if e.rootJSON, envErr = sign.TrustedRootJSON(e.vs); envErr != nil {
			return
		}
		var tr *root.TrustedRoot
		if tr, envErr = root.NewTrustedRootFromJSON(e.rootJSON); envErr != nil {
			return
		}
		if e.key, envErr = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); envErr != nil {
			return
		}
		if e.otherKey, envErr = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); envErr != nil {
			return
		}
		e.tm = &TrustMaterial{
			Sources: []TrustSource{{Name: "file:virtual-root.json", Root: tr}},
			Keys:    []Key{{Name: "cosign.pub", Public: &e.key.PublicKey}},
		}
		if e.v2log, envErr = sign.NewRekorV2Log("https://log2026.rekor.localhost"); envErr != nil {
			return
		}
		var tr2 *root.TrustedRoot
		if tr2, envErr = root.NewTrustedRootFromJSON(ok(sign.TrustedRootJSON(e.vs, e.v2log))); envErr != nil {
			return
		}
		e.tmV2 = &TrustMaterial{Sources: []TrustSource{{Name: "file:virtual-root-v2.json", Root: tr2}}, Keys: e.tm.Keys}
		envVal = e
	})
	if envErr != nil {
		t.Fatalf("test environment: %v", envErr)
	}
	return envVal
}

// ok unwraps fixture constructors; a fixture that cannot be built is a
// broken test, so it panics (the test fails with the error).
func ok[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func layerEvidence(kind Kind, subject string, l sign.Layer) Evidence {
	return Evidence{Kind: kind, Manifest: digestOf("sig manifest"), Subject: subject, MediaType: l.MediaType, Annotations: maps.Clone(l.Annotations), Data: l.Data}
}

// trustWithoutLogs is the same Fulcio and TSA without any Rekor log.
func trustWithoutLogs(t *testing.T, e *testEnv) *TrustMaterial {
	var m map[string]any
	if err := json.Unmarshal(e.rootJSON, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "tlogs")
	b := ok(json.Marshal(m))
	tr := ok(root.NewTrustedRootFromJSON(b))
	return &TrustMaterial{Sources: []TrustSource{{Name: "file:no-logs.json", Root: tr}}}
}

func mutateAnnotation(t *testing.T, ev Evidence, key string, fn func(map[string]any)) Evidence {
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.Annotations[key]), &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	ev.Annotations[key] = string(ok(json.Marshal(m)))
	return ev
}

func editBundle(t *testing.T, b []byte, fn func(map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	return ok(json.Marshal(m))
}

func tlogEntry(m map[string]any) map[string]any {
	return m["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
}

func flipB64(t *testing.T, s string) string {
	b := ok(base64.StdEncoding.DecodeString(s))
	b[len(b)/2] ^= 0x01
	return base64.StdEncoding.EncodeToString(b)
}

func TestCheck(t *testing.T) {
	e := newEnv(t)
	keyless := sign.NewKeyless(e.vs, testIdentity, testIssuer)
	mallory := sign.NewKeyless(e.vs, "mallory@example.com", testIssuer)
	keyLogged := sign.NewKey(e.key, e.vs)
	keyNoLog := sign.NewKey(e.key, nil)
	otherKey := sign.NewKey(e.otherKey, e.vs)

	slsa := ok(sign.Statement(testRepo, testDigest, sign.PredicateSLSAProvenanceV1, sign.SLSAProvenance("https://builder.example/gh", "https://github.com/example/app")))
	slsaOther := ok(sign.Statement(testRepo, otherDigest, sign.PredicateSLSAProvenanceV1, sign.SLSAProvenance("https://builder.example/gh", "https://github.com/example/app")))
	spdx := ok(sign.Statement(testRepo, testDigest, sign.PredicateSPDX, sign.SPDXDocument("app", "openssl", "zlib")))

	sig := func(s *sign.Signer, digest string, o ...sign.Option) Evidence {
		return layerEvidence(artifact.KindCosignSignature, testDigest, ok(s.CosignSignature(testRepo, digest, o...)))
	}
	att := func(s *sign.Signer, st []byte, o ...sign.Option) Evidence {
		return layerEvidence(artifact.KindCosignAttestation, testDigest, ok(s.CosignAttestation(st, o...)))
	}
	bundleEv := func(a sign.Artifact, subject string) Evidence {
		ev := layerEvidence(artifact.KindSigstoreBundle, subject, a.Layers[0])
		ev.ArtifactType = a.ArtifactType
		return ev
	}
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)

	tamperedPayload := sig(keyless, testDigest)
	tamperedPayload.Data = sign.SimpleSigningPayload("registry.example/evil", testDigest)

	setAltered := mutateAnnotation(t, sig(keyless, testDigest), annBundle, func(m map[string]any) {
		m["SignedEntryTimestamp"] = flipB64(t, m["SignedEntryTimestamp"].(string))
	})
	bodyAltered := mutateAnnotation(t, sig(keyless, testDigest), annBundle, func(m map[string]any) {
		p := m["Payload"].(map[string]any)
		p["logIndex"] = 43.0
	})

	attEnvelopeChanged := att(keyless, slsa)
	{
		var env map[string]any
		_ = json.Unmarshal(attEnvelopeChanged.Data, &env)
		env["payload"] = base64.StdEncoding.EncodeToString(spdx) // still names the subject
		attEnvelopeChanged.Data = ok(json.Marshal(env))
	}

	attWrongTS := att(keyless, slsa, sign.WithTimestamp())
	attWrongTS.Annotations[annRFC3161] = att(keyless, spdx, sign.WithTimestamp()).Annotations[annRFC3161]
	// cosign v3 stamps a legacy attestation's signature bytes, not its envelope.
	keyTSA := sign.NewKey(e.key, e.vs)
	attSigTSWrong := att(keyless, slsa, sign.WithTimestampOverSignature())
	attSigTSWrong.Annotations[annRFC3161] = att(keyless, spdx, sign.WithTimestampOverSignature()).Annotations[annRFC3161]
	intotoChanged := att(keyless, slsa, sign.WithIntotoEntry())
	{
		var env map[string]any
		_ = json.Unmarshal(intotoChanged.Data, &env)
		env["payload"] = base64.StdEncoding.EncodeToString(spdx)
		intotoChanged.Data = ok(json.Marshal(env))
	}
	intotoSET := mutateAnnotation(t, att(keyless, slsa, sign.WithIntotoEntry()), annBundle, func(m map[string]any) {
		m["SignedEntryTimestamp"] = flipB64(t, m["SignedEntryTimestamp"].(string))
	})

	v2 := bundleEv(ok(keyless.CosignSignBundle(testRepo, testDigest)), testDigest)
	{
		var m map[string]any
		_ = json.Unmarshal(v2.Data, &m)
		tle := m["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
		tle["kindVersion"] = map[string]any{"kind": "dsse", "version": "0.0.3"}
		v2.Data = ok(json.Marshal(m))
	}

	relabelled := bundleEv(ok(keyless.CosignSignBundle(testRepo, testDigest)), testDigest)
	relabelled.Data = editBundle(t, relabelled.Data, func(m map[string]any) {
		tlogEntry(m)["kindVersion"] = map[string]any{"kind": "dsse", "version": "0.0.2"}
	})
	v2ev := func(s *sign.Signer, st []byte, o ...sign.Option) Evidence {
		return bundleEv(sign.Artifact{ArtifactType: sign.MediaTypeBundleV03, Layers: []sign.Layer{{MediaType: sign.MediaTypeBundleV03, Data: ok(s.BundleAttestationDSSEV2(st, e.v2log, o...))}}}, testDigest)
	}
	v2PayloadChanged := v2ev(keyless, slsa)
	v2PayloadChanged.Data = editBundle(t, v2PayloadChanged.Data, func(m map[string]any) {
		m["dsseEnvelope"].(map[string]any)["payload"] = base64.StdEncoding.EncodeToString(spdx)
	})
	v2CheckpointAltered := v2ev(keyless, slsa)
	v2CheckpointAltered.Data = editBundle(t, v2CheckpointAltered.Data, func(m map[string]any) {
		cp := tlogEntry(m)["inclusionProof"].(map[string]any)["checkpoint"].(map[string]any)
		env := cp["envelope"].(string)
		i := strings.LastIndex(env, " ")
		cp["envelope"] = env[:i+1] + flipB64(t, strings.TrimSpace(env[i+1:])) + "\n"
	})
	v2BodyAltered := v2ev(keyless, slsa)
	v2BodyAltered.Data = editBundle(t, v2BodyAltered.Data, func(m map[string]any) {
		e := tlogEntry(m)
		body := string(ok(base64.StdEncoding.DecodeString(e["canonicalizedBody"].(string))))
		e["canonicalizedBody"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(body, `"kind":"dsse"`, `"kind":"dsse" `, 1)))
	})

	buildkit := Evidence{Kind: artifact.KindBuildKitAttestation, Subject: testDigest, MediaType: "application/vnd.in-toto+json",
		Annotations: map[string]string{annBKPredicate: sign.PredicateSPDX}, Data: spdx}

	noKeys := &TrustMaterial{Sources: e.tm.Sources}
	wrongKeyTM := &TrustMaterial{Sources: e.tm.Sources, Keys: []Key{{Name: "other.pub", Public: &e.otherKey.PublicKey}}}
	second := ok(ca.NewVirtualSigstore())
	secondRoot := ok(root.NewTrustedRootFromJSON(ok(sign.TrustedRootJSON(second))))
	twoSources := &TrustMaterial{Sources: []TrustSource{{Name: "tuf:other", Root: secondRoot}, e.tm.Sources[0]}}

	type want struct {
		status    Status
		reason    string // substring of Reason
		err       error  // sentinel the reason is built from (prefix check)
		identity  string
		key       string
		covers    string
		predicate string
		proof     string
		tsKind    string
		trust     string
		entryKind string
	}
	cases := []struct {
		name string
		ev   Evidence
		tm   *TrustMaterial
		want want
	}{
		{"legacy sig keyless with SET", sig(keyless, testDigest), e.tm,
			want{status: StatusVerified, identity: testIdentity, covers: testDigest, proof: "set", tsKind: "tlog-integrated", trust: "file:virtual-root.json", reason: "no signed certificate timestamp required"}},
		{"legacy sig keyless with SET and TSA", sig(keyless, testDigest, sign.WithTimestamp()), e.tm,
			want{status: StatusVerified, identity: testIdentity, covers: testDigest, tsKind: "rfc3161"}},
		{"legacy sig checked against the second of two trust sources", sig(keyless, testDigest), twoSources,
			want{status: StatusVerified, identity: testIdentity, trust: "file:virtual-root.json"}},
		{"wrong identity is reported as signed by someone else", sig(mallory, testDigest), e.tm,
			want{status: StatusVerified, identity: "mallory@example.com"}},
		{"payload changed", tamperedPayload, e.tm,
			want{status: StatusFailed, err: ErrSignature}},
		{"signature for another digest", sig(keyless, otherDigest), e.tm,
			want{status: StatusFailed, err: ErrSubjectMismatch, reason: "docker-manifest-digest " + otherDigest}},
		{"SET altered", setAltered, e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "signed entry timestamp from log"}},
		{"log entry fields altered", bodyAltered, e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "signed entry timestamp from log"}},
		{"log missing from the trusted root", sig(keyless, testDigest), trustWithoutLogs(t, e),
			want{status: StatusFailed, err: ErrSignature, reason: "is not in the trusted root"}},
		{"certificate expired when logged", sig(keyless, testDigest, sign.WithIntegratedTime(time.Now().Add(30*time.Minute))), e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "certificate"}},
		{"keyless without any trusted time", sig(keyless, testDigest, sign.WithoutTLog()), e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "no trusted signing time"}},
		{"keyless with no trusted root", sig(keyless, testDigest), &TrustMaterial{Keys: e.tm.Keys},
			want{status: StatusFailed, err: ErrNoTrust}},
		{"key signature with SET", sig(keyLogged, testDigest), e.tm,
			want{status: StatusVerified, key: "cosign.pub", covers: testDigest, proof: "set", tsKind: "tlog-integrated"}},
		{"key signature without tlog", sig(keyNoLog, testDigest), e.tm,
			want{status: StatusVerified, key: "cosign.pub", reason: "no transparency log vouches for this signature"}},
		{"key signature with the wrong key", sig(otherKey, testDigest), e.tm,
			want{status: StatusFailed, err: ErrSignature}},
		{"key signature, trusted key differs", sig(keyNoLog, testDigest), wrongKeyTM,
			want{status: StatusFailed, err: ErrSignature}},
		{"key signature, no keys trusted", sig(keyNoLog, testDigest), noKeys,
			want{status: StatusFailed, err: ErrNoTrust}},
		{"legacy attestation dsse keyless", att(keyless, slsa), e.tm,
			want{status: StatusVerified, identity: testIdentity, covers: testDigest, predicate: sign.PredicateSLSAProvenanceV1, proof: "set"}},
		{"legacy attestation with RFC 3161 timestamp over the envelope", att(keyless, slsa, sign.WithTimestamp()), e.tm,
			want{status: StatusVerified, identity: testIdentity, tsKind: "rfc3161", proof: "set"}},
		{"legacy attestation timestamp over another envelope", attWrongTS, e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "RFC 3161 timestamp over the envelope does not verify"}},
		{"legacy attestation with RFC 3161 timestamp over the signature (cosign v3)", att(keyless, slsa, sign.WithTimestampOverSignature()), e.tm,
			want{status: StatusVerified, identity: testIdentity, tsKind: "rfc3161", proof: "set"}},
		{"legacy attestation with key, no log, timestamp over the signature (cosign v3)", att(keyTSA, slsa, sign.WithoutTLog(), sign.WithTimestampOverSignature()), e.tm,
			want{status: StatusVerified, key: "cosign.pub", tsKind: "rfc3161", predicate: sign.PredicateSLSAProvenanceV1, reason: "no transparency log vouches for this signature"}},
		{"legacy attestation timestamp over another attestation's signature", attSigTSWrong, e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "RFC 3161 timestamp over the envelope does not verify (nor over its signature)"}},
		{"intoto attestation, signature timestamp, envelope with two signatures", att(keyless, slsa, sign.WithIntotoEntry(), sign.WithSignatureTwice(), sign.WithTimestampOverSignature()), e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "RFC 3161 timestamp over the envelope does not verify:"}},
		{"intoto attestation, envelope with two signatures, no timestamp", att(keyless, slsa, sign.WithIntotoEntry(), sign.WithSignatureTwice()), e.tm,
			want{status: StatusVerified, identity: testIdentity}},
		{"intoto attestation with RFC 3161 timestamp", att(keyless, slsa, sign.WithIntotoEntry(), sign.WithTimestamp()), e.tm,
			want{status: StatusVerified, identity: testIdentity, tsKind: "rfc3161"}},
		{"key signature without tlog, with TSA", sig(sign.NewKey(e.key, e.vs), testDigest, sign.WithoutTLog(), sign.WithTimestamp()), e.tm,
			want{status: StatusVerified, key: "cosign.pub", tsKind: "rfc3161", reason: "no transparency log vouches for this signature"}},
		{"key signature, SET from a log not in the trusted root", sig(keyLogged, testDigest), &TrustMaterial{Sources: trustWithoutLogs(t, e).Sources, Keys: e.tm.Keys},
			want{status: StatusFailed, err: ErrSignature, reason: "is not in the trusted root"}},
		{"legacy attestation with key", att(keyLogged, spdx), e.tm,
			want{status: StatusVerified, key: "cosign.pub", predicate: sign.PredicateSPDX}},
		{"attestation about another image", att(keyless, slsaOther), e.tm,
			want{status: StatusFailed, err: ErrSubjectMismatch, reason: "do not include " + testDigest}},
		{"attestation envelope changed", attEnvelopeChanged, e.tm,
			want{status: StatusFailed, err: ErrSignature}},
		{"attestation predicate annotation differs", att(keyless, slsa, sign.WithPredicateAnnotation("https://example/other")), e.tm,
			want{status: StatusVerified, predicate: sign.PredicateSLSAProvenanceV1, reason: "layer annotation says predicate type"}},
		{"legacy attestation intoto 0.0.1 keyless", att(keyless, slsa, sign.WithIntotoEntry()), e.tm,
			want{status: StatusVerified, identity: testIdentity, covers: testDigest, predicate: sign.PredicateSLSAProvenanceV1, proof: "set", tsKind: "tlog-integrated", reason: "intoto 0.0.1 entry checked by airlock"}},
		{"legacy attestation intoto 0.0.1 with key", att(keyLogged, spdx, sign.WithIntotoEntry()), e.tm,
			want{status: StatusVerified, key: "cosign.pub", predicate: sign.PredicateSPDX, proof: "set"}},
		{"intoto entry, envelope changed", intotoChanged, e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "the log entry records envelope hash"}},
		{"intoto entry, SET altered", intotoSET, e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "signed entry timestamp from log"}},
		{"intoto entry, log missing from the trusted root", att(keyless, slsa, sign.WithIntotoEntry()), trustWithoutLogs(t, e),
			want{status: StatusFailed, err: ErrSignature, reason: "is not in the trusted root"}},
		{"intoto entry, certificate expired when logged", att(keyless, slsa, sign.WithIntotoEntry(), sign.WithIntegratedTime(time.Now().Add(30*time.Minute))), e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "certificate not valid at the integrated time"}},
		{"intoto entry, wrong key", att(otherKey, spdx, sign.WithIntotoEntry()), e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "not the key the log entry names"}},
		{"bundle v0.3 cosign sign (DSSE)", bundleEv(ok(keyless.CosignSignBundle(testRepo, testDigest)), testDigest), e.tm,
			want{status: StatusVerified, identity: testIdentity, predicate: sign.PredicateCosignSign, covers: testDigest, proof: "set+inclusion-proof", entryKind: "dsse 0.0.1", tsKind: "rfc3161"}},
		{"bundle v0.3 attestation", bundleEv(ok(keyless.AttestationBundle(slsa)), testDigest), e.tm,
			want{status: StatusVerified, identity: testIdentity, predicate: sign.PredicateSLSAProvenanceV1}},
		{"bundle v0.3 message signature", bundleEv(ok(keyless.SignatureBundle(manifest)), sha256Digest(manifest)), e.tm,
			want{status: StatusVerified, identity: testIdentity, covers: sha256Digest(manifest)}},
		{"bundle v0.3 message signature over another artifact", bundleEv(ok(keyless.SignatureBundle(manifest)), testDigest), e.tm,
			want{status: StatusFailed, err: ErrSignature}},
		{"bundle v0.3 attestation about another image", bundleEv(ok(keyless.AttestationBundle(slsaOther)), testDigest), e.tm,
			want{status: StatusFailed, err: ErrSubjectMismatch}},
		{"bundle with key, no log", bundleEv(ok(keyNoLog.AttestationBundle(slsa)), testDigest), e.tm,
			want{status: StatusVerified, key: "cosign.pub", reason: "no transparency log vouches for this signature"}},
		{"bundle Rekor v2 with TSA timestamp", bundleEv(sign.Artifact{ArtifactType: sign.MediaTypeBundleV03, Layers: []sign.Layer{{MediaType: sign.MediaTypeBundleV03, Data: ok(keyless.BundleAttestationRekorV2(slsa))}}}, testDigest), e.tm,
			want{status: StatusVerified, identity: testIdentity, predicate: sign.PredicateSLSAProvenanceV1, proof: "inclusion-proof", entryKind: "hashedrekord 0.0.2", tsKind: "rfc3161"}},
		{"bundle Rekor v2 without timestamp", bundleEv(sign.Artifact{ArtifactType: sign.MediaTypeBundleV03, Layers: []sign.Layer{{MediaType: sign.MediaTypeBundleV03, Data: ok(keyless.BundleAttestationRekorV2(slsa, sign.WithoutTimestamp()))}}}, testDigest), e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "no trusted signing time"}},
		{"bundle v0.3 entry SET-only (v0.2+ needs a proof)", bundleEv(ok(keyless.CosignSignBundle(testRepo, testDigest, sign.WithoutInclusionProof())), testDigest), e.tm,
			want{status: StatusFailed, err: ErrMalformedEvidence, reason: "inclusion proof missing"}},
		{"bundle v0.3 proof-only with TSA", bundleEv(ok(keyless.CosignSignBundle(testRepo, testDigest, sign.WithoutSET())), testDigest), e.tm,
			want{status: StatusVerified, identity: testIdentity, proof: "inclusion-proof", entryKind: "dsse 0.0.1", tsKind: "rfc3161"}},
		{"bundle v0.3 with key and log", bundleEv(ok(keyLogged.AttestationBundle(slsa)), testDigest), e.tm,
			want{status: StatusVerified, key: "cosign.pub", proof: "set+inclusion-proof", entryKind: "dsse 0.0.1"}},
		{"bundle with an unknown entry version", v2, e.tm,
			want{status: StatusUnverifiable, err: ErrUnsupportedEntry, reason: "dsse\" version \"0.0.3"}},
		{"dsse 0.0.1 body labelled dsse 0.0.2", relabelled, e.tm,
			want{status: StatusFailed, err: ErrMalformedEvidence}},
		{"Rekor v2 dsse 0.0.2 keyless with TSA", v2ev(keyless, slsa), e.tmV2,
			want{status: StatusVerified, identity: testIdentity, predicate: sign.PredicateSLSAProvenanceV1, covers: testDigest, proof: "inclusion-proof", entryKind: "dsse 0.0.2", tsKind: "rfc3161", reason: "dsse 0.0.2 entry checked by airlock"}},
		{"Rekor v2 dsse 0.0.2 with key", v2ev(keyLogged, slsa), e.tmV2,
			want{status: StatusVerified, key: "cosign.pub", proof: "inclusion-proof", entryKind: "dsse 0.0.2"}},
		{"Rekor v2 dsse 0.0.2 with the wrong key", v2ev(otherKey, slsa), e.tmV2,
			want{status: StatusFailed, err: ErrSignature}},
		{"Rekor v2 dsse 0.0.2 without timestamp", v2ev(keyless, slsa, sign.WithoutTimestamp()), e.tmV2,
			want{status: StatusFailed, err: ErrSignature, reason: "no trusted signing time"}},
		{"Rekor v2 dsse 0.0.2, log not in the trusted root", v2ev(keyless, slsa), e.tm,
			want{status: StatusFailed, err: ErrSignature, reason: "is not in the trusted root"}},
		{"Rekor v2 dsse 0.0.2, envelope payload changed", v2PayloadChanged, e.tmV2,
			want{status: StatusFailed, err: ErrSignature, reason: "payload hash"}},
		{"Rekor v2 dsse 0.0.2, checkpoint signature altered", v2CheckpointAltered, e.tmV2,
			want{status: StatusFailed, err: ErrSignature, reason: "checkpoint"}},
		{"Rekor v2 dsse 0.0.2, entry body altered", v2BodyAltered, e.tmV2,
			want{status: StatusFailed, err: ErrSignature}},
		{"buildkit statement", buildkit, e.tm,
			want{status: StatusUnsigned, predicate: sign.PredicateSPDX, covers: testDigest}},
		{"cosign sbom", Evidence{Kind: artifact.KindCosignSBOM, Subject: testDigest, Data: []byte("{}")}, e.tm,
			want{status: StatusUnsigned}},
		{"other referrer", Evidence{Kind: artifact.KindReferrer, Subject: testDigest, Data: []byte("x")}, e.tm,
			want{status: StatusUnsigned}},
		{"unknown kind", Evidence{Kind: "notation", Subject: testDigest}, e.tm,
			want{status: StatusUnverifiable, reason: "unknown evidence kind"}},
		{"bad subject", func() Evidence { ev := sig(keyless, testDigest); ev.Subject = "latest"; return ev }(), e.tm,
			want{status: StatusFailed, err: ErrMalformedEvidence}},
		{"no signature annotation", func() Evidence { ev := sig(keyless, testDigest); delete(ev.Annotations, annSignature); return ev }(), e.tm,
			want{status: StatusFailed, err: ErrMalformedEvidence}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := Check(tc.ev, tc.tm, Options{})
			t.Logf("%s: %s", f.Status, f.Reason)
			w := tc.want
			if f.Status != w.status {
				t.Fatalf("status = %s, want %s (reason %q)", f.Status, w.status, f.Reason)
			}
			if w.reason != "" && !strings.Contains(f.Reason, w.reason) {
				t.Errorf("reason %q does not contain %q", f.Reason, w.reason)
			}
			if w.err != nil && !strings.HasPrefix(f.Reason, w.err.Error()) {
				t.Errorf("reason %q does not start with %q", f.Reason, w.err)
			}
			if f.Status == StatusVerified {
				if f.Signer == nil || (f.Signer.Identity == "" && f.Signer.Key == "") {
					t.Fatalf("verified without a signer: %+v", f)
				}
				if len(f.TrustMaterial) == 0 {
					t.Errorf("verified without naming trust material")
				}
			} else if f.Signer != nil && f.Status != StatusVerified {
				t.Errorf("signer %+v reported on a %s finding", f.Signer, f.Status)
			}
			if w.identity != "" && (f.Signer == nil || f.Signer.Identity != w.identity || f.Signer.Issuer != testIssuer) {
				t.Errorf("signer = %+v, want identity %s issuer %s", f.Signer, w.identity, testIssuer)
			}
			if w.key != "" {
				if f.Signer == nil || f.Signer.Key != w.key || f.Signer.KeyID != ok(keyID(&e.key.PublicKey)) {
					t.Errorf("signer = %+v, want key %s", f.Signer, w.key)
				}
			}
			if w.covers != "" && !contains(f.Covers, w.covers) {
				t.Errorf("covers = %v, want %s", f.Covers, w.covers)
			}
			if w.predicate != "" {
				if f.PredicateType != w.predicate {
					t.Errorf("predicate = %q, want %q", f.PredicateType, w.predicate)
				}
				if len(f.Statement) == 0 {
					t.Errorf("no statement carried")
				}
			}
			if w.proof != "" && (len(f.TLog) != 1 || f.TLog[0].Proof != w.proof || f.TLog[0].LogID == "" ||
				(strings.Contains(w.proof, "set") && (f.TLog[0].LogIndex != 42 || f.TLog[0].IntegratedTime.IsZero()))) {
				t.Errorf("tlog = %+v, want one %s proof (at index 42 with an integrated time when a SET)", f.TLog, w.proof)
			}
			if w.entryKind != "" && (len(f.TLog) != 1 || f.TLog[0].EntryKind != w.entryKind) {
				t.Errorf("tlog = %+v, want entry kind %s", f.TLog, w.entryKind)
			}
			if w.tsKind != "" && !hasTimestamp(f.Timestamps, w.tsKind) {
				t.Errorf("timestamps = %+v, want a %s", f.Timestamps, w.tsKind)
			}
			if w.trust != "" && !contains(f.TrustMaterial, w.trust) {
				t.Errorf("trust material = %v, want %s", f.TrustMaterial, w.trust)
			}
			if f.Kind != tc.ev.Kind || f.Subject != tc.ev.Subject || f.Manifest != tc.ev.Manifest {
				t.Errorf("finding does not echo the evidence: %+v", f)
			}
		})
	}
}

func hasTimestamp(ts []Timestamp, kind string) bool {
	for _, t := range ts {
		if t.Kind == kind && !t.Time.IsZero() {
			return true
		}
	}
	return false
}

func TestCheckSCTRequirement(t *testing.T) {
	e := newEnv(t)
	ev := layerEvidence(artifact.KindCosignSignature, testDigest, ok(sign.NewKeyless(e.vs, testIdentity, testIssuer).CosignSignature(testRepo, testDigest)))
	yes := true
	f := Check(ev, e.tm, Options{RequireSCT: &yes})
	if f.Status != StatusFailed || !strings.Contains(f.Reason, "certificate timestamp") {
		t.Fatalf("with SCTs required, a certificate without SCTs: %s %q", f.Status, f.Reason)
	}
	// VirtualSigstore as trust material lists a CT log: SCTs become required.
	f = Check(ev, &TrustMaterial{Sources: []TrustSource{{Name: "virtual", Root: e.vs}}}, Options{})
	if f.Status != StatusFailed {
		t.Fatalf("trusted root with CT logs, certificate without SCTs: %s %q", f.Status, f.Reason)
	}
}

func TestParseDigest(t *testing.T) {
	for _, d := range []string{"", "sha256:", "sha256:" + strings.Repeat("A", 64), "sha512:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("g", 64)} {
		if _, err := parseDigest(d); !errors.Is(err, ErrMalformedEvidence) {
			t.Errorf("parseDigest(%q) = %v, want ErrMalformedEvidence", d, err)
		}
	}
	if _, err := parseDigest(testDigest); err != nil {
		t.Error(err)
	}
}

// Check is pure: many goroutines may check evidence against the same trust
// material at once (run with -race).
func TestCheckConcurrent(t *testing.T) {
	e := newEnv(t)
	s := sign.NewKeyless(e.vs, testIdentity, testIssuer)
	evs := []Evidence{
		layerEvidence(artifact.KindCosignSignature, testDigest, ok(s.CosignSignature(testRepo, testDigest))),
		layerEvidence(artifact.KindSigstoreBundle, testDigest, ok(s.CosignSignBundle(testRepo, testDigest)).Layers[0]),
	}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f := Check(evs[i%len(evs)], e.tm, Options{}); f.Status != StatusVerified {
				errs <- f.Reason
			}
		}()
	}
	wg.Wait()
	close(errs)
	for r := range errs {
		t.Error(r)
	}
}

// A Rekor v2 log whose key was not yet valid when the TSA dated the
// signature does not vouch for it.
func TestRekorV2LogValidity(t *testing.T) {
	e := newEnv(t)
	var m map[string]any
	if err := json.Unmarshal(ok(sign.TrustedRootJSON(e.vs, e.v2log)), &m); err != nil {
		t.Fatal(err)
	}
	for _, l := range m["tlogs"].([]any) {
		l := l.(map[string]any)
		if strings.Contains(l["baseUrl"].(string), "log2026") {
			l["publicKey"].(map[string]any)["validFor"] = map[string]any{"start": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
		}
	}
	tr := ok(root.NewTrustedRootFromJSON(ok(json.Marshal(m))))
	st := ok(sign.Statement(testRepo, testDigest, sign.PredicateSPDX, sign.SPDXDocument("x")))
	b := ok(sign.NewKeyless(e.vs, testIdentity, testIssuer).BundleAttestationDSSEV2(st, e.v2log))
	f := CheckBundle(b, Artifact{Digest: testDigest}, &TrustMaterial{Sources: []TrustSource{{Name: "future-log", Root: tr}}}, Options{})
	if f.Status != StatusFailed || !strings.Contains(f.Reason, "key not valid at the signing time") {
		t.Fatalf("got %s %q", f.Status, f.Reason)
	}
}
