package verify

import (
	"testing"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/internal/sign"
)

var fuzzKinds = []Kind{artifact.KindCosignSignature, artifact.KindCosignAttestation, artifact.KindSigstoreBundle, artifact.KindBuildKitAttestation, artifact.KindCosignSBOM, artifact.KindReferrer}

// FuzzCheck feeds hostile layer data and annotations for every kind to
// Check: it must never panic, and never report verified without a signer.
func FuzzCheck(f *testing.F) {
	e := newEnv(f)
	keyless := sign.NewKeyless(e.vs, testIdentity, testIssuer)
	key := sign.NewKey(e.key, e.vs)
	slsa := ok(sign.Statement(testRepo, testDigest, sign.PredicateSLSAProvenanceV1, sign.SLSAProvenance("b", "s")))
	add := func(kind Kind, l sign.Layer) {
		a := l.Annotations
		f.Add(uint8(kindIndex(kind)), l.Data, a[annSignature], a[annCertificate], a[annBundle], a[annRFC3161], a[annPredicate])
	}
	add(artifact.KindCosignSignature, ok(keyless.CosignSignature(testRepo, testDigest, sign.WithTimestamp())))
	add(artifact.KindCosignSignature, ok(key.CosignSignature(testRepo, testDigest)))
	add(artifact.KindCosignAttestation, ok(keyless.CosignAttestation(slsa)))
	add(artifact.KindCosignAttestation, ok(keyless.CosignAttestation(slsa, sign.WithIntotoEntry())))
	add(artifact.KindSigstoreBundle, ok(keyless.CosignSignBundle(testRepo, testDigest)).Layers[0])
	add(artifact.KindSigstoreBundle, ok(key.AttestationBundle(slsa)).Layers[0])
	add(artifact.KindBuildKitAttestation, sign.Layer{Data: slsa})
	f.Add(uint8(4), []byte("{}"), "", "", "", "", "")
	f.Fuzz(func(t *testing.T, k uint8, data []byte, sig, cert, bundle, tsr, pred string) {
		ev := Evidence{
			Kind: fuzzKinds[int(k)%len(fuzzKinds)], Subject: testDigest, Data: data,
			Annotations: map[string]string{annSignature: sig, annCertificate: cert, annBundle: bundle, annRFC3161: tsr, annPredicate: pred},
		}
		fd := Check(ev, e.tm, Options{})
		switch fd.Status {
		case StatusVerified:
			if fd.Signer == nil || (fd.Signer.Identity == "" && fd.Signer.Key == "") {
				t.Fatalf("verified without signer: %+v", fd)
			}
		case StatusFailed, StatusUnverifiable:
			if fd.Reason == "" {
				t.Fatalf("%s without reason", fd.Status)
			}
		case StatusUnsigned:
		default:
			t.Fatalf("unknown status %q", fd.Status)
		}
	})
}

// FuzzCheckBundle feeds hostile bundle JSON to CheckBundle.
func FuzzCheckBundle(f *testing.F) {
	e := newEnv(f)
	keyless := sign.NewKeyless(e.vs, testIdentity, testIssuer)
	f.Add(ok(keyless.BundleSignature([]byte("artifact"))), []byte("artifact"))
	f.Add(ok(keyless.CosignSignBundle(testRepo, testDigest)).Layers[0].Data, []byte(nil))
	st := ok(sign.Statement(testRepo, testDigest, sign.PredicateSLSAProvenanceV1, sign.SLSAProvenance("b", "s")))
	f.Add(ok(keyless.BundleAttestationDSSEV2(st, e.v2log)), []byte(nil))
	f.Add(ok(keyless.BundleAttestationRekorV2(st)), []byte(nil))
	f.Fuzz(func(t *testing.T, b, artifact []byte) {
		a := Artifact{Bytes: artifact}
		if artifact == nil {
			a = Artifact{Digest: testDigest}
		}
		fd := CheckBundle(b, a, e.tmV2, Options{})
		if fd.Status == StatusVerified && fd.Signer == nil {
			t.Fatalf("verified without signer")
		}
	})
}

func kindIndex(k Kind) int {
	for i, x := range fuzzKinds {
		if x == k {
			return i
		}
	}
	return 0
}
