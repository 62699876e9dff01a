package verify

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParsePolicyErrors(t *testing.T) {
	rule := func(extra string) string {
		return header + "rules:\n  - name: r\n    images: [\"registry.example.com/**\"]\n    signers: [{key: k.pub}]\n" + extra
	}
	tests := []struct {
		name    string
		doc     string
		wantErr error
		wantMsg string
	}{
		{"empty document", "", ErrMissingField, "empty document"},
		{"not yaml", "rules: [", ErrPolicySyntax, ""},
		{"duplicate key", header + "kind: Policy\n", ErrPolicySyntax, ""},
		{"missing apiVersion", "kind: Policy\nrules: []\n", ErrPolicyVersion, `apiVersion: `},
		{"other apiVersion", "apiVersion: airlock.dev/v2\nkind: Policy\n", ErrPolicyVersion, `"airlock.dev/v2"`},
		{"wrong kind", "apiVersion: airlock.dev/v1\nkind: ClusterImagePolicy\n", ErrPolicyVersion, `kind:`},
		{"unknown top-level field", header + "rule: []\n", ErrUnknownField, `rule: invalid policy: unknown field "rule"`},
		{"unknown rule field", rule("    treshold: 2\n"), ErrUnknownField, `rules[0].treshold`},
		{"field in another case", rule("    Threshold: 2\n"), ErrUnknownField, `rules[0].Threshold`},
		{"unknown signer field", header + "rules:\n  - name: r\n    images: [\"**\"]\n    signers: [{key: k.pub, identity: x}]\n",
			ErrUnknownField, `rules[0].signers[0].identity`},
		{"unknown attestation field", rule("    attestations: [{predicateType: x, conditions: 'true'}]\n"), ErrUnknownField,
			`rules[0].attestations[0].conditions`},
		{"rules is a mapping", header + "rules: {name: r}\n", ErrFieldType, "rules: invalid policy: wrong type: expected a list, got a mapping"},
		{"threshold is a string", rule("    threshold: two\n"), ErrFieldType, "rules[0].threshold"},
		{"threshold is a float", rule("    threshold: 1.5\n"), ErrInvalidValue, "rules[0].threshold"},
		{"threshold huge", rule("    threshold: 99999999999999999999\n"), ErrInvalidValue, "rules[0].threshold"},
		{"images is a string", header + "rules:\n  - name: r\n    images: registry.example.com/**\n    signers: [{key: k}]\n",
			ErrFieldType, "rules[0].images"},
		{"no rules", header, ErrMissingField, "rules"},
		{"rule without name", header + "rules:\n  - images: [\"**\"]\n    signers: [{key: k}]\n", ErrMissingField, "rules[0].name"},
		{"duplicate rule names", rule("  - name: r\n    images: [\"**\"]\n    signers: [{key: k}]\n"), ErrInvalidValue, `"r" is also the name of rules[0]`},
		{"rule without images", header + "rules:\n  - name: r\n    signers: [{key: k}]\n", ErrMissingField, `rules[0] ("r").images`},
		{"rule without signers", header + "rules:\n  - name: r\n    images: [\"**\"]\n", ErrMissingField, `rules[0] ("r").signers`},
		{"signer with nothing", header + "rules:\n  - name: r\n    images: [\"**\"]\n    signers: [{}]\n", ErrMissingField, "signers[0]"},
		{"key and keyless", header + "rules:\n  - name: r\n    images: [\"**\"]\n    signers: [{key: k, issuer: i, subject: s}]\n",
			ErrInvalidValue, "exclude each other"},
		{"keyless without issuer", header + "rules:\n  - name: r\n    images: [\"**\"]\n    signers: [{subject: s}]\n", ErrMissingField, "issuer"},
		{"keyless without subject", header + "rules:\n  - name: r\n    images: [\"**\"]\n    signers: [{issuer: i}]\n", ErrMissingField, "subject"},
		{"subject and subjectRegExp", header + "rules:\n  - name: r\n    images: [\"**\"]\n    signers: [{issuer: i, subject: s, subjectRegExp: s}]\n",
			ErrInvalidValue, "subject and subjectRegExp"},
		{"bad regexp", header + "rules:\n  - name: r\n    images: [\"**\"]\n    signers: [{issuer: i, subjectRegExp: '(unclosed'}]\n",
			ErrInvalidRegexp, `signers[0].subjectRegExp`},
		{"bad tlog", rule("    tlog: maybe\n"), ErrInvalidValue, `tlog: invalid policy: invalid value: "maybe"`},
		{"bad timestamp", rule("    timestamp: yes-please\n"), ErrInvalidValue, "timestamp"},
		{"bad platforms", rule("    platforms: some\n"), ErrInvalidValue, "platforms"},
		{"bad defaultAction", rule("defaultAction: deny\n"), ErrInvalidValue, "defaultAction"},
		{"threshold zero without attestations", rule("    threshold: 0\n"), ErrInvalidValue, "must list at least one attestation"},
		{"threshold above exact signers", rule("    threshold: 2\n"), ErrInvalidValue, "2 distinct signers required but only 1 listed"},
		{"pattern not fully qualified", header + "rules:\n  - name: r\n    images: [\"nginx:*\"]\n    signers: [{key: k}]\n",
			ErrInvalidPattern, "fully qualified"},
		{"pattern without registry host", header + "rules:\n  - name: r\n    images: [\"library/nginx\"]\n    signers: [{key: k}]\n",
			ErrInvalidPattern, `"library" is not a registry host`},
		{"pattern with character class", header + "rules:\n  - name: r\n    images: [\"docker.io/library/ngin[x]\"]\n    signers: [{key: k}]\n",
			ErrInvalidPattern, "reserved"},
		{"pattern with empty tag", header + "rules:\n  - name: r\n    images: [\"docker.io/library/nginx:\"]\n    signers: [{key: k}]\n",
			ErrInvalidPattern, "empty tag"},
		{"empty pattern", header + "rules:\n  - name: r\n    images: [\"\"]\n    signers: [{key: k}]\n", ErrInvalidPattern, "images[0]"},
		{"attestation without predicateType", rule("    attestations: [{name: p}]\n"), ErrMissingField, "attestations[0].predicateType"},
		{"duplicate attestation names", rule("    attestations: [{predicateType: x}, {predicateType: x}]\n"), ErrInvalidValue, "used twice"},
		{"CEL syntax error", rule("    attestations: [{name: prov, predicateType: x, condition: 'predicate.a ==' }]\n"), ErrCELCompile,
			`rules[0] ("r").attestations[0].condition (rule "r", attestation "prov")`},
		{"CEL undeclared variable", rule("    attestations: [{name: prov, predicateType: x, condition: 'predicat.a == 1'}]\n"), ErrCELCompile,
			"undeclared reference to 'predicat'"},
		{"CEL not a bool", rule("    attestations: [{name: prov, predicateType: x, condition: '\"yes\"'}]\n"), ErrCELCompile, "not bool"},
		{"CEL type error", rule("    attestations: [{name: prov, predicateType: x, condition: '1 + \"a\" == 2'}]\n"), ErrCELCompile, "no matching overload"},
		{"too large", header + "description: " + strings.Repeat("x", MaxPolicySize) + "\n", ErrPolicyTooLarge, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tc.doc))
			if err == nil {
				t.Fatalf("ParsePolicy succeeded (%+v), want %v", p, tc.wantErr)
			}
			if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error %q is not %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error %q does not contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestParsePolicyDefaults(t *testing.T) {
	p := mustPolicy(t, header+`rules:
  - name: r
    images: ["registry.example.com/**"]
    signers:
      - {issuer: https://accounts.google.com, subject: a@acme.com}
      - key: keys/a.pub
    attestations:
      - predicateType: https://spdx.dev/Document
      - name: prov
        predicateType: https://slsa.dev/provenance/v1
        signers: [{key: keys/b.pub}, {key: keys/a.pub}]
`)
	r := p.Rules[0]
	if p.DefaultAction != ActionRefuse || r.Threshold != 1 || r.Platforms != PlatformsIndexOrEach || r.TLog != "" || r.Timestamp != "" {
		t.Errorf("defaults: action %q threshold %d platforms %q tlog %q timestamp %q", p.DefaultAction, r.Threshold, r.Platforms, r.TLog, r.Timestamp)
	}
	if r.Attestations[0].Name != "https://spdx.dev/Document" {
		t.Errorf("attestation name defaults to its predicate type, got %q", r.Attestations[0].Name)
	}
	if len(r.Attestations[0].Signers) != 2 {
		t.Errorf("attestation signers default to the rule's, got %v", r.Attestations[0].Signers)
	}
	if got, want := p.KeyFiles(), []string{"keys/a.pub", "keys/b.pub"}; !slices.Equal(got, want) {
		t.Errorf("KeyFiles() = %v, want %v", got, want)
	}
}

func TestParsePolicyJSON(t *testing.T) {
	p, err := ParsePolicy([]byte(`{"apiVersion":"airlock.dev/v1","kind":"Policy","rules":[{"name":"r","images":["**"],"signers":[{"key":"k"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 1 {
		t.Fatalf("rules %v", p.Rules)
	}
}

func TestIdentityMatches(t *testing.T) {
	tests := []struct {
		name string
		id   Identity
		s    Signer
		want bool
	}{
		{"exact", Identity{Issuer: googleIss, Subject: "a@acme.com"}, Signer{Identity: "a@acme.com", Issuer: googleIss}, true},
		{"exact wrong subject", Identity{Issuer: googleIss, Subject: "a@acme.com"}, Signer{Identity: "b@acme.com", Issuer: googleIss}, false},
		{"exact wrong issuer", Identity{Issuer: googleIss, Subject: "a@acme.com"}, Signer{Identity: "a@acme.com", Issuer: ghIssuer}, false},
		{"exact is case sensitive", Identity{Issuer: googleIss, Subject: "a@acme.com"}, Signer{Identity: "A@acme.com", Issuer: googleIss}, false},
		{"regexp", Identity{IssuerRegExp: `https://accounts\.google\.com`, SubjectRegExp: `.*@acme\.com`}, Signer{Identity: "b@acme.com", Issuer: googleIss}, true},
		{"regexp anchored end", Identity{Issuer: googleIss, SubjectRegExp: `a@acme\.com`}, Signer{Identity: "a@acme.com.evil", Issuer: googleIss}, false},
		{"regexp anchored start", Identity{Issuer: googleIss, SubjectRegExp: `a@acme\.com`}, Signer{Identity: "xa@acme.com", Issuer: googleIss}, false},
		{"regexp alternation stays anchored", Identity{Issuer: googleIss, SubjectRegExp: `a@acme\.com|b@acme\.com`}, Signer{Identity: "b@acme.com.evil", Issuer: googleIss}, false},
		{"invalid regexp matches nothing", Identity{Issuer: googleIss, SubjectRegExp: `(`}, Signer{Identity: "(", Issuer: googleIss}, false},
		{"issuer only matches nothing", Identity{Issuer: googleIss}, Signer{Identity: "a", Issuer: googleIss}, false},
		{"both exact and regexp matches nothing", Identity{Issuer: googleIss, Subject: "a", SubjectRegExp: "a"}, Signer{Identity: "a", Issuer: googleIss}, false},
		{"key", Identity{Key: "k.pub"}, Signer{Key: "k.pub", KeyID: "01"}, true},
		{"other key", Identity{Key: "k.pub"}, Signer{Key: "j.pub", KeyID: "01"}, false},
		{"key identity vs keyless signer", Identity{Key: "k.pub"}, Signer{Identity: "k.pub", Issuer: googleIss}, false},
		{"keyless identity vs key signer", Identity{IssuerRegExp: ".*", SubjectRegExp: ".*"}, Signer{Key: "k.pub"}, false},
		{"zero identity", Identity{}, Signer{Identity: "a", Issuer: "b"}, false},
		{"empty signer", Identity{IssuerRegExp: ".*", SubjectRegExp: ".*"}, Signer{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.id.Matches(tc.s); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
			// A compiled identity answers the same as one built by hand.
			id := tc.id
			if id.compile("x") == nil {
				if got := id.Matches(tc.s); got != tc.want {
					t.Errorf("compiled Matches = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestImagePatterns(t *testing.T) {
	tests := []struct {
		pattern string
		ref     string
		want    bool
	}{
		{"registry.example.com/team/**", "registry.example.com/team/app:v1", true},
		{"registry.example.com/team/**", "registry.example.com/team/a/b/c@" + dIndex, true},
		{"registry.example.com/team/**", "registry.example.com/team", false},
		{"registry.example.com/team/**", "registry.example.com/teamx/app", false},
		{"registry.example.com/team/*", "registry.example.com/team/app", true},
		{"registry.example.com/team/*", "registry.example.com/team/a/b", false},
		{"registry.example.com/team/ap?", "registry.example.com/team/app", true},
		{"registry.example.com/team/ap?", "registry.example.com/team/ap/p", false},
		{"registry.example.com/team/app", "registry.example.com/team/app:v1", true},
		{"registry.example.com/team/app", "registry.example.com/team/app2", false},
		{"registry.example.com/team/app", "evil.example/registry.example.com/team/app", false},
		{"registry.example.com/team/app", "registry.example.com.evil.example/team/app", false},
		{"registry.example.com/team/app.x", "registry.example.com/team/appyx", false}, // dots are literal
		{"docker.io/library/nginx:*", "docker.io/library/nginx:1.27", true},
		{"docker.io/library/nginx:*", "docker.io/library/nginx@" + dIndex, false}, // no tag to match
		{"docker.io/library/nginx:1.*", "docker.io/library/nginx:1.27-alpine", true},
		{"docker.io/library/nginx:1.*", "docker.io/library/nginx:2.0", false},
		{"docker.io/library/nginx", "index.docker.io/library/nginx:latest", true},
		{"index.docker.io/library/nginx", "docker.io/library/nginx:latest", true},
		{"docker.io/library/nginx@" + dIndex, "docker.io/library/nginx:1@" + dIndex, true},
		{"docker.io/library/nginx@" + dIndex, "docker.io/library/nginx:1@" + dOther, false},
		{"localhost:5000/**", "localhost:5000/a/b:c", true},
		{"localhost/**", "localhost/a", true},
		{"*.example.com/**", "registry.example.com/a/b", true},
		{"*.example.com/**", "example.com/a", false},
		{"**", "anything.example/at/all:v1", true},
		{"**:latest", "quay.io/a/b:latest", true},
		{"**:latest", "quay.io/a/b:v1", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.ref, func(t *testing.T) {
			p, err := compilePattern(tc.pattern, "images[0]")
			if err != nil {
				t.Fatal(err)
			}
			r := splitReference(tc.ref)
			r.name = normalizeDockerHub(r.name)
			if got := p.match(r); got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyFromFlags(t *testing.T) {
	tests := []struct {
		name    string
		f       Flags
		wantErr error
		signer  Signer
		matches bool
	}{
		{"key", Flags{Key: "cosign.pub"}, nil, Signer{Key: "cosign.pub", KeyID: "01"}, true},
		{"key, other signer", Flags{Key: "cosign.pub"}, nil, Signer{Key: "other.pub", KeyID: "02"}, false},
		{"identity", Flags{CertificateIdentity: "a@acme.com", CertificateOIDCIssuer: googleIss}, nil, Signer{Identity: "a@acme.com", Issuer: googleIss}, true},
		{"identity regexp anchored", Flags{CertificateIdentityRegexp: `a@acme\.com`, CertificateOIDCIssuer: googleIss}, nil,
			Signer{Identity: "a@acme.com.evil", Issuer: googleIss}, false},
		{"issuer regexp", Flags{CertificateIdentity: ghWorkflow, CertificateOIDCIssuerRegexp: `https://token\.actions\.githubusercontent\.com`}, nil,
			Signer{Identity: ghWorkflow, Issuer: ghIssuer}, true},
		{"nothing", Flags{}, ErrInvalidFlags, Signer{}, false},
		{"key and identity", Flags{Key: "k", CertificateIdentity: "a", CertificateOIDCIssuer: "b"}, ErrInvalidFlags, Signer{}, false},
		{"identity without issuer", Flags{CertificateIdentity: "a"}, ErrInvalidFlags, Signer{}, false},
		{"issuer without identity", Flags{CertificateOIDCIssuer: "a"}, ErrInvalidFlags, Signer{}, false},
		{"both identity forms", Flags{CertificateIdentity: "a", CertificateIdentityRegexp: "a", CertificateOIDCIssuer: "b"}, ErrInvalidFlags, Signer{}, false},
		{"both issuer forms", Flags{CertificateIdentity: "a", CertificateOIDCIssuerRegexp: "a", CertificateOIDCIssuer: "b"}, ErrInvalidFlags, Signer{}, false},
		{"bad regexp", Flags{CertificateIdentityRegexp: "(", CertificateOIDCIssuer: "b"}, ErrInvalidFlags, Signer{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PolicyFromFlags(tc.f)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrInvalidFlags) {
					t.Fatalf("error %v, want %v and ErrInvalidFlags", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := keylessSig("x", "y", dIndex)
			f.Signer = &tc.signer
			res := p.Evaluate(ImageInput{Reference: "quay.io/any/image:1", Digest: dIndex, Findings: []Finding{f}})
			if got := res.Verdict == VerdictPass; got != tc.matches {
				t.Fatalf("verdict %q, want pass=%v: %+v", res.Verdict, tc.matches, res.Rules)
			}
			if res.Rules[0].Name != FlagsRuleName {
				t.Errorf("rule name %q", res.Rules[0].Name)
			}
		})
	}
	p, _ := PolicyFromFlags(Flags{Key: "cosign.pub"})
	if got := p.KeyFiles(); !slices.Equal(got, []string{"cosign.pub"}) {
		t.Errorf("KeyFiles() = %v", got)
	}
}

// TestExamplePolicies parses every example policy shipped in
// testdata/policies (the ones docs/policy.md shows).
func TestExamplePolicies(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "policies", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found %d example policies, want at least 5", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParsePolicy(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Rules) == 0 {
				t.Fatal("no rules")
			}
		})
	}
}

func TestPolicyWarnings(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"none", ghPolicy, nil},
		{"key rule with tlog optional", strings.Replace(keyPolicy, "    signers:", "    tlog: optional\n    signers:", 1), nil},
		{"defaultAction allow", ghPolicy + "defaultAction: allow\n", []string{"defaultAction: allow: images no rule matches are let through WITHOUT verification"}},
		{"keyless with tlog optional", strings.Replace(ghPolicy, "    signers:", "    tlog: optional\n    signers:", 1),
			[]string{`rule "acme": tlog: optional: keyless signatures are accepted without a transparency log entry`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustPolicy(t, tc.doc).Warnings(); !slices.Equal(got, tc.want) {
				t.Errorf("Warnings() = %q, want %q", got, tc.want)
			}
		})
	}
}
