package verify

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	rekornote "github.com/sigstore/rekor-tiles/v2/pkg/note"
	rekorverify "github.com/sigstore/rekor-tiles/v2/pkg/verify"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// checkDSSEV002 verifies a bundle whose one log entry is a Rekor v2 dsse
// 0.0.2 entry (cosign 2.6 with Rekor v2), which sigstore-go v1.3.0 rejects.
// It splits the work so that nothing is checked with less rigour:
//   - sigstore-go verifies the bundle without its log entry: DSSE signature,
//     certificate chain at the RFC 3161 time (Rekor v2 has no integrated
//     time, so a TSA timestamp is required), SCTs, subject;
//   - airlock checks that the entry body binds this envelope (payload hash,
//     every signature, the same certificate or key) and, with rekor-tiles'
//     verifier, that the entry is included in a checkpoint signed by a log
//     of the trusted root (origin = the log's host name).
func checkDSSEV002(f Finding, pb *protobundle.Bundle, art func() sgverify.ArtifactPolicyOption, tm *TrustMaterial, opts Options) Finding {
	env := pb.GetDsseEnvelope()
	tle := pb.GetVerificationMaterial().GetTlogEntries()[0]
	if env == nil {
		return fail(f, fmt.Errorf("%w: dsse 0.0.2 entry on a bundle without a DSSE envelope", ErrMalformedEvidence))
	}
	if tle.GetInclusionProof().GetCheckpoint().GetEnvelope() == "" || tle.GetLogId() == nil || tle.LogIndex < 0 {
		return fail(f, fmt.Errorf("%w: Rekor v2 entry without inclusion proof, checkpoint or log id", ErrMalformedEvidence))
	}
	entryKeys, err := dsseV002Binding(pb, env, tle)
	if err != nil {
		return fail(f, err)
	}
	stripped, ok := proto.Clone(pb).(*protobundle.Bundle)
	if !ok {
		return fail(f, fmt.Errorf("%w: copying bundle", ErrMalformedEvidence))
	}
	stripped.VerificationMaterial.TlogEntries = nil
	b, err := bundle.NewBundle(stripped)
	if err != nil {
		return fail(f, fmt.Errorf("%w: sigstore bundle: %v", ErrMalformedEvidence, err))
	}
	logID := hex.EncodeToString(tle.LogId.KeyId)
	check := v002Inclusion(tle, logID, entryKeys)
	f = verifyEntity(f, b, art, tm, opts, check)
	if f.Status == StatusVerified {
		// The log's key must have been valid when the TSA says it signed.
		for _, src := range tm.Sources {
			if src.Root == nil || !contains(f.TrustMaterial, src.Name) {
				continue
			}
			tl := src.Root.RekorLogs()[logID]
			for _, ts := range f.Timestamps {
				if tl.ValidityPeriodStart.IsZero() || ts.Time.Before(tl.ValidityPeriodStart) || (!tl.ValidityPeriodEnd.IsZero() && ts.Time.After(tl.ValidityPeriodEnd)) {
					return fail(f, fmt.Errorf("%w: log %s key not valid at the signing time %s", ErrSignature, logID, ts.Time.Format(time.RFC3339)))
				}
			}
		}
		f.Reason = addNote(f.Reason, "Rekor v2 dsse 0.0.2 entry checked by airlock (entry body against the envelope, inclusion proof against the signed checkpoint)")
	}
	return f
}

// dsseV002Binding checks that a dsse 0.0.2 entry body binds this envelope:
// its payload hash, every signature, and the bundle's certificate; for a
// key bundle it returns the verifier keys the entry names.
func dsseV002Binding(pb *protobundle.Bundle, env *protodsse.Envelope, tle *protorekor.TransparencyLogEntry) ([][]byte, error) {
	var entry rekortilespb.Entry
	if err := protojson.Unmarshal(tle.CanonicalizedBody, &entry); err != nil {
		return nil, fmt.Errorf("%w: dsse 0.0.2 entry body: %v", ErrMalformedEvidence, err)
	}
	spec := entry.GetSpec().GetDsseV002()
	if entry.Kind != "dsse" || entry.ApiVersion != "0.0.2" || spec == nil {
		return nil, fmt.Errorf("%w: entry body is %s %s, labelled dsse 0.0.2", ErrMalformedEvidence, entry.Kind, entry.ApiVersion)
	}
	sum := sha256.Sum256(env.Payload)
	if ph := spec.GetPayloadHash(); ph.GetAlgorithm() != protocommon.HashAlgorithm_SHA2_256 || !bytes.Equal(ph.GetDigest(), sum[:]) {
		return nil, fmt.Errorf("%w: the log entry records payload hash %s %x, the envelope payload hashes to sha256 %x", ErrSignature, ph.GetAlgorithm(), ph.GetDigest(), sum)
	}
	if len(spec.Signatures) != len(env.Signatures) || len(env.Signatures) == 0 {
		return nil, fmt.Errorf("%w: the log entry records %d signatures, the envelope has %d", ErrSignature, len(spec.Signatures), len(env.Signatures))
	}
	var leafDER []byte
	switch c := pb.GetVerificationMaterial().GetContent().(type) {
	case *protobundle.VerificationMaterial_Certificate:
		leafDER = c.Certificate.GetRawBytes()
	case *protobundle.VerificationMaterial_X509CertificateChain:
		if cs := c.X509CertificateChain.GetCertificates(); len(cs) > 0 {
			leafDER = cs[0].GetRawBytes()
		}
	}
	var entryKeys [][]byte // verifier public keys named by the entry (key bundles)
	for _, es := range env.Signatures {
		found := false
		for _, ls := range spec.Signatures {
			if !bytes.Equal(ls.GetContent(), es.Sig) {
				continue
			}
			found = true
			if leafDER != nil {
				if !bytes.Equal(ls.GetVerifier().GetX509Certificate().GetRawBytes(), leafDER) {
					return nil, fmt.Errorf("%w: the log entry names another certificate than the bundle", ErrSignature)
				}
			} else {
				entryKeys = append(entryKeys, ls.GetVerifier().GetPublicKey().GetRawBytes())
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: an envelope signature is not in the log entry", ErrSignature)
		}
	}
	return entryKeys, nil
}

// v002Inclusion returns the check of a Rekor v2 entry against one trust
// source (and key): the entry names that key, the log is in the trusted
// root, and the entry is included in a checkpoint the log signed (origin:
// the log's host name).
func v002Inclusion(tle *protorekor.TransparencyLogEntry, logID string, entryKeys [][]byte) func(TrustSource, *Key) ([]TLogProof, error) {
	return func(src TrustSource, k *Key) ([]TLogProof, error) {
		if k != nil {
			der, err := x509.MarshalPKIXPublicKey(k.Public)
			if err != nil {
				return nil, err
			}
			for _, ek := range entryKeys {
				if !bytes.Equal(ek, der) {
					return nil, fmt.Errorf("the log entry names another key than %s", k.Name)
				}
			}
		}
		tl, ok := src.Root.RekorLogs()[logID]
		if !ok || tl == nil {
			return nil, fmt.Errorf("transparency log %s is not in the trusted root", logID)
		}
		u, err := url.Parse(tl.BaseURL)
		if err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("log %s has no base URL to derive its checkpoint origin from", logID)
		}
		hf := tl.SignatureHashFunc
		if hf == 0 {
			hf = crypto.SHA256
		}
		sv, err := signature.LoadVerifier(tl.PublicKey, hf)
		if err != nil {
			return nil, fmt.Errorf("log %s key: %v", logID, err)
		}
		nv, err := rekornote.NewNoteVerifier(u.Hostname(), sv)
		if err != nil {
			return nil, fmt.Errorf("log %s note verifier: %v", logID, err)
		}
		if err := rekorverify.VerifyLogEntry(tle, nv); err != nil {
			return nil, fmt.Errorf("dsse 0.0.2 entry in log %s: %v", logID, err)
		}
		return []TLogProof{{LogID: logID, LogIndex: tle.LogIndex, Proof: "inclusion-proof", EntryKind: "dsse 0.0.2"}}, nil
	}
}
