package verify

import (
	"fmt"
	"slices"
	"strings"

	"github.com/airlock-oci/airlock/artifact"
)

// ImageInput is one image as the policy sees it: its names, digest,
// platform manifests and the findings of every piece of evidence attached
// to it or to its platform manifests.
type ImageInput struct {
	// Reference is the fully qualified reference the image was exported
	// under (registry/repository[:tag][@digest]); its tag is what tag
	// patterns match.
	Reference string
	// Name is the fully qualified repository (registry/repository). When
	// empty it is taken from Reference. A tag or digest on it is split off
	// (the tag is used when Reference has none).
	Name string
	// Digest of the image: the index digest of a multi-platform image.
	Digest string
	// Platforms lists the platform manifests of an image index. Entries
	// with an empty digest or platform "unknown/unknown" (BuildKit
	// attestation manifests) are ignored.
	Platforms []PlatformInput
	// Findings for the image, its platform manifests and their referrers.
	Findings []Finding
	// Index lists the children of the image index at Digest exactly as
	// that (content-addressed) index manifest lists them; the caller reads
	// it from the digest-checked manifest, never from a bundle's own
	// claims. It binds BuildKit attestation manifests to the index: a
	// verified signature on the index vouches for them. nil for a
	// single-platform image.
	Index []IndexEntry
}

// IndexEntry is one descriptor of an image index.
type IndexEntry struct {
	Digest      string            `json:"digest"`
	MediaType   string            `json:"mediaType,omitempty"`
	Platform    string            `json:"platform,omitempty"` // os/arch[/variant]
	Annotations map[string]string `json:"annotations,omitempty"`
}

// BuildKit marks the attestation manifests it puts inside an image index.
const (
	annDockerReferenceType = "vnd.docker.reference.type"
	dockerAttestationType  = "attestation-manifest"
)

// boundAttestations is the set of BuildKit attestation manifests the index
// lists (platform unknown/unknown, vnd.docker.reference.type:
// attestation-manifest): their content is bound by digest to the index.
func boundAttestations(img ImageInput) map[string]bool {
	m := map[string]bool{}
	for _, e := range img.Index {
		if e.Platform == "unknown/unknown" && e.Annotations[annDockerReferenceType] == dockerAttestationType {
			m[strings.ToLower(e.Digest)] = true
		}
	}
	return m
}

// PlatformInput is one platform manifest of an image index.
type PlatformInput struct {
	Platform string `json:"platform"` // os/arch[/variant]
	Digest   string `json:"digest"`
}

// CosignSignPredicateType is the predicate type `cosign sign
// --new-bundle-format` uses: such a DSSE bundle is a signature, not an
// attestation.
const CosignSignPredicateType = "https://sigstore.dev/cosign/sign/v1"

// Requirement names used in RuleResult.Requirement.
const (
	RequirementSignatures    = "signatures"
	RequirementAttestation   = "attestation" // followed by a space and the attestation's name
	RequirementDefaultAction = "default-action"
)

// Evaluate applies the policy to one image. Every rule whose images match
// applies and each of its requirements yields one RuleResult; the image
// passes when every one is satisfied. An image no rule matches is refused,
// or allowed with the verdict "allowed-by-default" when the policy's
// DefaultAction is allow. Evaluate is pure and safe for concurrent use.
func (p *Policy) Evaluate(img ImageInput) ImageResult {
	res := ImageResult{
		Reference: img.Reference,
		Name:      img.Name,
		Digest:    img.Digest,
		Platforms: img.Platforms,
		Findings:  img.Findings,
	}
	if res.Findings == nil {
		res.Findings = []Finding{} // "findings": [] in the report, not null
	}
	if res.Name == "" {
		res.Name = splitReference(img.Reference).name
	}
	if p == nil || !p.compiled {
		res.Rules = []RuleResult{{Name: "policy", Requirement: "policy", Reason: "no policy was loaded (build one with ParsePolicy or PolicyFromFlags): refused"}}
		res.Verdict = VerdictPolicyFailed
		return res
	}
	ref := imageRefOf(img)
	for i := range p.Rules {
		r := &p.Rules[i]
		match := r.match(ref)
		if match == "" {
			continue
		}
		sig := r.evalSignatures(img)
		sig.Match = match
		res.Rules = append(res.Rules, sig)
		for j := range r.Attestations {
			a := r.evalAttestation(&r.Attestations[j], img)
			a.Match = match
			res.Rules = append(res.Rules, a)
		}
	}
	if len(res.Rules) == 0 {
		who := img.Reference
		if who == "" {
			who = ref.name
		}
		if p.DefaultAction == ActionAllow {
			res.Rules = []RuleResult{{
				Name: "defaultAction", Requirement: RequirementDefaultAction, Satisfied: true,
				Reason: fmt.Sprintf("no policy rule matches %s; allowed UNVERIFIED because defaultAction is allow", who),
			}}
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s is not covered by any policy rule and was allowed without verification (defaultAction: allow)", who))
			res.Verdict = VerdictAllowedByDefault
			return res
		}
		res.Rules = []RuleResult{{
			Name: "defaultAction", Requirement: RequirementDefaultAction,
			Reason: fmt.Sprintf("no policy rule matches %s; refused (defaultAction: refuse)", who),
		}}
		res.Verdict = VerdictPolicyFailed
		return res
	}
	res.Verdict = VerdictPass
	for _, rr := range res.Rules {
		if !rr.Satisfied {
			res.Verdict = VerdictPolicyFailed
		}
	}
	return res
}

// match returns the first of the rule's patterns that matches, or "".
func (r *Rule) match(ref imageRef) string {
	for _, p := range r.patterns {
		if p.match(ref) {
			return p.text
		}
	}
	return ""
}

// target is a digest a requirement must be satisfied for.
type evalTarget struct{ label, digest string }

// platformTargets lists the platform manifests that count, once each.
func platformTargets(img ImageInput) []evalTarget {
	var out []evalTarget
	seen := map[string]bool{}
	for _, p := range img.Platforms {
		if p.Digest == "" || p.Platform == "unknown/unknown" || seen[p.Digest] || digestEqual(p.Digest, img.Digest) {
			continue
		}
		seen[p.Digest] = true
		label := p.Platform
		if label == "" {
			label = "platform"
		}
		out = append(out, evalTarget{label: label, digest: p.Digest})
	}
	return out
}

func digestEqual(a, b string) bool { return a != "" && strings.EqualFold(a, b) }

func findingCovers(f *Finding, digest string) bool {
	if digest == "" {
		return false
	}
	for _, c := range f.Covers {
		if digestEqual(c, digest) {
			return true
		}
	}
	return false
}

func isSignatureFinding(f *Finding) bool {
	switch f.Kind {
	case artifact.KindCosignSignature:
		return true
	case artifact.KindSigstoreBundle:
		// A message signature carries no statement; a DSSE bundle is a
		// signature only with the cosign signing predicate. A verified
		// statement without a predicate type is neither.
		if f.PredicateType == CosignSignPredicateType {
			return true
		}
		return f.PredicateType == "" && f.Statement == nil
	}
	return false
}

func isAttestationFinding(f *Finding) bool {
	switch f.Kind {
	case artifact.KindCosignAttestation, artifact.KindBuildKitAttestation:
		return true
	case artifact.KindSigstoreBundle, artifact.KindReferrer, artifact.KindCosignSBOM:
		return f.PredicateType != ""
	}
	return false
}

// admissible says why a finding cannot count for a requirement with the
// given signers under rule r ("" when it can), and any note to report about
// a finding that does count.
func (r *Rule) admissible(f *Finding, signers []Identity) (problem, note string) {
	if f.Status != StatusVerified {
		why := f.Reason
		if why == "" {
			why = "no reason given"
		}
		return fmt.Sprintf("%s %s in %s is %s: %s", f.Kind, abbrevDigest(f.Subject), abbrevDigest(f.Manifest), f.Status, why), ""
	}
	if f.Signer == nil || (f.Signer.Key == "" && f.Signer.KeyID == "" && f.Signer.Identity == "") {
		return fmt.Sprintf("%s in %s is verified but names no signer", f.Kind, abbrevDigest(f.Manifest)), ""
	}
	if !slices.ContainsFunc(signers, func(id Identity) bool { return id.Matches(*f.Signer) }) {
		return fmt.Sprintf("its signer was %s, not an allowed signer", describeSigner(f.Signer)), ""
	}
	keySig := f.Signer.Key != "" || f.Signer.KeyID != ""
	needLog := r.TLog == Required || (r.TLog == "" && !keySig)
	if len(f.TLog) == 0 {
		if needLog {
			return fmt.Sprintf("%s by %s has no transparency log entry (tlog: required)", f.Kind, describeSigner(f.Signer)), ""
		}
		note = fmt.Sprintf("%s by %s has no transparency log entry (tlog optional)", f.Kind, describeSigner(f.Signer))
	}
	if r.Timestamp == Required && !slices.ContainsFunc(f.Timestamps, func(t Timestamp) bool { return t.Kind == "rfc3161" }) {
		return fmt.Sprintf("%s by %s has no RFC 3161 timestamp (timestamp: required)", f.Kind, describeSigner(f.Signer)), ""
	}
	return "", note
}

func abbrevDigest(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

// reasonTally groups reasons so that repeats read "2x ...".
type reasonTally struct {
	order []string
	count map[string]int
}

func (t *reasonTally) add(s string) {
	if s == "" {
		return
	}
	if t.count == nil {
		t.count = map[string]int{}
	}
	if t.count[s] == 0 {
		t.order = append(t.order, s)
	}
	t.count[s]++
}

func (t *reasonTally) String() string {
	parts := make([]string, 0, len(t.order))
	for _, s := range t.order {
		if n := t.count[s]; n > 1 {
			parts = append(parts, fmt.Sprintf("%dx %s", n, s))
		} else {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

func (t *reasonTally) empty() bool { return len(t.order) == 0 }

// signerSet is the distinct signers whose accepted signatures cover a digest.
type signerSet map[string]string // signerID -> description

func (s signerSet) union(o signerSet) signerSet {
	out := signerSet{}
	for k, v := range s {
		out[k] = v
	}
	for k, v := range o {
		out[k] = v
	}
	return out
}

func (s signerSet) String() string {
	names := make([]string, 0, len(s))
	for _, v := range s {
		names = append(names, v)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// acceptedSigs are the signatures of an image a rule counts.
type acceptedSigs struct {
	sigs  []acceptedSig
	count map[string]int // signatures per signer
}

type acceptedSig struct {
	id, desc string
	f        *Finding
}

// on is the set of distinct signers whose accepted signatures cover digest.
func (a *acceptedSigs) on(digest string) signerSet {
	s := signerSet{}
	for _, sig := range a.sigs {
		if findingCovers(sig.f, digest) {
			d := sig.desc
			if n := a.count[sig.id]; n > 1 {
				d = fmt.Sprintf("%s (%d signatures, counted once)", sig.desc, n)
			}
			s[sig.id] = d
		}
	}
	return s
}

// acceptSignatures sorts the image's signature findings: those the rule
// counts (admissible, by one of its signers, covering the image or one of
// its platforms), and why each other one is not counted.
func (r *Rule) acceptSignatures(img ImageInput, plats []evalTarget) (a *acceptedSigs, notCounted, notes reasonTally) {
	a = &acceptedSigs{count: map[string]int{}}
	for i := range img.Findings {
		f := &img.Findings[i]
		if !isSignatureFinding(f) {
			continue
		}
		problem, note := r.admissible(f, r.Signers)
		if problem != "" {
			notCounted.add(problem)
			continue
		}
		relevant := findingCovers(f, img.Digest) || slices.ContainsFunc(plats, func(t evalTarget) bool { return findingCovers(f, t.digest) })
		if !relevant {
			notCounted.add(fmt.Sprintf("verified signature by %s covers %s, not this image", describeSigner(f.Signer), strings.Join(f.Covers, ", ")))
			continue
		}
		notes.add(note)
		id := signerID(f.Signer)
		a.count[id]++
		a.sigs = append(a.sigs, acceptedSig{id: id, desc: describeSigner(f.Signer), f: f})
	}
	return a, notCounted, notes
}

func (r *Rule) evalSignatures(img ImageInput) RuleResult {
	res := RuleResult{Name: r.Name, Requirement: RequirementSignatures}
	if img.Digest == "" {
		res.Reason = "the image has no digest, so no signature can cover it"
		return res
	}
	plats := platformTargets(img)
	accepted, notCounted, notes := r.acceptSignatures(img, plats)
	signersOn := accepted.on
	t := r.Threshold
	var b strings.Builder
	if t == 0 {
		// Only attested: the rule's attestation requirements carry it.
		res.Satisfied = true
		fmt.Fprintf(&b, "threshold: 0: no image signature required; the rule's %d attestation requirement(s) must vouch for the image", len(r.Attestations))
		res.Reason = b.String()
		return res
	}
	if r.Platforms == PlatformsAll && len(plats) > 0 {
		res.Satisfied = true
		fmt.Fprintf(&b, "platforms: all: each of %d platform manifests needs %d signer(s) of its own: ", len(plats), t)
		for i, p := range plats {
			s := signersOn(p.digest)
			if len(s) < t {
				res.Satisfied = false
			}
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s (%s) %s", p.label, p.digest, countPhrase(len(s), t, s))
		}
	} else {
		idx := signersOn(img.Digest)
		switch {
		case len(idx) >= t:
			res.Satisfied = true
			fmt.Fprintf(&b, "%s on %s", countPhrase(len(idx), t, idx), img.Digest)
		case len(plats) == 0:
			fmt.Fprintf(&b, "%s on %s", countPhrase(len(idx), t, idx), img.Digest)
		default:
			res.Satisfied = true
			fmt.Fprintf(&b, "index %s %s; so every platform manifest must be covered: ", img.Digest, countPhrase(len(idx), t, idx))
			for i, p := range plats {
				s := idx.union(signersOn(p.digest))
				if len(s) < t {
					res.Satisfied = false
				}
				if i > 0 {
					b.WriteString("; ")
				}
				fmt.Fprintf(&b, "%s (%s) %s", p.label, p.digest, countPhrase(len(s), t, s))
			}
		}
	}
	if !notCounted.empty() {
		fmt.Fprintf(&b, "; not counted: %s", notCounted.String())
	} else if len(accepted.sigs) == 0 {
		b.WriteString("; no signature found")
	}
	if !notes.empty() {
		fmt.Fprintf(&b, "; note: %s", notes.String())
	}
	res.Reason = b.String()
	return res
}

func countPhrase(n, t int, s signerSet) string {
	if n > t {
		return fmt.Sprintf("%d distinct signers, %d required: %s", n, t, s)
	}
	return fmt.Sprintf("%d of %d required signers: %s", n, t, s)
}

func (r *Rule) evalAttestation(a *AttestationRequirement, img ImageInput) RuleResult {
	res := RuleResult{Name: r.Name, Requirement: RequirementAttestation + " " + a.Name}
	if img.Digest == "" {
		res.Reason = "the image has no digest, so no attestation can cover it"
		return res
	}
	plats := platformTargets(img)
	relevant := append([]evalTarget{{label: "image", digest: img.Digest}}, plats...)
	t := attestationTally{satisfiedFor: map[string]string{}}
	bound := boundAttestations(img)
	for i := range img.Findings {
		f := &img.Findings[i]
		if !isAttestationFinding(f) {
			continue
		}
		if f.PredicateType != a.PredicateType {
			t.otherTypes.add(f.PredicateType)
			continue
		}
		t.found++
		r.countAttestation(&t, f, a, img, relevant, bound)
	}
	res.Satisfied, res.Reason = t.verdict(r, a, img, plats)
	return res
}

// attestationTally is what the attestations of the required type on one
// image amount to.
type attestationTally struct {
	problems, notes, otherTypes reasonTally
	found                       int
	satisfiedFor                map[string]string // digest -> description of the attestation that satisfies it
}

// countAttestation counts one attestation of the required type: admissible
// (signed by a required signer, or an in-index attestation vouched for by
// the index signature), covering the image or some of its platform
// manifests, with the requirement's condition true for each.
func (r *Rule) countAttestation(t *attestationTally, f *Finding, a *AttestationRequirement, img ImageInput, relevant []evalTarget, bound map[string]bool) {
	by, note := "", ""
	if f.Kind == artifact.KindBuildKitAttestation {
		voucher, problem := r.indexVoucher(f, a.Signers, img, bound)
		if problem != "" {
			t.problems.add(problem)
			return
		}
		by = "covered by the index signature of " + describeSigner(voucher.Signer)
	} else {
		var problem string
		if problem, note = r.admissible(f, a.Signers); problem != "" {
			t.problems.add(problem)
			return
		}
		by = "signed by " + describeSigner(f.Signer)
	}
	var hit []evalTarget
	for _, target := range relevant {
		if findingCovers(f, target.digest) {
			hit = append(hit, target)
		}
	}
	if len(hit) == 0 {
		t.problems.add(fmt.Sprintf("it covers %s, not this image or its platform manifests", strings.Join(f.Covers, ", ")))
		return
	}
	var stmt map[string]any
	if a.cond != nil {
		var err error
		if stmt, err = decodeStatement(f.Statement); err != nil {
			t.problems.add(fmt.Sprintf("condition could not be evaluated: %v", err))
			return
		}
	}
	ok := false
	for _, target := range hit {
		if a.cond != nil {
			pass, err := a.cond.evalDecoded(stmt, target.digest, img)
			if err != nil {
				t.problems.add(fmt.Sprintf("condition could not be evaluated for %s: %v", target.digest, err))
				continue
			}
			if !pass {
				t.problems.add(fmt.Sprintf("condition is false for %s", target.digest))
				continue
			}
		}
		ok = true
		if _, done := t.satisfiedFor[target.digest]; !done {
			t.satisfiedFor[target.digest] = by
		}
	}
	if ok {
		t.notes.add(note)
	}
}

// verdict says whether the tally satisfies the requirement (on the image,
// or on every platform manifest; on every one for platforms: all) and why.
func (t *attestationTally) verdict(r *Rule, a *AttestationRequirement, img ImageInput, plats []evalTarget) (bool, string) {
	cond, failCond := "", ""
	if a.cond != nil {
		cond = " with condition true"
		failCond = fmt.Sprintf(" satisfying condition `%s`", a.Condition)
	}
	var missing []string
	for _, p := range plats {
		if _, ok := t.satisfiedFor[p.digest]; !ok {
			missing = append(missing, fmt.Sprintf("%s (%s)", p.label, p.digest))
		}
	}
	satisfied := false
	var b strings.Builder
	switch by, onImage := t.satisfiedFor[img.Digest]; {
	case r.Platforms == PlatformsAll && len(plats) > 0:
		satisfied = len(missing) == 0
		if satisfied {
			fmt.Fprintf(&b, "platforms: all: every platform manifest has a verified %s attestation%s (%s)", a.PredicateType, cond, byPlatform(plats, t.satisfiedFor))
		} else {
			fmt.Fprintf(&b, "platforms: all: no verified %s attestation signed by %s%s for %s", a.PredicateType, identities(a.Signers), failCond, strings.Join(missing, ", "))
		}
	case onImage:
		satisfied = true
		fmt.Fprintf(&b, "verified %s attestation %s%s on %s", a.PredicateType, by, cond, img.Digest)
	case len(plats) > 0 && len(missing) == 0:
		satisfied = true
		fmt.Fprintf(&b, "every platform manifest has a verified %s attestation%s (%s)", a.PredicateType, cond, byPlatform(plats, t.satisfiedFor))
	default:
		fmt.Fprintf(&b, "no verified attestation of type %s signed by %s%s on %s", a.PredicateType, identities(a.Signers), failCond, img.Digest)
		if len(plats) > 0 {
			fmt.Fprintf(&b, " nor on every platform manifest (missing: %s)", strings.Join(missing, ", "))
		}
	}
	if !satisfied {
		switch {
		case t.found == 0 && t.otherTypes.empty():
			b.WriteString("; no attestation of that type was found")
		case t.found == 0:
			fmt.Fprintf(&b, "; no attestation of that type was found (other types present: %s)", t.otherTypes.String())
		case t.problems.empty():
			fmt.Fprintf(&b, "; %d found, but they do not cover every platform manifest", t.found)
		default:
			fmt.Fprintf(&b, "; %d found, not counted: %s", t.found, t.problems.String())
		}
	} else if !t.problems.empty() {
		fmt.Fprintf(&b, "; also found, not counted: %s", t.problems.String())
	}
	if !t.notes.empty() {
		fmt.Fprintf(&b, "; note: %s", t.notes.String())
	}
	return satisfied, b.String()
}

func identities(ids []Identity) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id.String()
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "one of [" + strings.Join(parts, "; ") + "]"
}

// indexVoucher finds, for a BuildKit attestation f (unsigned by itself),
// the verified signature on the image index that vouches for it: f's
// manifest must be one of the index's attestation manifests (so the index
// digest binds its content) and the signature must cover the index digest
// and be admissible for signers under rule r. It returns that signature,
// or why there is none.
func (r *Rule) indexVoucher(f *Finding, signers []Identity, img ImageInput, bound map[string]bool) (*Finding, string) {
	what := fmt.Sprintf("%s %s", f.Kind, abbrevDigest(f.Manifest))
	switch {
	case f.Status != StatusUnsigned || f.Statement == nil:
		why := f.Reason
		if why == "" {
			why = "no statement"
		}
		return nil, fmt.Sprintf("%s is %s: %s", what, f.Status, why)
	case !bound[strings.ToLower(f.Manifest)]:
		return nil, fmt.Sprintf("%s is unsigned and the image index %s does not list it as an attestation manifest", what, abbrevDigest(img.Digest))
	}
	var why reasonTally
	for i := range img.Findings {
		s := &img.Findings[i]
		// A verified signature covers the index; one that failed is
		// reported when it was attached to the index.
		if !isSignatureFinding(s) || !(findingCovers(s, img.Digest) || (s.Status != StatusVerified && digestEqual(s.Subject, img.Digest))) {
			continue
		}
		if problem, _ := r.admissible(s, signers); problem != "" {
			why.add(problem)
			continue
		}
		return s, ""
	}
	if why.empty() {
		return nil, fmt.Sprintf("%s is unsigned and no verified signature on the image index %s vouches for it", what, abbrevDigest(img.Digest))
	}
	return nil, fmt.Sprintf("%s is unsigned and no signature on the image index %s by an allowed signer vouches for it (%s)", what, abbrevDigest(img.Digest), why.String())
}

// byPlatform says, per platform, who vouches for its attestation.
func byPlatform(plats []evalTarget, satisfiedFor map[string]string) string {
	parts := make([]string, 0, len(plats))
	for _, p := range plats {
		parts = append(parts, p.label+": "+satisfiedFor[p.digest])
	}
	return strings.Join(parts, "; ")
}
