package registry

import (
	"os/exec"
	"strings"
	"testing"
)

// The registry package must not depend on airlock's bundle, trust or verify
// packages: the orchestration joins them.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if !strings.HasPrefix(dep, "github.com/airlock-oci/airlock/") {
			continue
		}
		if dep != "github.com/airlock-oci/airlock/internal/registry" {
			t.Errorf("internal/registry depends on %s", dep)
		}
	}
}
