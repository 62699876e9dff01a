package verify

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Policy schema identifiers. A policy document must carry both.
const (
	PolicyAPIVersion = "airlock.dev/v1"
	PolicyKind       = "Policy"
)

// MaxPolicySize caps a policy document (bytes).
const MaxPolicySize = 1 << 20

// Action is what happens to an image that no rule matches.
type Action string

const (
	// ActionRefuse refuses images no rule matches (the default).
	ActionRefuse Action = "refuse"
	// ActionAllow lets them through unverified; every such image is
	// reported with the verdict "allowed-by-default" and a warning.
	ActionAllow Action = "allow"
)

// Requirement says whether a proof is required. The empty value means the
// documented default of the field.
type Requirement string

const (
	Required Requirement = "required"
	Optional Requirement = "optional"
)

// PlatformMode says how the signatures of a multi-platform image count.
type PlatformMode string

const (
	// PlatformsIndexOrEach (the default): enough signatures covering the
	// image index digest satisfy the requirement; failing that, every
	// platform manifest must be covered (by its own signatures together
	// with those on the index).
	PlatformsIndexOrEach PlatformMode = "index-or-each"
	// PlatformsAll: every platform manifest must itself carry enough
	// satisfying signatures; signatures on the index do not count for it.
	PlatformsAll PlatformMode = "all"
)

// Policy says which images may cross and who must vouch for them. Build one
// with ParsePolicy or PolicyFromFlags: they validate it and compile its
// patterns, expressions and conditions. A Policy is immutable once built and
// safe for concurrent use.
type Policy struct {
	// Description is the document's free text.
	Description string
	// DefaultAction applies to images no rule matches.
	DefaultAction Action
	// Rules, in file order. Every rule whose images match an image applies
	// to it, and all of them must be satisfied.
	Rules []Rule
	// BundleSigners, from the top-level bundle: section, are the signers
	// one of whom must have signed the bundle itself (bundle_signature.go).
	// Empty: a bundle signature is reported but not required.
	BundleSigners []Identity

	compiled bool
}

// Rule is one entry of a policy's rules list.
type Rule struct {
	Name        string
	Description string
	// Images are the globs of the images the rule applies to.
	Images []string
	// Signers accepted for image signatures.
	Signers []Identity
	// Threshold is how many distinct signers (distinct key ids, or
	// distinct issuer+subject pairs) must have signed the image. 0 requires
	// no image signature: allowed only when the rule lists attestations,
	// which then carry the rule (images that are only attested).
	Threshold int
	// TLog: required or optional. Empty means required for keyless
	// signatures and optional (but reported) for key signatures.
	TLog Requirement
	// Timestamp: required means an RFC 3161 timestamp from a trusted
	// authority must back the signature. Empty means optional.
	Timestamp Requirement
	// Platforms says how multi-platform images are covered.
	Platforms PlatformMode
	// Attestations that must be present.
	Attestations []AttestationRequirement

	patterns []*imagePattern
}

// AttestationRequirement asks for a verified attestation of one predicate
// type, signed by one of Signers, whose statement satisfies Condition.
type AttestationRequirement struct {
	Name          string
	PredicateType string
	// Signers accepted for this attestation; when the policy file omits
	// them, the rule's signers.
	Signers []Identity
	// Condition is a CEL expression over predicate, statement, subject and
	// image; empty means no condition.
	Condition string

	cond *celCondition
}

// The document schema: what a policy file may contain. checkShape rejects
// every other field.
type policyDoc struct {
	APIVersion    string     `json:"apiVersion"`
	Kind          string     `json:"kind"`
	Description   string     `json:"description"`
	DefaultAction string     `json:"defaultAction"`
	Rules         []ruleDoc  `json:"rules"`
	Bundle        *bundleDoc `json:"bundle"`
}

type ruleDoc struct {
	Name         string           `json:"name"`
	Description  string           `json:"description"`
	Images       []string         `json:"images"`
	Signers      []Identity       `json:"signers"`
	Threshold    *int             `json:"threshold"`
	TLog         string           `json:"tlog"`
	Timestamp    string           `json:"timestamp"`
	Platforms    string           `json:"platforms"`
	Attestations []attestationDoc `json:"attestations"`
}

type attestationDoc struct {
	Name          string     `json:"name"`
	PredicateType string     `json:"predicateType"`
	Signers       []Identity `json:"signers"`
	Condition     string     `json:"condition"`
}

// PolicyOption configures ParsePolicy and PolicyFromFlags.
type PolicyOption func(*policyConfig)

type policyConfig struct {
	costLimit uint64
	logger    *slog.Logger
}

// WithCELCostLimit sets the runtime cost limit of every attestation
// condition (default DefaultCELCostLimit; 0 keeps the default).
func WithCELCostLimit(limit uint64) PolicyOption {
	return func(c *policyConfig) {
		if limit > 0 {
			c.costLimit = limit
		}
	}
}

// WithPolicyLogger sets a logger for load-time notes (defaults that were
// applied, defaultAction allow). The default discards.
func WithPolicyLogger(l *slog.Logger) PolicyOption {
	return func(c *policyConfig) {
		if l != nil {
			c.logger = l
		}
	}
}

func newPolicyConfig(opts []PolicyOption) policyConfig {
	c := policyConfig{costLimit: DefaultCELCostLimit, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// ParsePolicy reads a policy document (YAML, or JSON which is YAML) of
// schema airlock.dev/v1, refusing unknown fields, and compiles it: image
// globs, identity expressions and CEL conditions are checked here, so a
// policy that loads can be evaluated. Errors wrap ErrInvalidPolicy and a
// more specific sentinel and name the field path.
func ParsePolicy(data []byte, opts ...PolicyOption) (*Policy, error) {
	cfg := newPolicyConfig(opts)
	if len(data) > MaxPolicySize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrPolicyTooLarge, len(data), MaxPolicySize)
	}
	var doc policyDoc
	if err := decodeStrict(data, &doc); err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	p, err := doc.build(cfg)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	return p, nil
}

func (doc *policyDoc) build(cfg policyConfig) (*Policy, error) {
	if doc.APIVersion != PolicyAPIVersion {
		return nil, fmt.Errorf("apiVersion: %w: %q, want %q", ErrPolicyVersion, doc.APIVersion, PolicyAPIVersion)
	}
	if doc.Kind != PolicyKind {
		return nil, fmt.Errorf("kind: %w: %q, want %q", ErrPolicyVersion, doc.Kind, PolicyKind)
	}
	p := &Policy{DefaultAction: ActionRefuse, Description: doc.Description}
	switch Action(doc.DefaultAction) {
	case "", ActionRefuse:
	case ActionAllow:
		p.DefaultAction = ActionAllow
		cfg.logger.Warn("policy lets images no rule matches through unverified", "defaultAction", "allow")
	default:
		return nil, fmt.Errorf("defaultAction: %w: %q, want refuse or allow", ErrInvalidValue, doc.DefaultAction)
	}
	if len(doc.Rules) == 0 && p.DefaultAction != ActionAllow {
		return nil, fmt.Errorf("rules: %w: a policy needs at least one rule", ErrMissingField)
	}
	names := map[string]int{}
	for i, rd := range doc.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		r, err := rd.build(path, cfg)
		if err != nil {
			return nil, err
		}
		if j, dup := names[r.Name]; dup {
			return nil, fmt.Errorf("%s.name: %w: %q is also the name of rules[%d]", path, ErrInvalidValue, r.Name, j)
		}
		names[r.Name] = i
		p.Rules = append(p.Rules, r)
	}
	if err := doc.Bundle.build(p); err != nil {
		return nil, err
	}
	p.compiled = true
	return p, nil
}

func (rd *ruleDoc) build(path string, cfg policyConfig) (Rule, error) {
	r := Rule{
		Name:        rd.Name,
		Description: rd.Description,
		Images:      rd.Images,
		Signers:     rd.Signers,
		Threshold:   1,
		TLog:        Requirement(rd.TLog),
		Timestamp:   Requirement(rd.Timestamp),
		Platforms:   PlatformMode(rd.Platforms),
	}
	if strings.TrimSpace(r.Name) == "" {
		return r, fmt.Errorf("%s.name: %w: every rule needs a name (it appears in reports)", path, ErrMissingField)
	}
	path = fmt.Sprintf("%s (%q)", path, r.Name)
	if len(r.Images) == 0 {
		return r, fmt.Errorf("%s.images: %w: list the image globs the rule applies to (\"**\" for all)", path, ErrMissingField)
	}
	for i, g := range r.Images {
		pat, err := compilePattern(g, fmt.Sprintf("%s.images[%d]", path, i))
		if err != nil {
			return r, err
		}
		r.patterns = append(r.patterns, pat)
	}
	if rd.Threshold != nil {
		r.Threshold = *rd.Threshold
	}
	switch {
	case r.Threshold < 0:
		return r, fmt.Errorf("%s.threshold: %w: %d, want 0 or more", path, ErrInvalidValue, r.Threshold)
	case r.Threshold == 0 && len(rd.Attestations) == 0:
		return r, fmt.Errorf("%s.threshold: %w: 0 requires no image signature, so the rule must list at least one attestation", path, ErrInvalidValue)
	}
	ownSigners := len(rd.Attestations) > 0 && !slices.ContainsFunc(rd.Attestations, func(a attestationDoc) bool { return len(a.Signers) == 0 })
	if len(r.Signers) == 0 && !(r.Threshold == 0 && ownSigners) {
		return r, fmt.Errorf("%s.signers: %w: a rule needs at least one signer (with threshold: 0, unless every attestation names its own)", path, ErrMissingField)
	}
	if err := compileIdentities(r.Signers, path+".signers"); err != nil {
		return r, err
	}
	if allExact(r.Signers) && r.Threshold > len(distinctIdentities(r.Signers)) {
		return r, fmt.Errorf("%s.threshold: %w: %d distinct signers required but only %d listed", path, ErrInvalidValue, r.Threshold, len(distinctIdentities(r.Signers)))
	}
	if err := checkRequirement(r.TLog, path+".tlog"); err != nil {
		return r, err
	}
	if err := checkRequirement(r.Timestamp, path+".timestamp"); err != nil {
		return r, err
	}
	switch r.Platforms {
	case "":
		r.Platforms = PlatformsIndexOrEach
	case PlatformsIndexOrEach, PlatformsAll:
	default:
		return r, fmt.Errorf("%s.platforms: %w: %q, want all or index-or-each", path, ErrInvalidValue, rd.Platforms)
	}
	seen := map[string]bool{}
	for i, ad := range rd.Attestations {
		apath := fmt.Sprintf("%s.attestations[%d]", path, i)
		a := AttestationRequirement{Name: ad.Name, PredicateType: ad.PredicateType, Signers: ad.Signers, Condition: ad.Condition}
		if a.PredicateType == "" {
			return r, fmt.Errorf("%s.predicateType: %w", apath, ErrMissingField)
		}
		if a.Name == "" {
			a.Name = a.PredicateType
		}
		if seen[a.Name] {
			return r, fmt.Errorf("%s.name: %w: %q is used twice in this rule", apath, ErrInvalidValue, a.Name)
		}
		seen[a.Name] = true
		if len(a.Signers) == 0 {
			a.Signers = r.Signers
		} else if err := compileIdentities(a.Signers, apath+".signers"); err != nil {
			return r, err
		}
		if strings.TrimSpace(a.Condition) != "" {
			c, err := compileCondition(a.Condition, fmt.Sprintf("%s.condition (rule %q, attestation %q)", apath, r.Name, a.Name), cfg.costLimit)
			if err != nil {
				return r, err
			}
			a.cond = c
		}
		r.Attestations = append(r.Attestations, a)
	}
	return r, nil
}

func compileIdentities(ids []Identity, path string) error {
	for i := range ids {
		if err := ids[i].compile(fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	return nil
}

func checkRequirement(r Requirement, path string) error {
	switch r {
	case "", Required, Optional:
		return nil
	}
	return fmt.Errorf("%s: %w: %q, want required or optional", path, ErrInvalidValue, string(r))
}

func allExact(ids []Identity) bool {
	for _, id := range ids {
		if !id.exact() {
			return false
		}
	}
	return true
}

func distinctIdentities(ids []Identity) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		if id.Key != "" {
			m["key\x00"+id.Key] = true
		} else {
			m["keyless\x00"+id.Issuer+"\x00"+id.Subject] = true
		}
	}
	return m
}

// Warnings lists the choices in the policy that weaken verification, for
// the caller to show loudly before anything is imported: defaultAction
// allow, and keyless signers accepted without a transparency log entry.
func (p *Policy) Warnings() []string {
	var out []string
	if p.DefaultAction == ActionAllow {
		out = append(out, "defaultAction: allow: images no rule matches are let through WITHOUT verification")
	}
	for _, r := range p.Rules {
		if r.TLog != Optional {
			continue
		}
		if slices.ContainsFunc(r.Signers, func(id Identity) bool { return !id.IsKey() }) {
			out = append(out, fmt.Sprintf("rule %q: tlog: optional: keyless signatures are accepted without a transparency log entry", r.Name))
		}
	}
	return out
}

// KeyFiles lists, in order of first appearance and without repeats, the
// key names the policy's signers refer to (rules' and attestations'
// signers). The caller loads each file and adds it to TrustMaterial.Keys
// under exactly that name; relative names are relative to the directory of
// the policy file (this package reads no files).
func (p *Policy) KeyFiles() []string {
	var out []string
	seen := map[string]bool{}
	add := func(ids []Identity) {
		for _, id := range ids {
			if id.Key != "" && !seen[id.Key] {
				seen[id.Key] = true
				out = append(out, id.Key)
			}
		}
	}
	add(p.BundleSigners)
	for _, r := range p.Rules {
		add(r.Signers)
		for _, a := range r.Attestations {
			add(a.Signers)
		}
	}
	return out
}

// Flags are cosign-style command-line options for a quick policy of one
// rule that matches every image.
type Flags struct {
	// Key is --key: the name of a trusted public key.
	Key string
	// CertificateIdentity is --certificate-identity (exact subject).
	CertificateIdentity string
	// CertificateIdentityRegexp is --certificate-identity-regexp (anchored here).
	CertificateIdentityRegexp string
	// CertificateOIDCIssuer is --certificate-oidc-issuer (exact issuer).
	CertificateOIDCIssuer string
	// CertificateOIDCIssuerRegexp is --certificate-oidc-issuer-regexp (anchored here).
	CertificateOIDCIssuerRegexp string
	// Type is cosign's --type: a short name (ParsePredicateType) or a
	// predicate type URI. When set, the signer must have made a verified
	// attestation of that type for the image, instead of a signature, as
	// `cosign verify-attestation --type` checks.
	Type string
}

// FlagsRuleName is the name of the rule PolicyFromFlags builds.
const FlagsRuleName = "command-line"

// PolicyFromFlags builds a policy of one rule named FlagsRuleName that
// matches every image ("**") and requires one signature by the key, or by
// the keyless identity, the flags name; with Type, instead of a signature,
// a verified attestation of that predicate type by that signer (the rule
// has threshold 0 and one attestation). Key and keyless flags exclude each
// other, as in cosign. Defaults are those of a policy file: a transparency
// log entry is required for keyless signatures and optional for key ones.
func PolicyFromFlags(f Flags, opts ...PolicyOption) (*Policy, error) {
	cfg := newPolicyConfig(opts)
	var predicateType string
	if f.Type != "" {
		var err error
		if predicateType, err = ParsePredicateType(f.Type); err != nil {
			return nil, err
		}
	}
	keyless := f.CertificateIdentity != "" || f.CertificateIdentityRegexp != "" ||
		f.CertificateOIDCIssuer != "" || f.CertificateOIDCIssuerRegexp != ""
	switch {
	case f.Key != "" && keyless:
		return nil, fmt.Errorf("%w: --key and --certificate-* flags exclude each other", ErrInvalidFlags)
	case f.Key == "" && !keyless:
		return nil, fmt.Errorf("%w: give --key, or --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp], or a policy file", ErrInvalidFlags)
	}
	if f.Key == "" {
		switch {
		case f.CertificateIdentity != "" && f.CertificateIdentityRegexp != "":
			return nil, fmt.Errorf("%w: --certificate-identity and --certificate-identity-regexp exclude each other", ErrInvalidFlags)
		case f.CertificateOIDCIssuer != "" && f.CertificateOIDCIssuerRegexp != "":
			return nil, fmt.Errorf("%w: --certificate-oidc-issuer and --certificate-oidc-issuer-regexp exclude each other", ErrInvalidFlags)
		case f.CertificateIdentity == "" && f.CertificateIdentityRegexp == "":
			return nil, fmt.Errorf("%w: keyless verification needs --certificate-identity or --certificate-identity-regexp", ErrInvalidFlags)
		case f.CertificateOIDCIssuer == "" && f.CertificateOIDCIssuerRegexp == "":
			return nil, fmt.Errorf("%w: keyless verification needs --certificate-oidc-issuer or --certificate-oidc-issuer-regexp", ErrInvalidFlags)
		}
		for flag, expr := range map[string]string{
			"--certificate-identity-regexp":    f.CertificateIdentityRegexp,
			"--certificate-oidc-issuer-regexp": f.CertificateOIDCIssuerRegexp,
		} {
			if _, err := compileAnchored(expr); expr != "" && err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrInvalidFlags, flag, err)
			}
		}
	}
	id := Identity{
		Key:           f.Key,
		Issuer:        f.CertificateOIDCIssuer,
		IssuerRegExp:  f.CertificateOIDCIssuerRegexp,
		Subject:       f.CertificateIdentity,
		SubjectRegExp: f.CertificateIdentityRegexp,
	}
	doc := policyDoc{
		APIVersion: PolicyAPIVersion,
		Kind:       PolicyKind,
		Rules:      []ruleDoc{{Name: FlagsRuleName, Images: []string{"**"}, Signers: []Identity{id}}},
	}
	if predicateType != "" {
		zero := 0
		doc.Rules[0].Threshold = &zero
		doc.Rules[0].Attestations = []attestationDoc{{PredicateType: predicateType}}
	}
	p, err := doc.build(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidFlags, err)
	}
	return p, nil
}
