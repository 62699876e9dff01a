package airlock_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/trust"
)

// fixture is the demo world plus a trust store that pinned its TUF root and
// its policy on disk: everything a library test of export, verify and
// import needs.
type fixture struct {
	w        *demo.World
	dir      string
	trustDir string
	policy   string
}

func newFixture(t *testing.T, o demo.Options) *fixture {
	t.Helper()
	w, err := demo.NewWorld(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	f := &fixture{w: w, dir: t.TempDir()}
	f.trustDir = filepath.Join(f.dir, "trust")
	st, err := trust.OpenStore(f.trustDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(demo.TUFName, w.TUFRoot, "test"); err != nil {
		t.Fatal(err)
	}
	f.policy = filepath.Join(f.dir, "policy.yaml")
	if err := os.WriteFile(f.policy, []byte(demo.Policy), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// tuf is the option that captures the world's TUF repository.
func (f *fixture) tuf() airlock.Option {
	return airlock.WithTUF(trust.Source{Name: demo.TUFName, URL: f.w.TUF.URL, Root: f.w.TUFRoot})
}

// export writes a bundle of refs (default: the demo image) and returns its path.
func (f *fixture) export(t *testing.T, name string, refs []string, opts ...airlock.Option) string {
	t.Helper()
	if len(refs) == 0 {
		refs = []string{f.w.Image}
	}
	out := filepath.Join(f.dir, name)
	if _, err := airlock.Export(context.Background(), out, refs, append([]airlock.Option{f.tuf()}, opts...)...); err != nil {
		t.Fatalf("export: %v", err)
	}
	return out
}

// verifyOpts are the options of a verification against the fixture's policy and trust store.
func (f *fixture) verifyOpts(extra ...airlock.Option) []airlock.Option {
	return append([]airlock.Option{airlock.WithPolicyFile(f.policy), airlock.WithTrustDir(f.trustDir)}, extra...)
}

// fastRetry keeps the real retries of fault tests but not their real waits.
var fastRetry = airlock.WithRetryBackoff(time.Millisecond, 10*time.Millisecond)
