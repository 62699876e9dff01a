package verify

import (
	"fmt"
	"net/url"
)

// CosignPredicateTypes maps the short names cosign's --type flag takes to
// predicate type URIs, exactly as cosign v2.6.5 maps them
// (cmd/cosign/cli/options/predicate.go, PredicateTypeMap).
var CosignPredicateTypes = map[string]string{
	"custom":           "https://cosign.sigstore.dev/attestation/v1",
	"slsaprovenance":   "https://slsa.dev/provenance/v0.2",
	"slsaprovenance02": "https://slsa.dev/provenance/v0.2",
	"slsaprovenance1":  "https://slsa.dev/provenance/v1",
	"spdx":             "https://spdx.dev/Document",
	"spdxjson":         "https://spdx.dev/Document",
	"cyclonedx":        "https://cyclonedx.org/bom",
	"link":             "https://in-toto.io/Link/v1",
	"vuln":             "https://cosign.sigstore.dev/attestation/vuln/v1",
	"openvex":          "https://openvex.dev/ns",
}

// ParsePredicateType turns a cosign --type value into a predicate type: a
// short name of CosignPredicateTypes, or else a URI taken as it is
// (cosign's ParsePredicateType: anything url.ParseRequestURI accepts).
func ParsePredicateType(t string) (string, error) {
	if uri, ok := CosignPredicateTypes[t]; ok {
		return uri, nil
	}
	if _, err := url.ParseRequestURI(t); err != nil {
		return "", fmt.Errorf("%w: --type %q: not one of custom, slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, link, vuln, openvex, nor a URI", ErrInvalidFlags, t)
	}
	return t, nil
}
