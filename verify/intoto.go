package verify

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// intotoBody is a Rekor intoto 0.0.1 canonical entry body: the log kept the
// hash of the envelope as submitted, the hash of its payload and the key,
// not the envelope itself.
type intotoBody struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Content struct {
			Hash        *rekorHash `json:"hash"`
			PayloadHash *rekorHash `json:"payloadHash"`
		} `json:"content"`
		PublicKey []byte `json:"publicKey"`
	} `json:"spec"`
}

type rekorHash struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"value"`
}

// checkIntoto verifies a legacy attestation logged as an intoto 0.0.1 entry
// (cosign before v2), which sigstore-go v1.3.0 rejects, the way cosign does:
//  1. the entry body binds this exact envelope (sha256 of the layer bytes)
//     and its payload, and names the signing certificate or key;
//  2. the SET is the trusted log's signature over the RFC 8785 form of
//     {body, integratedTime, logID, logIndex}, made while the log key was valid;
//  3. the certificate chains to a trusted Fulcio CA at the integrated time
//     (and carries an SCT when required);
//  4. an envelope signature verifies over the DSSE PAE with that key.
func checkIntoto(f Finding, envJSON []byte, env *legacyEnvelope, vm *protobundle.VerificationMaterial, entry *protorekor.TransparencyLogEntry, tm *TrustMaterial, opts Options) Finding {
	if entry.KindVersion.Version != "0.0.1" {
		return unverifiable(f, fmt.Errorf("%w: intoto %s entries are not supported", ErrUnsupportedEntry, entry.KindVersion.Version))
	}
	e, err := intotoBinding(envJSON, env, entry)
	if err != nil {
		return fail(f, err)
	}
	if chain := vm.GetX509CertificateChain(); chain != nil && len(chain.Certificates) > 0 {
		return checkIntotoKeyless(f, e, env, chain.Certificates[0].RawBytes, entry, tm, opts)
	}
	return checkIntotoKey(f, e, env, entry, tm)
}

// intotoEntry is what an intoto 0.0.1 entry binds, once checked against
// the envelope: the key or certificate it names (PEM), the DSSE PAE to
// verify, the log proof, and a note for the report.
type intotoEntry struct {
	named *pem.Block
	pae   []byte
	it    time.Time
	proof TLogProof
	note  string
}

// intotoBinding is step 1: the entry body binds this exact envelope and
// its payload, and names a key or certificate.
func intotoBinding(envJSON []byte, env *legacyEnvelope, entry *protorekor.TransparencyLogEntry) (*intotoEntry, error) {
	var body intotoBody
	if err := json.Unmarshal(entry.CanonicalizedBody, &body); err != nil {
		return nil, fmt.Errorf("%w: intoto entry body: %v", ErrMalformedEvidence, err)
	}
	if body.Kind != "intoto" || body.APIVersion != "0.0.1" {
		return nil, fmt.Errorf("%w: entry body is %s %s, labelled intoto 0.0.1", ErrMalformedEvidence, body.Kind, body.APIVersion)
	}
	h := body.Spec.Content.Hash
	if h == nil || h.Algorithm != "sha256" {
		return nil, fmt.Errorf("%w: intoto entry has no sha256 envelope hash", ErrMalformedEvidence)
	}
	if got := strings.TrimPrefix(sha256Digest(envJSON), "sha256:"); h.Value != got {
		return nil, fmt.Errorf("%w: the log entry records envelope hash %s, the layer hashes to %s", ErrSignature, h.Value, got)
	}
	e := &intotoEntry{}
	if ph := body.Spec.Content.PayloadHash; ph != nil {
		if got := strings.TrimPrefix(sha256Digest(env.Payload), "sha256:"); ph.Algorithm != "sha256" || ph.Value != got {
			return nil, fmt.Errorf("%w: the log entry records payload hash %s:%s, the payload hashes to sha256:%s", ErrSignature, ph.Algorithm, ph.Value, got)
		}
	} else {
		e.note = "the intoto entry predates payload hashes; the envelope hash binds it"
	}
	if e.named, _ = pem.Decode(body.Spec.PublicKey); e.named == nil {
		return nil, fmt.Errorf("%w: intoto entry's publicKey is not PEM", ErrMalformedEvidence)
	}
	e.pae = dsse.PAE(env.PayloadType, env.Payload)
	e.it = time.Unix(entry.IntegratedTime, 0).UTC()
	e.proof = TLogProof{LogID: hex.EncodeToString(entry.LogId.GetKeyId()), LogIndex: entry.LogIndex, IntegratedTime: e.it, Proof: "set", EntryKind: "intoto 0.0.1"}
	return e, nil
}

// checkIntotoKeyless is steps 2 to 4 for a certificate: the entry names
// the signing certificate, which signed the envelope; some trusted root's
// log made the SET and its Fulcio CA issued the certificate, valid at the
// integrated time (with an SCT when required).
func checkIntotoKeyless(f Finding, e *intotoEntry, env *legacyEnvelope, certDER []byte, entry *protorekor.TransparencyLogEntry, tm *TrustMaterial, opts Options) Finding {
	if e.named.Type != "CERTIFICATE" || !bytes.Equal(e.named.Bytes, certDER) {
		return fail(f, fmt.Errorf("%w: the log entry names another key than the signing certificate", ErrSignature))
	}
	leaf, err := x509.ParseCertificate(e.named.Bytes)
	if err != nil {
		return fail(f, fmt.Errorf("%w: signing certificate: %v", ErrMalformedEvidence, err))
	}
	if err := verifyDSSESig(env, e.pae, leaf.PublicKey); err != nil {
		return fail(f, err)
	}
	sum, err := certificate.SummarizeCertificate(leaf)
	if err != nil {
		return fail(f, fmt.Errorf("%w: signing certificate: %v", ErrMalformedEvidence, err))
	}
	if sum.SubjectAlternativeName == "" {
		return fail(f, fmt.Errorf("%w: certificate names no identity", ErrSignature))
	}
	stripSANCritical(leaf)
	if len(tm.Sources) == 0 {
		return fail(f, fmt.Errorf("%w: keyless signature but no trusted root is configured", ErrNoTrust))
	}
	var errs []string
	for _, src := range tm.Sources {
		if src.Root == nil {
			continue
		}
		tl, err := verifyLegacySET(entry, src.Root)
		if err != nil {
			errs = append(errs, src.Name+": "+err.Error())
			continue
		}
		chains, err := sgverify.VerifyLeafCertificate(e.it, leaf, src.Root)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: certificate not valid at the integrated time %s: %v", src.Name, e.it.Format(time.RFC3339), err))
			continue
		}
		requireSCT := len(src.Root.CTLogs()) > 0
		if opts.RequireSCT != nil {
			requireSCT = *opts.RequireSCT
		}
		if requireSCT {
			if err := sgverify.VerifySignedCertificateTimestamp(chains, 1, src.Root); err != nil {
				errs = append(errs, src.Name+": "+err.Error())
				continue
			}
		}
		note := e.note
		if !requireSCT {
			note = addNote(note, "no signed certificate timestamp required: "+sctWhy(opts))
		}
		f.Status = StatusVerified
		f.Signer = &Signer{Identity: sum.SubjectAlternativeName, Issuer: sum.Issuer}
		f.TrustMaterial = []string{src.Name}
		f.TLog = []TLogProof{e.proof}
		f.Timestamps = []Timestamp{{Kind: "tlog-integrated", Time: e.it, Authority: tl.BaseURL}}
		f.Reason = addNote(f.Reason, addNote(note, "intoto 0.0.1 entry checked by airlock (SET, entry body, certificate chain, DSSE signature)"))
		return f
	}
	return fail(f, fmt.Errorf("%w: %s", ErrSignature, strings.Join(errs, "; ")))
}

// checkIntotoKey is steps 2 and 4 for a key: the entry names a trusted
// key, which signed the envelope, and some trusted root's log made the SET.
func checkIntotoKey(f Finding, e *intotoEntry, env *legacyEnvelope, entry *protorekor.TransparencyLogEntry, tm *TrustMaterial) Finding {
	if e.named.Type != "PUBLIC KEY" {
		return fail(f, fmt.Errorf("%w: key signature but the log entry holds a %s", ErrSignature, e.named.Type))
	}
	if len(tm.Keys) == 0 {
		return fail(f, fmt.Errorf("%w: signed with a key but no public key is trusted", ErrNoTrust))
	}
	var errs []string
	for _, k := range tm.Keys {
		der, err := x509.MarshalPKIXPublicKey(k.Public)
		if err != nil || !bytes.Equal(der, e.named.Bytes) {
			errs = append(errs, k.Name+": not the key the log entry names")
			continue
		}
		if err := verifyDSSESig(env, e.pae, k.Public); err != nil {
			errs = append(errs, k.Name+": "+err.Error())
			continue
		}
		for _, src := range tm.Sources {
			if src.Root == nil {
				continue
			}
			tl, err := verifyLegacySET(entry, src.Root)
			if err != nil {
				errs = append(errs, k.Name+" with "+src.Name+": "+err.Error())
				continue
			}
			kid, _ := keyID(k.Public)
			f.Status = StatusVerified
			f.Signer = tm.keySigner(k, kid)
			f.TrustMaterial = []string{"key:" + k.Name, src.Name}
			f.TLog = []TLogProof{e.proof}
			f.Timestamps = []Timestamp{{Kind: "tlog-integrated", Time: e.it, Authority: tl.BaseURL}}
			f.Reason = addNote(f.Reason, addNote(e.note, "intoto 0.0.1 entry checked by airlock (SET, entry body, DSSE signature)"))
			return f
		}
		if len(tm.Sources) == 0 {
			errs = append(errs, k.Name+": the log entry cannot be checked without a trusted root")
		}
	}
	return fail(f, fmt.Errorf("%w: %s", ErrSignature, strings.Join(errs, "; ")))
}

// verifyLegacySET checks a Rekor v1 signed entry timestamp against the
// trusted root's log with the entry's id, at the entry's integrated time.
func verifyLegacySET(entry *protorekor.TransparencyLogEntry, tr root.TrustedMaterial) (*root.TransparencyLog, error) {
	id := hex.EncodeToString(entry.GetLogId().GetKeyId())
	tl, ok := tr.RekorLogs()[id]
	if !ok || tl == nil {
		return nil, fmt.Errorf("transparency log %s is not in the trusted root", id)
	}
	it := time.Unix(entry.IntegratedTime, 0)
	if tl.ValidityPeriodStart.IsZero() || it.Before(tl.ValidityPeriodStart) || (!tl.ValidityPeriodEnd.IsZero() && it.After(tl.ValidityPeriodEnd)) {
		return nil, fmt.Errorf("log %s key not valid at integrated time %s", id, it.UTC().Format(time.RFC3339))
	}
	set := entry.GetInclusionPromise().GetSignedEntryTimestamp()
	if len(set) == 0 {
		return nil, fmt.Errorf("entry in log %s has no signed entry timestamp", id)
	}
	// RFC 8785 form: keys sorted, no spaces; base64 and hex need no escaping.
	canon := fmt.Sprintf(`{"body":"%s","integratedTime":%d,"logID":"%s","logIndex":%d}`,
		base64.StdEncoding.EncodeToString(entry.CanonicalizedBody), entry.IntegratedTime, id, entry.LogIndex)
	hf := tl.SignatureHashFunc
	if hf == 0 {
		hf = crypto.SHA256
	}
	v, err := signature.LoadVerifier(tl.PublicKey, hf)
	if err != nil {
		return nil, fmt.Errorf("log %s key: %v", id, err)
	}
	if err := v.VerifySignature(bytes.NewReader(set), strings.NewReader(canon)); err != nil {
		return nil, fmt.Errorf("signed entry timestamp from log %s does not verify: %v", id, err)
	}
	return tl, nil
}

// verifyDSSESig accepts the envelope when one of its signatures verifies
// over the PAE with pub.
func verifyDSSESig(env *legacyEnvelope, pae []byte, pub crypto.PublicKey) error {
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return fmt.Errorf("%w: signing key: %v", ErrSignature, err)
	}
	for _, s := range env.Signatures {
		if v.VerifySignature(bytes.NewReader(s.Sig), bytes.NewReader(pae)) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: no DSSE envelope signature verifies with the signing key", ErrSignature)
}

// stripSANCritical drops the critical SAN OID Go leaves unhandled when
// Fulcio issues an OtherName SAN, as sigstore-go's verifier does.
func stripSANCritical(c *x509.Certificate) {
	var keep []asn1.ObjectIdentifier
	for _, oid := range c.UnhandledCriticalExtensions {
		if !oid.Equal(cryptoutils.SANOID) {
			keep = append(keep, oid)
		}
	}
	c.UnhandledCriticalExtensions = keep
}
