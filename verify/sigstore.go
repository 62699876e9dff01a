package verify

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/airlock-oci/airlock/artifact"
)

// CheckBundle verifies a Sigstore bundle (v0.1-v0.3, JSON) for artifact:
// a message signature must be over the artifact's bytes or digest, a DSSE
// envelope must hold an in-toto statement with the artifact's digest among
// its subjects. Keyless bundles are checked against each TrustSource in
// turn (SAN and issuer are reported, never matched here); key bundles
// against each Key. Check uses it for KindSigstoreBundle; the conformance
// suite replays through it.
//
// Like Check, it refuses times after opts.Now plus MaxClockSkew.
//
// CheckBundle is pure, offline, never panics and is safe for concurrent use.
func CheckBundle(bundleJSON []byte, artifact Artifact, tm *TrustMaterial, opts Options) Finding {
	return checkTimes(checkBundle(bundleJSON, artifact, tm, opts), opts)
}

func checkBundle(bundleJSON []byte, target Artifact, tm *TrustMaterial, opts Options) Finding {
	f := Finding{Kind: artifact.KindSigstoreBundle, Subject: target.Digest}
	if tm == nil {
		tm = &TrustMaterial{}
	}
	if len(bundleJSON) > MaxEvidenceSize {
		return fail(f, fmt.Errorf("%w: bundle %d bytes > %d", ErrEvidenceTooLarge, len(bundleJSON), MaxEvidenceSize))
	}
	digest := target.Digest
	if target.Bytes != nil {
		d := sha256Digest(target.Bytes)
		if digest != "" && digest != d {
			return fail(f, fmt.Errorf("%w: artifact bytes hash to %s, not %s", ErrSubjectMismatch, d, digest))
		}
		digest = d
		f.Subject = d
	}
	raw, err := parseDigest(digest)
	if err != nil {
		return fail(f, err)
	}
	pb := new(protobundle.Bundle)
	if err := protojson.Unmarshal(bundleJSON, pb); err != nil {
		return fail(f, fmt.Errorf("%w: sigstore bundle: %v", ErrMalformedEvidence, err))
	}
	v2, err := supportedEntries(pb)
	if err != nil {
		return unverifiable(f, err)
	}
	var st *inTotoStatement
	var stJSON []byte
	if env := pb.GetDsseEnvelope(); env != nil {
		if env.PayloadType != "application/vnd.in-toto+json" {
			return fail(f, fmt.Errorf("%w: DSSE payload type %q is not in-toto", ErrMalformedEvidence, env.PayloadType))
		}
		st, err = parseStatement(env.Payload)
		if err != nil {
			return fail(f, err)
		}
		f.PredicateType = st.PredicateType // claimed until verified
		if !st.covers(digest) {
			return fail(f, fmt.Errorf("%w: the signed statement's subjects %v do not include %s", ErrSubjectMismatch, st.digests(), digest))
		}
		stJSON = env.Payload
	}
	art := func() sgverify.ArtifactPolicyOption {
		if target.Bytes != nil {
			return sgverify.WithArtifact(bytes.NewReader(target.Bytes))
		}
		return sgverify.WithArtifactDigest("sha256", raw)
	}
	if v2 {
		f = checkDSSEV002(f, pb, art, tm, opts)
	} else {
		var b bundle.Bundle
		if err := b.UnmarshalJSON(bundleJSON); err != nil {
			return fail(f, fmt.Errorf("%w: sigstore bundle: %v", ErrMalformedEvidence, err))
		}
		f = verifyEntity(f, &b, art, tm, opts, nil)
	}
	if f.Status != StatusVerified {
		return f
	}
	if st != nil {
		f.PredicateType, f.Covers, f.Statement = st.PredicateType, st.digests(), stJSON
	} else {
		f.Covers = []string{digest}
	}
	return f
}

// supportedEntries refuses log entry types sigstore-go v1.3.0 cannot check,
// before it gets to reject them with a confusing message. dsse 0.0.2 (Rekor
// v2, cosign 2.6) is checked by airlock when it is the bundle's only entry:
// v2 reports that.
func supportedEntries(pb *protobundle.Bundle) (v2 bool, err error) {
	entries := pb.GetVerificationMaterial().GetTlogEntries()
	for i, e := range entries {
		kv := e.GetKindVersion()
		if kv == nil {
			continue // sigstore-go's validation reports it
		}
		switch kv.Kind + " " + kv.Version {
		case "hashedrekord 0.0.1", "dsse 0.0.1", "hashedrekord 0.0.2", "intoto 0.0.2":
		case "dsse 0.0.2":
			if len(entries) != 1 {
				return false, fmt.Errorf("%w: tlog entry %d is a Rekor v2 dsse 0.0.2 entry (log %s, index %d) next to other entries; only a lone dsse 0.0.2 entry is checked",
					ErrUnsupportedEntry, i, hex.EncodeToString(e.GetLogId().GetKeyId()), e.GetLogIndex())
			}
			v2 = true
		default:
			return false, fmt.Errorf("%w: tlog entry %d has kind %q version %q", ErrUnsupportedEntry, i, kv.Kind, kv.Version)
		}
	}
	return v2, nil
}

// verifyEntity checks a parsed bundle against every applicable part of the
// trust material and fills Status, Reason, Signer, TLog, Timestamps and
// TrustMaterial. On success the first trust source (or key) that verified
// wins.
//
// logCheck, when not nil, checks log entries sigstore-go cannot (the bundle
// then carries none): it runs for each trust source (and key) that verified
// everything else, and its proofs are reported.
func verifyEntity(f Finding, b *bundle.Bundle, art func() sgverify.ArtifactPolicyOption, tm *TrustMaterial, opts Options, logCheck logChecker) Finding {
	vc, err := b.VerificationContent()
	if err != nil {
		return fail(f, fmt.Errorf("%w: verification material: %v", ErrMalformedEvidence, err))
	}
	entries, err := b.TlogEntries()
	if err != nil {
		return fail(f, fmt.Errorf("%w: transparency log entries: %v", ErrMalformedEvidence, err))
	}
	tss, err := b.Timestamps()
	if err != nil {
		return fail(f, fmt.Errorf("%w: timestamps: %v", ErrMalformedEvidence, err))
	}
	if vc.Certificate() != nil {
		return verifyKeyless(f, b, entries, len(tss) > 0, art, tm, opts, logCheck)
	}
	if vc.PublicKey() != nil {
		return verifyWithKeys(f, b, entries, len(tss) > 0, art, tm, opts, logCheck)
	}
	return fail(f, fmt.Errorf("%w: no certificate or public key", ErrMalformedEvidence))
}

// logChecker verifies log entries for one trust source (and key, nil when
// keyless) and returns what they prove.
type logChecker func(src TrustSource, k *Key) ([]TLogProof, error)

func verifyKeyless(f Finding, b *bundle.Bundle, entries []*tlog.Entry, hasTSA bool, art func() sgverify.ArtifactPolicyOption, tm *TrustMaterial, opts Options, logCheck logChecker) Finding {
	if len(tm.Sources) == 0 {
		return fail(f, fmt.Errorf("%w: keyless signature but no trusted root is configured", ErrNoTrust))
	}
	if len(entries) == 0 && logCheck == nil {
		return fail(f, fmt.Errorf("%w: keyless signature without a transparency log entry: no log vouches for it and its short-lived certificate has no trusted signing time", ErrSignature))
	}
	var errs []string
	for _, src := range tm.Sources {
		if src.Root == nil {
			continue
		}
		requireSCT := len(src.Root.CTLogs()) > 0
		if opts.RequireSCT != nil {
			requireSCT = *opts.RequireSCT
		}
		var vopts []sgverify.VerifierOption
		if logCheck == nil {
			vopts = append(vopts, sgverify.WithTransparencyLog(1))
		}
		observed := false
		if b.HasInclusionPromise() {
			vopts = append(vopts, sgverify.WithIntegratedTimestamps(1))
			observed = true
		}
		if hasTSA {
			vopts = append(vopts, sgverify.WithSignedTimestamps(1))
			observed = true
		}
		if !observed {
			errs = append(errs, src.Name+": no trusted signing time for the certificate (the log entry has no signed entry timestamp and there is no RFC 3161 timestamp)")
			continue
		}
		if requireSCT {
			vopts = append(vopts, sgverify.WithSignedCertificateTimestamps(1))
		}
		res, err := runVerifier(src.Root, vopts, sgverify.NewPolicy(art(), sgverify.WithoutIdentitiesUnsafe()), b)
		if err != nil {
			errs = append(errs, src.Name+": "+diagnose(err, entries, src.Root))
			continue
		}
		if res.Signature == nil || res.Signature.Certificate == nil {
			errs = append(errs, src.Name+": verified without a certificate summary")
			continue
		}
		sum := res.Signature.Certificate
		if sum.SubjectAlternativeName == "" {
			errs = append(errs, src.Name+": certificate names no identity (empty subject alternative name)")
			continue
		}
		proofs := proofsOf(entries, src.Root)
		if logCheck != nil {
			if proofs, err = logCheck(src, nil); err != nil {
				errs = append(errs, src.Name+": "+err.Error())
				continue
			}
		}
		f.Status = StatusVerified
		f.Signer = &Signer{Identity: sum.SubjectAlternativeName, Issuer: sum.Issuer}
		f.TrustMaterial = []string{src.Name}
		f.Timestamps = timestampsOf(res)
		f.TLog = proofs
		if !requireSCT {
			f.Reason = addNote(f.Reason, "no signed certificate timestamp required: "+sctWhy(opts))
		}
		f.Reason = addNote(f.Reason, signingTimeNote(f.Timestamps))
		return f
	}
	return fail(f, fmt.Errorf("%w: %s", ErrSignature, strings.Join(errs, "; ")))
}

// signingTimeNote says, in words, which trusted time the short-lived
// certificate was judged at: a TSA's RFC 3161 timestamp, the log's
// integrated time, or both (Rekor v2 records no time, so there only a
// TSA can vouch).
func signingTimeNote(ts []Timestamp) string {
	var tsa, log bool
	for _, t := range ts {
		switch t.Kind {
		case "rfc3161":
			tsa = true
		case "tlog-integrated":
			log = true
		}
	}
	switch {
	case tsa && log:
		return "certificate valid at the signing time vouched by both a timestamp authority and the log"
	case tsa:
		return "certificate valid at the signing time vouched by a timestamp authority (the log records no time)"
	case log:
		return "certificate valid at the signing time vouched by the log's integrated time (no timestamp authority)"
	}
	return ""
}

func sctWhy(opts Options) string {
	if opts.RequireSCT != nil {
		return "the policy says so"
	}
	return "the trusted root lists no CT logs"
}

func verifyWithKeys(f Finding, b *bundle.Bundle, entries []*tlog.Entry, hasTSA bool, art func() sgverify.ArtifactPolicyOption, tm *TrustMaterial, opts Options, logCheck logChecker) Finding {
	if len(tm.Keys) == 0 {
		return fail(f, fmt.Errorf("%w: signed with a key but no public key is trusted", ErrNoTrust))
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	var errs []string
	tried := map[string]bool{}
	for _, k := range tm.Keys {
		kid, err := keyID(k.Public)
		if err != nil {
			errs = append(errs, k.Name+": "+err.Error())
			continue
		}
		if tried[kid] {
			continue // the same key under another name: keySigner names both
		}
		tried[kid] = true
		v, err := signature.LoadVerifier(k.Public, crypto.SHA256)
		if err != nil {
			errs = append(errs, k.Name+": unusable key: "+err.Error())
			continue
		}
		keyMat := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
			return root.NewExpiringKey(v, time.Time{}, time.Time{}), nil
		})
		pol := func() sgverify.PolicyBuilder { return sgverify.NewPolicy(art(), sgverify.WithKey()) }
		signer := tm.keySigner(k, kid)
		if len(entries) == 0 && !hasTSA && logCheck == nil {
			if _, err := runVerifier(keyMat, []sgverify.VerifierOption{sgverify.WithNoObserverTimestamps()}, pol(), b); err != nil {
				errs = append(errs, k.Name+": "+err.Error())
				continue
			}
			f.Status = StatusVerified
			f.Signer = signer
			f.TrustMaterial = []string{"key:" + k.Name}
			f.Reason = addNote(f.Reason, noObserverNote(now))
			return f
		}
		if len(tm.Sources) == 0 {
			errs = append(errs, k.Name+": the signature carries log entries or timestamps but no trusted root is configured to check them")
			continue
		}
		for _, src := range tm.Sources {
			if src.Root == nil {
				continue
			}
			var vopts []sgverify.VerifierOption
			observed := false
			if len(entries) > 0 {
				vopts = append(vopts, sgverify.WithTransparencyLog(1))
				if b.HasInclusionPromise() {
					vopts = append(vopts, sgverify.WithIntegratedTimestamps(1))
					observed = true
				}
			}
			if hasTSA {
				vopts = append(vopts, sgverify.WithSignedTimestamps(1))
				observed = true
			}
			if !observed {
				vopts = append(vopts, sgverify.WithNoObserverTimestamps())
			}
			res, err := runVerifier(root.TrustedMaterialCollection{keyMat, src.Root}, vopts, pol(), b)
			if err != nil {
				errs = append(errs, k.Name+" with "+src.Name+": "+diagnose(err, entries, src.Root))
				continue
			}
			proofs := proofsOf(entries, src.Root)
			if logCheck != nil {
				if proofs, err = logCheck(src, &k); err != nil {
					errs = append(errs, k.Name+" with "+src.Name+": "+err.Error())
					continue
				}
			}
			f.Status = StatusVerified
			f.Signer = signer
			f.TrustMaterial = []string{"key:" + k.Name, src.Name}
			f.Timestamps = timestampsOf(res)
			f.TLog = proofs
			if len(proofs) == 0 {
				f.Reason = addNote(f.Reason, noLogNote)
			}
			return f
		}
	}
	return fail(f, fmt.Errorf("%w: %s", ErrSignature, strings.Join(errs, "; ")))
}

// noObserverNote is the note on a key signature nothing observed.
func noObserverNote(now time.Time) string {
	sec := now.Unix()
	noObserver.Lock()
	defer noObserver.Unlock()
	if noObserver.note == "" || noObserver.sec != sec {
		// One verification judges every finding as of one time: its
		// thousands of findings share one string.
		noObserver.sec = sec
		noObserver.note = "no transparency log vouches for this signature and no timestamp dates it; accepted with the trusted key as of " + now.UTC().Format(time.RFC3339)
	}
	return noObserver.note
}

// noObserver holds the last note noObserverNote made.
var noObserver struct {
	sync.Mutex
	sec  int64
	note string
}

// noLogNote is the note on a key signature no log observed but a
// timestamp dates.
const noLogNote = "no transparency log vouches for this signature"

func runVerifier(tmat root.TrustedMaterial, vopts []sgverify.VerifierOption, pol sgverify.PolicyBuilder, b *bundle.Bundle) (*sgverify.VerificationResult, error) {
	v, err := sgverify.NewVerifier(tmat, vopts...)
	if err != nil {
		return nil, fmt.Errorf("configuring verifier: %w", err)
	}
	return v.Verify(b, pol)
}

// diagnose adds what sigstore-go leaves out: entries whose log is not in the
// trusted root are skipped silently ("0 < 1"), and so are SETs that do not
// verify.
func diagnose(err error, entries []*tlog.Entry, tmat root.TrustedMaterial) string {
	msg := err.Error()
	logs := tmat.RekorLogs()
	var notes []string
	for i, e := range entries {
		id := hex.EncodeToString([]byte(e.LogKeyID()))
		if _, ok := logs[id]; !ok {
			notes = append(notes, fmt.Sprintf("tlog entry %d: transparency log %s is not in the trusted root", i, id))
			continue
		}
		if e.HasInclusionPromise() && !e.IsRekorV2() {
			if serr := tlog.VerifySET(e, logs); serr != nil {
				notes = append(notes, fmt.Sprintf("tlog entry %d: signed entry timestamp from log %s does not verify: %v", i, id, serr))
			}
		}
	}
	if len(notes) == 0 {
		return msg
	}
	return strings.Join(notes, "; ") + " (" + msg + ")"
}

func timestampsOf(res *sgverify.VerificationResult) []Timestamp {
	var out []Timestamp
	for _, t := range res.VerifiedTimestamps {
		kind := t.Type
		switch t.Type {
		case "Tlog":
			kind = "tlog-integrated"
		case "TimestampAuthority":
			kind = "rfc3161"
		}
		out = append(out, Timestamp{Kind: kind, Time: t.Timestamp.UTC(), Authority: t.URI})
	}
	return out
}

func proofsOf(entries []*tlog.Entry, tmat root.TrustedMaterial) []TLogProof {
	logs := tmat.RekorLogs()
	var out []TLogProof
	for _, e := range entries {
		id := hex.EncodeToString([]byte(e.LogKeyID()))
		if _, ok := logs[id]; !ok {
			continue
		}
		var proofs []string
		if e.HasInclusionPromise() && !e.IsRekorV2() {
			if tlog.VerifySET(e, logs) != nil {
				continue
			}
			proofs = append(proofs, "set")
		}
		if e.HasInclusionProof() {
			proofs = append(proofs, "inclusion-proof")
		}
		p := TLogProof{LogID: id, LogIndex: e.LogIndex(), Proof: strings.Join(proofs, "+")}
		if tle := e.TransparencyLogEntry(); tle != nil {
			if kv := tle.GetKindVersion(); kv != nil {
				p.EntryKind = kv.Kind + " " + kv.Version
			}
			if tle.IntegratedTime > 0 && e.HasInclusionPromise() {
				p.IntegratedTime = time.Unix(tle.IntegratedTime, 0).UTC()
			}
		}
		out = append(out, p)
	}
	return out
}

func addNote(reason, note string) string {
	if note == "" {
		return reason
	}
	if reason == "" {
		return note
	}
	return reason + "; " + note
}
