package verify

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCELConditions(t *testing.T) {
	items := make([]int, 2000)
	for i := range items {
		items[i] = i
	}
	stmt := func(pred any, subjects ...map[string]any) []byte {
		b, err := json.Marshal(map[string]any{
			"_type": "https://in-toto.io/Statement/v1", "predicateType": "x",
			"subject": subjects, "predicate": pred,
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	amd := map[string]any{"name": "amd64", "digest": map[string]any{"sha256": strings.TrimPrefix(dAMD64, "sha256:")}}
	arm := map[string]any{"name": "arm64", "digest": map[string]any{"sha256": strings.TrimPrefix(dARM64, "sha256:")}}
	img := ImageInput{Reference: "registry.example.com/team/app:v1", Name: "registry.example.com/team/app", Digest: dIndex}
	tests := []struct {
		name      string
		cond      string
		costLimit uint64
		statement []byte
		target    string
		want      bool
		wantErr   string
	}{
		{name: "field equality", cond: `predicate.builder.id == "b"`, statement: stmt(map[string]any{"builder": map[string]any{"id": "b"}}), want: true},
		{name: "field inequality", cond: `predicate.builder.id == "b"`, statement: stmt(map[string]any{"builder": map[string]any{"id": "c"}}), want: false},
		{name: "JSON numbers compare with integers", cond: `predicate.level == 3 && predicate.level > 2`, statement: stmt(map[string]any{"level": 3}), want: true},
		{name: "missing field is an error", cond: `predicate.builder.id == "b"`, statement: stmt(map[string]any{}), wantErr: "no such key: builder"},
		{name: "has() guards a missing field", cond: `has(predicate.builder) && predicate.builder.id == "b"`, statement: stmt(map[string]any{}), want: false},
		{name: "null predicate reads as empty", cond: `!has(predicate.builder)`, statement: stmt(nil), want: true},
		{name: "dyn result that is not a bool", cond: `predicate.flag`, statement: stmt(map[string]any{"flag": "yes"}), wantErr: "not a bool"},
		{name: "statement variable", cond: `statement.predicateType == "x" && statement._type.endsWith("/v1")`, statement: stmt(map[string]any{}), want: true},
		{name: "subject is the entry for the target", cond: `subject.name == "arm64"`, statement: stmt(map[string]any{}, amd, arm), target: dARM64, want: true},
		{name: "subject is empty when no entry names the target", cond: `size(subject) == 0`, statement: stmt(map[string]any{}, amd), target: dOther, want: true},
		{name: "image variable", cond: `image.name == "registry.example.com/team/app" && image.digest == "` + dIndex + `" && image.reference.endsWith(":v1")`,
			statement: stmt(map[string]any{}), want: true},
		{name: "strings extension", cond: `predicate.repo.lowerAscii().split("/").size() == 3`, statement: stmt(map[string]any{"repo": "GitHub.com/Acme/App"}), want: true},
		{name: "exists over materials", cond: `predicate.materials.exists(m, m.uri.startsWith("git+https://github.com/acme/"))`,
			statement: stmt(map[string]any{"materials": []any{map[string]any{"uri": "pkg:docker/x"}, map[string]any{"uri": "git+https://github.com/acme/app@refs/tags/v1"}}}), want: true},
		{name: "default cost limit stops a quadratic condition", cond: `predicate.items.all(x, predicate.items.all(y, x + y >= 0))`,
			statement: stmt(map[string]any{"items": items}), wantErr: "cost limit exceeded"},
		{name: "a small cost limit", cond: `predicate.items.exists(x, x == 1999)`, costLimit: 100,
			statement: stmt(map[string]any{"items": items}), wantErr: "cost limit exceeded"},
		{name: "within the limit", cond: `predicate.items.exists(x, x == 1999)`,
			statement: stmt(map[string]any{"items": items}), want: true},
		{name: "empty statement", cond: `true`, statement: nil, wantErr: "carries no statement"},
		{name: "statement not JSON", cond: `true`, statement: []byte("{not json"), wantErr: "not a JSON object"},
		{name: "statement is a list", cond: `true`, statement: []byte("[1]"), wantErr: "not a JSON object"},
		{name: "statement is null", cond: `true`, statement: []byte("null"), wantErr: "statement is null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			limit := tc.costLimit
			if limit == 0 {
				limit = DefaultCELCostLimit
			}
			c, err := compileCondition(tc.cond, "condition", limit)
			if err != nil {
				t.Fatal(err)
			}
			target := tc.target
			if target == "" {
				target = dIndex
			}
			got, err := c.eval(tc.statement, target, img)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("eval = %v, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("eval = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCELCompileErrors(t *testing.T) {
	for _, cond := range []string{
		`predicate.a ==`,
		`undeclared == 1`,
		`"text"`,
		`1 + 1`,
		`[1, 2]`,
		`predicate.a == 1 &&`,
		strings.Repeat("(", 200) + "true" + strings.Repeat(")", 200),
		strings.Repeat("a", maxConditionLength+1),
	} {
		if _, err := compileCondition(cond, "c", DefaultCELCostLimit); !errors.Is(err, ErrCELCompile) {
			t.Errorf("compileCondition(%.40q) = %v, want ErrCELCompile", cond, err)
		}
	}
}

func TestWithCELCostLimit(t *testing.T) {
	doc := header + `rules:
  - name: r
    images: ["**"]
    signers: [{key: k}]
    attestations:
      - name: a
        predicateType: x
        condition: predicate.items.exists(i, i == 999)
`
	items := make([]int, 1000)
	for i := range items {
		items[i] = i
	}
	f := attestation(t, "x", map[string]any{"items": items}, Signer{Key: "k", KeyID: "01"}, dIndex)
	in := ImageInput{Reference: "quay.io/a/b:1", Digest: dIndex, Findings: []Finding{keySig("k", "01", dIndex), f}}
	for _, tc := range []struct {
		limit uint64
		pass  bool
	}{{0, true}, {50, false}, {1_000_000, true}} {
		p, err := ParsePolicy([]byte(doc), WithCELCostLimit(tc.limit))
		if err != nil {
			t.Fatal(err)
		}
		res := p.Evaluate(in)
		if got := res.Verdict == VerdictPass; got != tc.pass {
			t.Errorf("limit %d: verdict %q, want pass=%v: %+v", tc.limit, res.Verdict, tc.pass, res.Rules)
		}
	}
}
