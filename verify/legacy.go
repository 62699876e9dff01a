package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
)

const bundleV01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"

// simpleSigning is the part of a cosign simple-signing payload we read.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// checkLegacySignature verifies one layer of a legacy cosign .sig manifest:
// it rebuilds the Sigstore bundle v0.1 cosign's annotations amount to
// (formats.md §2), lets sigstore-go verify the signature over the payload
// and the log's promise, then checks the claim sigstore-go does not: the
// payload's critical.image.docker-manifest-digest is the subject.
func checkLegacySignature(f Finding, ev Evidence, tm *TrustMaterial, opts Options) Finding {
	if _, err := parseDigest(ev.Subject); err != nil {
		return fail(f, err)
	}
	var ss simpleSigning
	if err := json.Unmarshal(ev.Data, &ss); err != nil {
		return fail(f, fmt.Errorf("%w: simple-signing payload: %v", ErrMalformedEvidence, err))
	}
	claimed := ss.Critical.Image.DockerManifestDigest
	if claimed == "" {
		return fail(f, fmt.Errorf("%w: simple-signing payload has no critical.image.docker-manifest-digest", ErrMalformedEvidence))
	}
	sigB64, ok := ev.Annotations[annSignature]
	if !ok || sigB64 == "" {
		return fail(f, fmt.Errorf("%w: no %s annotation", ErrMalformedEvidence, annSignature))
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return fail(f, fmt.Errorf("%w: %s annotation: %v", ErrMalformedEvidence, annSignature, err))
	}
	vm, err := legacyMaterial(ev.Annotations)
	if err != nil {
		return fail(f, err)
	}
	entry, err := legacyLogEntry(ev.Annotations)
	if err != nil {
		return fail(f, err)
	}
	if entry != nil {
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{entry}
	}
	if tsr, err := legacyTimestamp(ev.Annotations); err != nil {
		return fail(f, err)
	} else if tsr != nil {
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tsr}},
		}
	}
	sum := sha256.Sum256(ev.Data)
	pb := &protobundle.Bundle{
		MediaType:            bundleV01,
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]},
			Signature:     sig,
		}},
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return fail(f, fmt.Errorf("%w: cosign annotations do not make a valid bundle: %v", ErrMalformedEvidence, err))
	}
	f = verifyEntity(f, b, func() sgverify.ArtifactPolicyOption { return sgverify.WithArtifact(bytes.NewReader(ev.Data)) }, tm, opts, nil)
	if f.Status != StatusVerified {
		return f
	}
	if claimed != ev.Subject {
		return fail(f, fmt.Errorf("%w: the signed payload is for docker-manifest-digest %s, not %s", ErrSubjectMismatch, claimed, ev.Subject))
	}
	f.Covers = []string{claimed}
	return f
}

// legacyEnvelope is a DSSE envelope as cosign stores it in .att layers.
type legacyEnvelope struct {
	PayloadType string `json:"payloadType"`
	Payload     []byte `json:"payload"`
	Signatures  []struct {
		KeyID string `json:"keyid"`
		Sig   []byte `json:"sig"`
	} `json:"signatures"`
}

// checkLegacyAttestation verifies one layer of a legacy cosign .att
// manifest: a DSSE envelope whose in-toto statement must name the subject.
// dsse 0.0.1 entries go through sigstore-go as a bundle v0.1; intoto 0.0.1
// entries (older cosign), which sigstore-go rejects, through checkIntoto.
func checkLegacyAttestation(f Finding, ev Evidence, tm *TrustMaterial, opts Options) Finding {
	subj, err := parseDigest(ev.Subject)
	if err != nil {
		return fail(f, err)
	}
	// Until it verifies, the predicate type is only claimed: it lets the
	// policy name a failed attestation under the requirement it was for.
	f.PredicateType = ev.Annotations[annPredicate]
	var env legacyEnvelope
	if err := json.Unmarshal(ev.Data, &env); err != nil {
		return fail(f, fmt.Errorf("%w: DSSE envelope: %v", ErrMalformedEvidence, err))
	}
	if env.PayloadType != "application/vnd.in-toto+json" {
		return fail(f, fmt.Errorf("%w: DSSE payload type %q is not in-toto", ErrMalformedEvidence, env.PayloadType))
	}
	if len(env.Signatures) == 0 {
		return fail(f, fmt.Errorf("%w: DSSE envelope has no signatures", ErrMalformedEvidence))
	}
	st, err := parseStatement(env.Payload)
	if err != nil {
		return fail(f, err)
	}
	f.PredicateType = st.PredicateType
	if !st.covers(ev.Subject) {
		return fail(f, fmt.Errorf("%w: the signed statement's subjects %v do not include %s", ErrSubjectMismatch, st.digests(), ev.Subject))
	}
	vm, err := legacyMaterial(ev.Annotations)
	if err != nil {
		return fail(f, err)
	}
	entry, err := legacyLogEntry(ev.Annotations)
	if err != nil {
		return fail(f, err)
	}
	tsr, err := legacyTimestamp(ev.Annotations)
	if err != nil {
		return fail(f, err)
	}
	if entry != nil && entry.KindVersion.Kind == "intoto" {
		f = checkIntoto(f, ev.Data, &env, vm, entry, tm, opts)
	} else {
		if entry != nil {
			vm.TlogEntries = []*protorekor.TransparencyLogEntry{entry}
		}
		de := &protodsse.Envelope{Payload: env.Payload, PayloadType: env.PayloadType}
		for _, s := range env.Signatures {
			de.Signatures = append(de.Signatures, &protodsse.Signature{Sig: s.Sig, Keyid: s.KeyID})
		}
		b, err := bundle.NewBundle(&protobundle.Bundle{
			MediaType: bundleV01, VerificationMaterial: vm,
			Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: de},
		})
		if err != nil {
			return fail(f, fmt.Errorf("%w: cosign annotations do not make a valid bundle: %v", ErrMalformedEvidence, err))
		}
		f = verifyEntity(f, b, func() sgverify.ArtifactPolicyOption { return sgverify.WithArtifactDigest("sha256", subj) }, tm, opts, nil)
	}
	if f.Status != StatusVerified {
		return f
	}
	f.PredicateType, f.Covers, f.Statement = st.PredicateType, st.digests(), env.Payload
	if a, ok := ev.Annotations[annPredicate]; ok && a != st.PredicateType {
		f.Reason = addNote(f.Reason, fmt.Sprintf("layer annotation says predicate type %q; the signed statement's %q is reported", a, st.PredicateType))
	}
	if tsr != nil {
		// cosign v2 timestamps the whole envelope of an attestation, which
		// sigstore-go (timestamps over signature bytes) cannot check: we do.
		// cosign v3 builds its legacy attestations from a Sigstore bundle,
		// so its timestamp is over the DSSE signature bytes, as a bundle's
		// is; that form is accepted only for an envelope with a single
		// signature (the one that verified: an intoto entry may carry an
		// envelope with more, any one of which verifies).
		stamped := []timestamped{{"envelope", ev.Data}}
		if len(env.Signatures) == 1 {
			stamped = append(stamped, timestamped{"signature", env.Signatures[0].Sig})
		}
		ts, src, err := verifyEnvelopeTimestamp(tsr, stamped, vm, f, tm)
		if err != nil {
			return fail(f, err)
		}
		f.Timestamps = append(f.Timestamps, *ts)
		if !contains(f.TrustMaterial, src) {
			f.TrustMaterial = append(f.TrustMaterial, src)
		}
		if len(f.TLog) == 0 {
			now := opts.Now
			if now.IsZero() {
				now = time.Now()
			}
			f.Reason = strings.Replace(f.Reason, noObserverNote(now), noLogNote, 1)
		}
	}
	return f
}

// timestamped is what an RFC 3161 timestamp may be over: its name for the
// reason and its bytes.
type timestamped struct {
	what string
	data []byte
}

// verifyEnvelopeTimestamp checks an RFC 3161 timestamp over one of the
// candidates (a legacy attestation's envelope bytes, as cosign v2 stamps
// them, or its signature, as cosign v3 does) against the TSAs of the trust
// source that verified the signature (keyless), or of any operator-trusted
// source (key signatures, which no trust source verified: cosign
// --tlog-upload=false --timestamp-server-url), and that a keyless
// certificate was valid then. It returns the name of the source whose TSA
// made the timestamp.
func verifyEnvelopeTimestamp(tsr []byte, candidates []timestamped, vm *protobundle.VerificationMaterial, f Finding, tm *TrustMaterial) (*Timestamp, string, error) {
	var leaf *x509.Certificate
	if c := vm.GetX509CertificateChain(); c != nil && len(c.Certificates) > 0 {
		var err error
		if leaf, err = x509.ParseCertificate(c.Certificates[0].RawBytes); err != nil {
			return nil, "", fmt.Errorf("%w: signing certificate: %v", ErrMalformedEvidence, err)
		}
		stripSANCritical(leaf)
	}
	var errs []string
	for _, src := range tm.Sources {
		if src.Root == nil || (leaf != nil && !contains(f.TrustMaterial, src.Name)) {
			continue
		}
		for _, tsa := range src.Root.TimestampingAuthorities() {
			t, err := verifyTimestampOver(tsa, tsr, candidates)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			if leaf != nil {
				if _, err := sgverify.VerifyLeafCertificate(t.Time, leaf, src.Root); err != nil {
					return nil, "", fmt.Errorf("%w: certificate not valid at the RFC 3161 time %s: %v", ErrSignature, t.Time.UTC().Format(time.RFC3339), err)
				}
			}
			return &Timestamp{Kind: "rfc3161", Time: t.Time.UTC(), Authority: t.URI}, src.Name, nil
		}
	}
	if len(errs) == 0 {
		if leaf == nil {
			errs = append(errs, "no trusted root with a timestamping authority is configured")
		} else {
			errs = append(errs, "no timestamping authority in the trust source that verified the signature")
		}
	}
	what := candidates[0].what + " does not verify"
	for _, c := range candidates[1:] {
		what += " (nor over its " + c.what + ")"
	}
	return nil, "", fmt.Errorf("%w: RFC 3161 timestamp over the %s: %s", ErrSignature, what, strings.Join(errs, "; "))
}

// verifyTimestampOver verifies tsr with tsa over the first candidate whose
// hash the timestamp names. Every other failure (signature, certificate,
// validity) is the same for all candidates and reported once.
func verifyTimestampOver(tsa root.TimestampingAuthority, tsr []byte, candidates []timestamped) (*root.Timestamp, error) {
	var first error
	for _, c := range candidates {
		t, err := tsa.Verify(tsr, c.data)
		if err == nil {
			return t, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// legacyMaterial reads the signing certificate annotation; without one the
// signature is a key signature.
func legacyMaterial(ann map[string]string) (*protobundle.VerificationMaterial, error) {
	certPEM, ok := ann[annCertificate]
	if !ok || certPEM == "" {
		return &protobundle.VerificationMaterial{Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{}}}, nil
	}
	blk, _ := pem.Decode([]byte(certPEM))
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: %s annotation holds no PEM certificate", ErrMalformedEvidence, annCertificate)
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, fmt.Errorf("%w: %s annotation: %v", ErrMalformedEvidence, annCertificate, err)
	}
	// Only the leaf: intermediates come from the trusted root, never from
	// the evidence (the chain annotation is carried, not trusted).
	return &protobundle.VerificationMaterial{Content: &protobundle.VerificationMaterial_X509CertificateChain{
		X509CertificateChain: &protocommon.X509CertificateChain{Certificates: []*protocommon.X509Certificate{{RawBytes: blk.Bytes}}},
	}}, nil
}

// cosignBundle is cosign's dev.sigstore.cosign/bundle annotation.
type cosignBundle struct {
	SignedEntryTimestamp []byte `json:"SignedEntryTimestamp"`
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	} `json:"Payload"`
}

// legacyLogEntry turns cosign's bundle annotation into the transparency log
// entry of a bundle v0.1 (a SET, no inclusion proof). No annotation: nil.
func legacyLogEntry(ann map[string]string) (*protorekor.TransparencyLogEntry, error) {
	raw, ok := ann[annBundle]
	if !ok || raw == "" {
		return nil, nil
	}
	var cb cosignBundle
	if err := json.Unmarshal([]byte(raw), &cb); err != nil {
		return nil, fmt.Errorf("%w: %s annotation: %v", ErrMalformedEvidence, annBundle, err)
	}
	if len(cb.SignedEntryTimestamp) == 0 {
		return nil, fmt.Errorf("%w: %s annotation has no SignedEntryTimestamp", ErrMalformedEvidence, annBundle)
	}
	body, err := base64.StdEncoding.DecodeString(cb.Payload.Body)
	if err != nil || len(body) == 0 {
		return nil, fmt.Errorf("%w: %s annotation: body is not base64: %v", ErrMalformedEvidence, annBundle, err)
	}
	logID, err := hex.DecodeString(cb.Payload.LogID)
	if err != nil || len(logID) == 0 {
		return nil, fmt.Errorf("%w: %s annotation: logID %q is not hex", ErrMalformedEvidence, annBundle, cb.Payload.LogID)
	}
	if cb.Payload.LogIndex < 0 || cb.Payload.IntegratedTime <= 0 {
		return nil, fmt.Errorf("%w: %s annotation: log index %d or integrated time %d out of range", ErrMalformedEvidence, annBundle, cb.Payload.LogIndex, cb.Payload.IntegratedTime)
	}
	var kv struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(body, &kv); err != nil || kv.Kind == "" || kv.APIVersion == "" {
		return nil, fmt.Errorf("%w: %s annotation: entry body has no kind/apiVersion", ErrMalformedEvidence, annBundle)
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:          cb.Payload.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
		IntegratedTime:    cb.Payload.IntegratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: cb.SignedEntryTimestamp},
		CanonicalizedBody: body,
	}, nil
}

// legacyTimestamp reads cosign's RFC 3161 timestamp annotation (DER).
func legacyTimestamp(ann map[string]string) ([]byte, error) {
	raw, ok := ann[annRFC3161]
	if !ok || raw == "" {
		return nil, nil
	}
	var ts struct {
		SignedRFC3161Timestamp []byte `json:"SignedRFC3161Timestamp"`
	}
	if err := json.Unmarshal([]byte(raw), &ts); err != nil || len(ts.SignedRFC3161Timestamp) == 0 {
		return nil, fmt.Errorf("%w: %s annotation holds no timestamp", ErrMalformedEvidence, annRFC3161)
	}
	return ts.SignedRFC3161Timestamp, nil
}
