package verify

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsePolicy: any document either loads or fails with ErrInvalidPolicy;
// a policy that loads evaluates any image without panicking and refuses an
// image without evidence unless its defaultAction allows it.
func FuzzParsePolicy(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "policies", "*.yaml"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		ghPolicy, keyPolicy, "", "{}", "[]", "null", header, header + "rules: [{}]\n",
		header + "rules:\n  - name: r\n    images: [\"**\"]\n    signers: [{key: k}]\n    attestations: [{predicateType: x, condition: 'predicate.a.b.c == 1'}]\n",
		header + "defaultAction: allow\n",
		"a: &a [*a, *a]\n",
	} {
		f.Add([]byte(s))
	}
	evidence := []Finding{
		keylessSig(ghWorkflow, ghIssuer, dIndex),
		keySig("k", "01", dIndex, dAMD64),
		attestation(f, "x", map[string]any{"a": map[string]any{"b": map[string]any{"c": 1}}}, Signer{Key: "k", KeyID: "01"}, dIndex),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error %v does not wrap ErrInvalidPolicy", err)
			}
			return
		}
		_ = p.KeyFiles()
		for _, ref := range []string{"registry.example.com/team/app:v1", "docker.io/library/nginx:1.27", "quay.io/x/y@" + dIndex} {
			res := p.Evaluate(ImageInput{Reference: ref, Digest: dIndex, Platforms: []PlatformInput{{Platform: "linux/amd64", Digest: dAMD64}}, Findings: evidence})
			if res.Verdict == "" || len(res.Rules) == 0 {
				t.Fatalf("no verdict or rules for %s: %+v", ref, res)
			}
			empty := p.Evaluate(ImageInput{Reference: ref, Digest: dIndex})
			if empty.Verdict == VerdictPass {
				t.Fatalf("%s passes without any evidence: %+v", ref, empty.Rules)
			}
		}
	})
}

// FuzzConditionStatement: statements come from the bundle (signed, but by
// whoever the policy names); a condition over any statement returns a
// value or an error, never a panic.
func FuzzConditionStatement(f *testing.F) {
	f.Add([]byte(`{"subject":[{"digest":{"sha256":"aa"}}],"predicate":{"builder":{"id":"x"}}}`))
	f.Add([]byte(`{"predicate":null}`))
	f.Add([]byte(`{"predicate":{"materials":[{"uri":1},{"uri":"git+https://github.com/acme/x"}]}}`))
	f.Add([]byte(`[]`))
	c, err := compileCondition(`has(predicate.builder) && predicate.builder.id.startsWith("x") || predicate.materials.exists(m, m.uri.contains("acme")) || subject.name == "n"`, "c", DefaultCELCostLimit)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, stmt []byte) {
		_, _ = c.eval(stmt, dIndex, ImageInput{Digest: dIndex})
	})
}

// FuzzParseReport: reading a report back never panics.
func FuzzParseReport(f *testing.F) {
	f.Add([]byte(`{"schema":"airlock.dev/report/v1","images":[{"findings":[{"signer":{}}]}]}`))
	f.Add([]byte(`{"schema":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseReport(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidReport) {
				t.Fatalf("error %v does not wrap ErrInvalidReport", err)
			}
			return
		}
		_ = r.ExitCode()
		r.Summary(discard{})
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
