package airlock_test

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/airlock-oci/airlock"

// TestDependencyDirections enforces the architecture (docs and STYLE.md):
// bundle, trust and verify do not import each other, none of them talks to
// registries, and the registry client knows nothing of bundles, trust or
// verification. Only the orchestration (this package) joins them.
func TestDependencyDirections(t *testing.T) {
	forbidden := map[string][]string{
		"bundle":            {"trust", "verify", "internal/registry"},
		"trust":             {"bundle", "verify", "internal/registry"},
		"verify":            {"bundle", "trust", "internal/registry"},
		"internal/registry": {"bundle", "trust", "verify"},
	}
	// The archive format never talks to a network: it reads and writes files.
	p, err := build.Default.ImportDir("bundle", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range p.Imports {
		if imp == "net/http" || strings.HasPrefix(imp, "github.com/google/go-containerregistry/pkg/v1/remote") {
			t.Errorf("bundle imports %s", imp)
		}
	}
	for pkg, bad := range forbidden {
		deps := moduleDeps(t, pkg, map[string]bool{})
		for _, b := range bad {
			if deps[b] {
				t.Errorf("%s imports %s (directly or through another package)", pkg, b)
			}
		}
	}
}

// moduleDeps returns the module's packages that pkg imports, transitively
// (non-test files).
func moduleDeps(t *testing.T, pkg string, seen map[string]bool) map[string]bool {
	t.Helper()
	p, err := build.Default.ImportDir(filepath.FromSlash(pkg), 0)
	if err != nil {
		t.Fatalf("%s: %v", pkg, err)
	}
	for _, imp := range p.Imports {
		rel, ok := strings.CutPrefix(imp, module+"/")
		if !ok || seen[rel] {
			continue
		}
		seen[rel] = true
		moduleDeps(t, rel, seen)
	}
	return seen
}
