package verify

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
)

// DefaultCELCostLimit bounds the work one attestation condition may do on
// one statement (CEL's runtime cost units: roughly one per operation and per
// element visited). A condition that exceeds it evaluates to an error, which
// leaves the requirement unsatisfied.
const DefaultCELCostLimit = 1_000_000

// maxConditionLength bounds the text of a condition (code points).
const maxConditionLength = 16 << 10

// celEnv is the environment every condition is compiled in. Its variables:
//
//	predicate  the statement's predicate (dyn: a JSON object)
//	statement  the whole in-toto statement (dyn)
//	subject    the statement's subject entry that names the image digest
//	           checked ({"name": ..., "digest": {"sha256": ...}}); an empty
//	           map when none does
//	image      {"reference", "name", "digest"} of the image evaluated
//
// plus the standard library, the strings and lists extensions.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("predicate", cel.DynType),
		cel.Variable("statement", cel.DynType),
		cel.Variable("subject", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("image", cel.MapType(cel.StringType, cel.StringType)),
		ext.Strings(),
		ext.Lists(ext.ListsMaxRangeSize(10_000)),
		cel.ParserExpressionSizeLimit(maxConditionLength),
		cel.ParserRecursionLimit(100),
		cel.CrossTypeNumericComparisons(true),
	)
})

// condition is a compiled attestation condition. A cel.Program is safe for
// concurrent use.
type celCondition struct {
	text string
	prg  cel.Program
}

// compileCondition compiles text once at load; path names it in errors.
func compileCondition(text, path string, costLimit uint64) (*celCondition, error) {
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: building the CEL environment: %v", path, ErrCELCompile, err)
	}
	ast, iss := env.Compile(text)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrCELCompile, strings.TrimSpace(iss.Err().Error()))
	}
	if out := ast.OutputType(); !out.IsExactType(cel.BoolType) && !out.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("%s: %w: the condition yields %s, not bool", path, ErrCELCompile, out)
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrCELCompile, err)
	}
	return &celCondition{text: text, prg: prg}, nil
}

// eval runs the condition on a verified in-toto statement (JSON). target is
// the digest the statement is checked for; it selects the subject entry.
// Any failure (bad statement, missing field, wrong result type, cost limit)
// is an error: the caller treats it as "not satisfied".
func (c *celCondition) eval(statementJSON []byte, target string, img ImageInput) (bool, error) {
	stmt, err := decodeStatement(statementJSON)
	if err != nil {
		return false, err
	}
	return c.evalDecoded(stmt, target, img)
}

// decodeStatement parses a statement once for several evaluations.
func decodeStatement(statementJSON []byte) (map[string]any, error) {
	if len(statementJSON) == 0 {
		return nil, fmt.Errorf("the verified attestation carries no statement")
	}
	var stmt map[string]any
	if err := json.Unmarshal(statementJSON, &stmt); err != nil {
		return nil, fmt.Errorf("statement is not a JSON object: %v", err)
	}
	if stmt == nil {
		return nil, fmt.Errorf("statement is null")
	}
	return stmt, nil
}

// evalDecoded runs the condition on a decoded statement. The statement is
// only read, so one decoded statement may serve several evaluations.
func (c *celCondition) evalDecoded(stmt map[string]any, target string, img ImageInput) (bool, error) {
	predicate, ok := stmt["predicate"]
	if !ok || predicate == nil {
		predicate = map[string]any{}
	}
	out, _, err := c.prg.Eval(map[string]any{
		"predicate": predicate,
		"statement": stmt,
		"subject":   subjectEntry(stmt, target),
		"image": map[string]string{
			"reference": img.Reference,
			"name":      img.Name,
			"digest":    img.Digest,
		},
	})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition yielded %v (%s), not a bool", out.Value(), out.Type().TypeName())
	}
	return b, nil
}

// subjectEntry returns the in-toto subject entry whose digest set names
// target ("sha256:<hex>"), or an empty map.
func subjectEntry(stmt map[string]any, target string) map[string]any {
	subjects, _ := stmt["subject"].([]any)
	for _, s := range subjects {
		entry, ok := s.(map[string]any)
		if !ok {
			continue
		}
		digests, _ := entry["digest"].(map[string]any)
		for alg, hex := range digests {
			if h, ok := hex.(string); ok && strings.EqualFold(alg+":"+h, target) {
				return entry
			}
		}
	}
	return map[string]any{}
}
