package main

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/airlock-oci/airlock"
)

// TestFlagNamesCoverOptionErrors reads every airlock.OptionError the
// library builds and checks that this command line renders each option it
// names as a flag: a new option error without a flag would print the
// library's Go name to an operator.
func TestFlagNamesCoverOptionErrors(t *testing.T) {
	files, err := filepath.Glob("../../*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "OptionError" {
				return true
			}
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				switch kv.Key.(*ast.Ident).Name {
				case "Option":
					seen++
					checkFlagName(t, fset.Position(kv.Pos()).String(), kv.Value)
				case "With":
					for _, w := range kv.Value.(*ast.CompositeLit).Elts {
						checkFlagName(t, fset.Position(w.Pos()).String(), w)
					}
				}
			}
			return true
		})
	}
	if seen < 10 {
		t.Fatalf("found %d OptionError options in the library; the scan is broken", seen)
	}
}

func checkFlagName(t *testing.T, where string, e ast.Expr) {
	t.Helper()
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		t.Errorf("%s: OptionError option is not a string literal, so it cannot be checked here", where)
		return
	}
	s, _ := strconv.Unquote(lit.Value)
	if _, ok := flagNames[s]; !ok {
		t.Errorf("%s: option %q has no flag in flagNames", where, s)
	}
}

// TestReportErrNamesFlags: an option error reaches the operator with the
// flag's name and the value, wrapped or not, and keeps its usage class.
func TestReportErrNamesFlags(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&airlock.OptionError{Option: "Keyless.SigningConfig", Value: "sc.json", Err: errors.New("bad JSON")},
			"airlock: usage: --signing-config sc.json: bad JSON\n"},
		{errors.Join(errors.New("export"), &airlock.OptionError{Option: "WithSignKey", With: []string{"WithKeyless"}}),
			"airlock: export\nusage: --sign-key and keyless signing exclude each other\n"},
		{&airlock.OptionError{Option: "Keyless.SigningConfig", With: []string{"Keyless.FulcioURL", "Keyless.RekorURL", "Keyless.TSAURL"}},
			"airlock: usage: --signing-config excludes --fulcio-url, --rekor-url and --timestamp-server-url\n"},
	} {
		var b bytes.Buffer
		reportErr(&b, tc.err)
		if b.String() != tc.want {
			t.Errorf("reportErr(%v) = %q, want %q", tc.err, b.String(), tc.want)
		}
		if exitCode(tc.err) != exitError || !errors.Is(tc.err, airlock.ErrUsage) {
			t.Errorf("%v: exit %d, usage %v", tc.err, exitCode(tc.err), errors.Is(tc.err, airlock.ErrUsage))
		}
	}
}
