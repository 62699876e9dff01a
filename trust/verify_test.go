package trust

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

var t0 = time.Now().UTC().Truncate(time.Second)

func TestVerifyBasic(t *testing.T) {
	offline(t)
	r := newRepo(t, t0)
	s := newStore(t)
	r.pin(t, s, "corp")
	res, err := s.Verify(r.bundle(), TimePolicy{Now: t0}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pin != "corp" || res.Audit || len(res.Notes) != 0 {
		t.Errorf("result = %+v", res)
	}
	if !bytes.Equal(res.TrustedRoot, r.files[mustTargetPath(t, r, "trusted_root.json")]) {
		t.Errorf("trusted root = %q", res.TrustedRoot)
	}
	if len(res.Targets) != 3 {
		t.Errorf("targets = %v", keys(res.Targets))
	}
	p, err := s.Show("corp")
	if err != nil {
		t.Fatal(err)
	}
	if p.LastUpdate.IsZero() || len(p.Roles) != 4 || p.Roles[1] != (Role{"timestamp", 1, r.timestamp.Signed.Expires.UTC()}) {
		t.Errorf("pin after update = %+v", p)
	}
}

func mustTargetPath(t *testing.T, r *testRepo, name string) string {
	t.Helper()
	tf := r.targets.Signed.Targets[name]
	if tf == nil {
		for _, d := range r.delegated {
			if tf = d.Signed.Targets[name]; tf != nil {
				break
			}
		}
	}
	p, err := targetPath(tf, true)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

var _ = ed25519.PublicKey(nil)
var _ = errors.Is
var _ = os.ReadFile
var _ = filepath.Join
var _ = strings.Contains
var _ = metadata.ROOT
