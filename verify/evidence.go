package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/airlock-oci/airlock/artifact"
)

// MaxEvidenceSize caps the evidence bytes Check and CheckBundle parse
// (a layer, an envelope or a bundle); larger evidence fails.
const MaxEvidenceSize = 32 << 20

// MaxClockSkew is how far past the verification time (Options.Now) a
// transparency log's integrated time or an RFC 3161 timestamp may lie
// before the evidence fails as dated in the future: clocks of logs, TSAs
// and verifiers drift by seconds, never by minutes.
const MaxClockSkew = 2 * time.Minute

// MaxAnnotationSize caps each annotation value Check parses.
const MaxAnnotationSize = 1 << 20

// Options tunes Check and CheckBundle. The zero value is the strict default.
type Options struct {
	// Now is the verifier's clock. It is never used for certificates (only
	// signed times from a log or a TSA are); it is the time as of which a
	// key signature without any observer timestamp is accepted, and is
	// reported in that case. Zero means time.Now().
	Now time.Time
	// RequireSCT says whether keyless certificates must carry a signed
	// certificate timestamp from a trusted CT log. nil: required exactly
	// when the trust source lists CT logs (private Sigstore deployments
	// without CT have none), and the Finding's Reason says when it was not.
	RequireSCT *bool
}

// Artifact is what a signature is checked against: its bytes, or only its
// digest ("sha256:<hex>"). When both are set the bytes must match the
// digest.
type Artifact struct {
	Bytes  []byte
	Digest string
}

// Annotation keys legacy cosign layers and Sigstore bundle referrers carry.
const (
	annSignature   = "dev.cosignproject.cosign/signature"
	annCertificate = "dev.sigstore.cosign/certificate"
	annChain       = "dev.sigstore.cosign/chain"
	annBundle      = "dev.sigstore.cosign/bundle"
	annRFC3161     = "dev.sigstore.cosign/rfc3161timestamp"
	annPredicate   = "predicateType"
	annBKPredicate = "in-toto.io/predicate-type"
	// annBundlePredicate is the predicate type cosign writes on a Sigstore
	// bundle referrer; only ever a claim (the statement is authoritative).
	annBundlePredicate = "dev.sigstore.bundle.predicateType"
)

// Check verifies one piece of evidence against the trust material, offline
// and without side effects, and says what it proves. It never reports
// StatusVerified without a Signer, and never panics: hostile input yields
// StatusFailed (or StatusUnverifiable for formats this version cannot check)
// with a Reason naming what was wrong.
//
// Check does not apply the operator's policy (which identities, which
// predicate types): that is the policy engine's job, using Finding.Signer,
// Covers and PredicateType.
//
// A log's integrated time or an RFC 3161 time later than opts.Now plus
// MaxClockSkew fails the evidence: nothing can have been signed or logged
// after the moment it is judged.
//
// Check is safe for concurrent use.
func Check(ev Evidence, tm *TrustMaterial, opts Options) Finding {
	return checkTimes(check(ev, tm, opts), opts)
}

func check(ev Evidence, tm *TrustMaterial, opts Options) Finding {
	f := Finding{
		Kind: ev.Kind, Manifest: ev.Manifest, Layer: ev.Layer,
		Subject: ev.Subject, ArtifactType: ev.ArtifactType,
	}
	if tm == nil {
		tm = &TrustMaterial{}
	}
	if len(ev.Data) > MaxEvidenceSize {
		return fail(f, fmt.Errorf("%w: %d bytes > %d", ErrEvidenceTooLarge, len(ev.Data), MaxEvidenceSize))
	}
	for k, v := range ev.Annotations {
		if len(v) > MaxAnnotationSize {
			return fail(f, fmt.Errorf("%w: annotation %s is %d bytes > %d", ErrEvidenceTooLarge, k, len(v), MaxAnnotationSize))
		}
	}
	switch ev.Kind {
	case artifact.KindCosignSignature:
		return checkLegacySignature(f, ev, tm, opts)
	case artifact.KindCosignAttestation:
		return checkLegacyAttestation(f, ev, tm, opts)
	case artifact.KindSigstoreBundle:
		if _, err := parseDigest(ev.Subject); err != nil {
			return fail(f, err)
		}
		g := CheckBundle(ev.Data, Artifact{Digest: ev.Subject}, tm, opts)
		g.Kind, g.Manifest, g.Layer, g.Subject, g.ArtifactType = f.Kind, f.Manifest, f.Layer, f.Subject, f.ArtifactType
		if g.Status != StatusVerified && g.PredicateType == "" {
			g.PredicateType = ev.Annotations[annBundlePredicate]
		}
		return g
	case artifact.KindBuildKitAttestation:
		f.Status = StatusUnsigned
		st, err := parseStatement(ev.Data)
		if err != nil {
			f.Reason = "unsigned; " + err.Error()
			return f
		}
		f.PredicateType, f.Covers, f.Statement = st.PredicateType, st.digests(), ev.Data
		if a := ev.Annotations[annBKPredicate]; a != "" && a != st.PredicateType {
			f.Reason = fmt.Sprintf("unsigned; layer annotation says predicate type %q, the statement says %q", a, st.PredicateType)
		}
		return f
	case artifact.KindCosignSBOM, artifact.KindReferrer:
		f.Status = StatusUnsigned
		return f
	default:
		f.Status = StatusUnverifiable
		f.Reason = fmt.Sprintf("unknown evidence kind %q", ev.Kind)
		return f
	}
}

func fail(f Finding, err error) Finding {
	f.Status = StatusFailed
	f.Reason = err.Error()
	f.Signer, f.Statement, f.TLog, f.Timestamps, f.TrustMaterial = nil, nil, nil, nil, nil
	return f
}

func unverifiable(f Finding, err error) Finding {
	f = fail(f, err)
	f.Status = StatusUnverifiable
	return f
}

// parseDigest checks "sha256:<64 lowercase hex>" and returns the raw digest.
func parseDigest(d string) ([]byte, error) {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return nil, fmt.Errorf("%w: subject %q is not a sha256 digest", ErrMalformedEvidence, d)
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: subject %q: %v", ErrMalformedEvidence, d, err)
	}
	return raw, nil
}

// inTotoStatement is the part of an in-toto statement (v0.1 or v1) the
// checks read.
type inTotoStatement struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
}

func parseStatement(b []byte) (*inTotoStatement, error) {
	if len(b) > MaxEvidenceSize {
		return nil, fmt.Errorf("%w: statement %d bytes > %d", ErrEvidenceTooLarge, len(b), MaxEvidenceSize)
	}
	var st inTotoStatement
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: in-toto statement: %v", ErrMalformedEvidence, err)
	}
	if !strings.HasPrefix(st.Type, "https://in-toto.io/Statement/") {
		return nil, fmt.Errorf("%w: in-toto statement: _type %q is not an in-toto statement", ErrMalformedEvidence, st.Type)
	}
	// in-toto Statement v0.1 and v1 both require predicateType. Without it
	// a statement says nothing checkable, and it must never pass for a
	// signature (only the cosign signing predicate is one).
	if strings.TrimSpace(st.PredicateType) == "" {
		return nil, fmt.Errorf("%w: in-toto statement has no predicateType", ErrMalformedEvidence)
	}
	return &st, nil
}

// digests lists the statement's subjects' sha256 digests as "sha256:<hex>".
func (st *inTotoStatement) digests() []string {
	var out []string
	for _, s := range st.Subject {
		if h, ok := s.Digest["sha256"]; ok {
			out = append(out, "sha256:"+strings.ToLower(h))
		}
	}
	return out
}

// covers reports whether the statement names digest among its subjects.
func (st *inTotoStatement) covers(digest string) bool {
	for _, d := range st.digests() {
		if d == digest {
			return true
		}
	}
	return false
}

func sha256Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// checkTimes fails a verified finding whose log integrated time or
// timestamp lies after the verification time plus MaxClockSkew.
func checkTimes(f Finding, opts Options) Finding {
	if f.Status != StatusVerified {
		return f
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	limit := now.Add(MaxClockSkew)
	for _, p := range f.TLog {
		if p.IntegratedTime.After(limit) {
			return fail(f, fmt.Errorf("%w: log %s entry %d was integrated at %s, after the verification time %s (allowed skew %s)",
				ErrFutureTime, abbrevHex(p.LogID), p.LogIndex, p.IntegratedTime.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), MaxClockSkew))
		}
	}
	for _, t := range f.Timestamps {
		if t.Time.After(limit) {
			return fail(f, fmt.Errorf("%w: %s time %s is after the verification time %s (allowed skew %s)",
				ErrFutureTime, t.Kind, t.Time.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), MaxClockSkew))
		}
	}
	return f
}
