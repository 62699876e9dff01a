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
// verification. Only the orchestration (this package) joins them; the
// import algorithm it delegates to (internal/transfer) moves verified
// content and judges nothing, so it reaches neither trust nor verify. The
// leaves every package may import (the artifact vocabulary, the verifying
// reader, human-readable formatting) import nothing of the module.
func TestDependencyDirections(t *testing.T) {
	for _, leaf := range []string{"artifact", "internal/content", "internal/human"} {
		for dep := range moduleDeps(t, leaf, map[string]bool{}) {
			t.Errorf("%s imports %s: a leaf imports nothing of the module", leaf, dep)
		}
	}
	forbidden := map[string][]string{
		"bundle":            {"trust", "verify", "internal/registry", "internal/transfer"},
		"trust":             {"bundle", "verify", "internal/registry", "internal/transfer"},
		"verify":            {"bundle", "trust", "internal/registry", "internal/transfer"},
		"internal/registry": {"bundle", "trust", "verify", "internal/transfer"},
		"internal/transfer": {"trust", "verify"},
	}
	// The import algorithm imports only what moving verified content needs.
	transferMay := map[string]bool{"bundle": true, "internal/registry": true, "artifact": true, "internal/content": true}
	for _, imp := range directImports(t, "internal/transfer") {
		if rel, ok := strings.CutPrefix(imp, module+"/"); ok && !transferMay[rel] {
			t.Errorf("internal/transfer imports %s: it may import only bundle, internal/registry, artifact and internal/content", rel)
		}
	}
	// The archive format and the verifier never talk to a network or run
	// programs: verify stays provably offline. Checked on every package
	// they import, transitively within the module, for the standard
	// library and ggcr.
	for _, pkg := range []string{"bundle", "verify"} {
		for _, dep := range append([]string{pkg}, moduleDepList(t, pkg)...) {
			for _, imp := range directImports(t, dep) {
				if offlineForbidden(imp) {
					t.Errorf("%s imports %s (through %s): bundle and verify must stay offline", pkg, imp, dep)
				}
			}
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

// offlineForbidden reports the imports that would let bundle or verify
// reach a network or run a program.
func offlineForbidden(imp string) bool {
	switch imp {
	case "net", "net/http", "os/exec":
		return true
	}
	return strings.HasPrefix(imp, "github.com/google/go-containerregistry/pkg/v1/remote")
}

// directImports lists pkg's imports (non-test files).
func directImports(t *testing.T, pkg string) []string {
	t.Helper()
	p, err := build.Default.ImportDir(filepath.FromSlash(pkg), 0)
	if err != nil {
		t.Fatalf("%s: %v", pkg, err)
	}
	return p.Imports
}

// moduleDepList is moduleDeps as a list.
func moduleDepList(t *testing.T, pkg string) []string {
	var out []string
	for d := range moduleDeps(t, pkg, map[string]bool{}) {
		out = append(out, d)
	}
	return out
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
