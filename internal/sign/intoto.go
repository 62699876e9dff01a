package sign

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

func base64Std() *base64.Encoding { return base64.StdEncoding }

// Predicate types used by the helpers below.
const (
	PredicateSLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
	PredicateSPDX             = "https://spdx.dev/Document"
	StatementTypeV1           = "https://in-toto.io/Statement/v1"
)

// Subject is an in-toto resource descriptor (name + digests).
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// StatementJSON is an in-toto v1 statement.
type StatementJSON struct {
	Type          string    `json:"_type"`
	Subject       []Subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     any       `json:"predicate"`
}

// Statement builds an in-toto v1 statement about name@digest (digest is
// "sha256:<hex>") with the given predicate.
func Statement(name, digest, predicateType string, predicate any) ([]byte, error) {
	return StatementMulti(predicateType, predicate, Subject{Name: name, Digest: digestMap(digest)})
}

// StatementMulti builds an in-toto v1 statement with several subjects.
func StatementMulti(predicateType string, predicate any, subjects ...Subject) ([]byte, error) {
	if len(subjects) == 0 {
		return nil, fmt.Errorf("%w: statement without subjects", ErrInput)
	}
	out, err := json.Marshal(StatementJSON{Type: StatementTypeV1, Subject: subjects, PredicateType: predicateType, Predicate: predicate})
	if err != nil {
		return nil, fmt.Errorf("%w: marshalling statement: %v", ErrInput, err)
	}
	return out, nil
}

func digestMap(d string) map[string]string {
	alg, hexPart, ok := strings.Cut(d, ":")
	if !ok {
		return map[string]string{"sha256": d}
	}
	return map[string]string{alg: hexPart}
}

// SLSAProvenance is a minimal SLSA provenance v1 predicate: the builder id
// and the source repository as a resolved dependency.
func SLSAProvenance(builderID, sourceRepo string) map[string]any {
	return map[string]any{
		"buildDefinition": map[string]any{
			"buildType":          "https://actions.github.io/buildtypes/workflow/v1",
			"externalParameters": map[string]any{"workflow": map[string]any{"repository": sourceRepo}},
			"resolvedDependencies": []any{
				map[string]any{"uri": "git+" + sourceRepo},
			},
		},
		"runDetails": map[string]any{
			"builder": map[string]any{"id": builderID},
		},
	}
}

// SPDXDocument is a minimal SPDX 2.3 document predicate naming the given
// packages.
func SPDXDocument(name string, packages ...string) map[string]any {
	var pkgs []any
	for i, p := range packages {
		pkgs = append(pkgs, map[string]any{"SPDXID": fmt.Sprintf("SPDXRef-Package-%d", i), "name": p, "downloadLocation": "NOASSERTION"})
	}
	return map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
		"name": name, "documentNamespace": "https://airlock.invalid/spdx/" + name,
		"packages": pkgs,
	}
}

func predicateType(statement []byte) (string, error) {
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(statement, &st); err != nil {
		return "", fmt.Errorf("%w: statement is not JSON: %v", ErrInput, err)
	}
	return st.PredicateType, nil
}
