package verify

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Identity is one signer a policy accepts: either a public key the operator
// trusts (Key), or a keyless Fulcio identity (an issuer and a subject, each
// given exactly or as a regular expression).
//
// Regular expressions use Go's RE2 syntax and are anchored at both ends: the
// whole issuer or subject must match, so "release@acme\.com" does not accept
// "evil-release@acme.com.example". (cosign's --certificate-identity-regexp is
// not anchored; write ".*" explicitly where a prefix or suffix may vary.)
//
// The zero Identity matches nothing. An Identity is safe for concurrent use.
type Identity struct {
	// Key is the name of a trusted public key (the path written in the
	// policy file). It matches a Signer whose Key is the same name.
	Key string `json:"key,omitempty"`
	// Issuer is the exact OIDC issuer of a keyless certificate.
	Issuer string `json:"issuer,omitempty"`
	// IssuerRegExp is a fully anchored regular expression for the issuer.
	IssuerRegExp string `json:"issuerRegExp,omitempty"`
	// Subject is the exact subject alternative name (an email, a URI such
	// as a GitHub workflow ref) of a keyless certificate.
	Subject string `json:"subject,omitempty"`
	// SubjectRegExp is a fully anchored regular expression for the subject.
	SubjectRegExp string `json:"subjectRegExp,omitempty"`

	issuerRE  *regexp.Regexp
	subjectRE *regexp.Regexp
}

// IsKey reports whether the identity names a public key rather than a
// keyless identity.
func (id Identity) IsKey() bool { return id.Key != "" }

// Matches reports whether a verified signature's signer is this identity.
// Key identities match on the key name, or on any other name the same key
// (same key id) was loaded under (Signer.Keys); keyless identities need both the
// issuer and the subject to match (exactly, or the anchored expression). A
// keyless identity with no issuer or no subject condition, or an invalid
// expression, matches nothing.
func (id Identity) Matches(s Signer) bool {
	if id.Key != "" {
		return (s.Key != "" && s.Key == id.Key) || slices.Contains(s.Keys, id.Key)
	}
	if s.Key != "" || s.Identity == "" || s.Issuer == "" {
		return false
	}
	return matchField(id.Issuer, id.IssuerRegExp, id.issuerRE, s.Issuer) &&
		matchField(id.Subject, id.SubjectRegExp, id.subjectRE, s.Identity)
}

func matchField(exact, expr string, re *regexp.Regexp, value string) bool {
	switch {
	case exact != "" && expr != "":
		return false // ambiguous: refused at load time, matches nothing here
	case exact != "":
		return value == exact
	case expr != "":
		if re == nil {
			var err error
			if re, err = compileAnchored(expr); err != nil {
				return false
			}
		}
		return re.MatchString(value)
	}
	return false
}

// compileAnchored compiles expr so that it must match the whole input.
func compileAnchored(expr string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// compile validates the identity and compiles its expressions; path names
// the identity in errors (rules[0].signers[1]).
func (id *Identity) compile(path string) error {
	keyless := id.Issuer != "" || id.IssuerRegExp != "" || id.Subject != "" || id.SubjectRegExp != ""
	switch {
	case id.Key != "" && keyless:
		return fmt.Errorf("%s: %w: key and keyless fields (issuer, subject...) exclude each other; write two signers", path, ErrInvalidValue)
	case id.Key != "":
		if strings.TrimSpace(id.Key) != id.Key {
			return fmt.Errorf("%s.key: %w: leading or trailing spaces in %q", path, ErrInvalidValue, id.Key)
		}
		return nil
	case !keyless:
		return fmt.Errorf("%s: %w: a signer needs key, or issuer/issuerRegExp and subject/subjectRegExp", path, ErrMissingField)
	}
	if id.Issuer != "" && id.IssuerRegExp != "" {
		return fmt.Errorf("%s: %w: issuer and issuerRegExp exclude each other", path, ErrInvalidValue)
	}
	if id.Subject != "" && id.SubjectRegExp != "" {
		return fmt.Errorf("%s: %w: subject and subjectRegExp exclude each other", path, ErrInvalidValue)
	}
	if id.Issuer == "" && id.IssuerRegExp == "" {
		return fmt.Errorf("%s: %w: a keyless signer needs issuer or issuerRegExp", path, ErrMissingField)
	}
	if id.Subject == "" && id.SubjectRegExp == "" {
		return fmt.Errorf("%s: %w: a keyless signer needs subject or subjectRegExp", path, ErrMissingField)
	}
	var err error
	if id.IssuerRegExp != "" {
		if id.issuerRE, err = compileAnchored(id.IssuerRegExp); err != nil {
			return fmt.Errorf("%s.issuerRegExp: %w: %v", path, ErrInvalidRegexp, err)
		}
	}
	if id.SubjectRegExp != "" {
		if id.subjectRE, err = compileAnchored(id.SubjectRegExp); err != nil {
			return fmt.Errorf("%s.subjectRegExp: %w: %v", path, ErrInvalidRegexp, err)
		}
	}
	return nil
}

// exact reports whether the identity can match only one signer (a key or
// an exact issuer and subject); used to refuse unsatisfiable thresholds.
func (id Identity) exact() bool {
	return id.Key != "" || (id.IssuerRegExp == "" && id.SubjectRegExp == "")
}

// String describes the identity for reasons and summaries.
func (id Identity) String() string {
	if id.Key != "" {
		return "key " + id.Key
	}
	var b strings.Builder
	b.WriteString("keyless subject ")
	if id.SubjectRegExp != "" {
		fmt.Fprintf(&b, "~/%s/", id.SubjectRegExp)
	} else {
		b.WriteString(id.Subject)
	}
	b.WriteString(" issuer ")
	if id.IssuerRegExp != "" {
		fmt.Fprintf(&b, "~/%s/", id.IssuerRegExp)
	} else {
		b.WriteString(id.Issuer)
	}
	return b.String()
}

// signerID is the identity used to count distinct signers: the key id (or
// the key name when the checker reported no id), or issuer and subject.
func signerID(s *Signer) string {
	if s == nil {
		return ""
	}
	if s.Key != "" || s.KeyID != "" {
		if s.KeyID != "" {
			return "key:" + s.KeyID
		}
		return "keyname:" + s.Key
	}
	return "keyless:" + s.Issuer + "\x00" + s.Identity
}

// describeSigner says who a signer is, for reasons.
func describeSigner(s *Signer) string {
	switch {
	case s == nil:
		return "no signer reported"
	case s.Key != "" || s.KeyID != "":
		if s.KeyID != "" {
			id := s.KeyID
			if len(id) > 12 {
				id = id[:12]
			}
			return fmt.Sprintf("key %s (keyid %s)", s.Key, id)
		}
		return "key " + s.Key
	default:
		return fmt.Sprintf("%s (issuer %s)", s.Identity, s.Issuer)
	}
}
