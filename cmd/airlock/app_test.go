package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-oci/airlock/internal/demo"
)

// The CLI over the demo world: every command, its output and its exit code.
func TestCLI(t *testing.T) {
	d := newDemoFiles(t)
	w, dir, root, policy, bundlePath, trustDir := d.w, d.dir, d.root, d.policy, d.bundle, d.trustDir
	list := filepath.Join(dir, "images.txt")
	os.WriteFile(list, []byte("# images to carry\n"+w.Image+"  # the vendor app\n\n"), 0o644)
	badList := filepath.Join(dir, "bad.txt")
	os.WriteFile(badList, []byte(w.Image+" extra\n"), 0o644)
	// A trust store that pinned Sigstore's public-good root (embedded), not the vendor's.
	publicDir := filepath.Join(dir, "public-trust")

	steps := []struct {
		name string
		args []string
		code int
		want []string // substrings of stdout+stderr
	}{
		{"export", d.exportArgs(),
			0, []string{"wrote " + bundlePath, "1 cosign-attestation", "2 sigstore-bundle", "trust " + demo.TUFName}},
		{"export list", []string{"export", "-f", list, "-o", filepath.Join(dir, "l.tar"), "--no-tuf"}, 0, []string{w.Digest.String()}},
		{"export bad list", []string{"export", "-f", badList, "-o", filepath.Join(dir, "bl.tar"), "--no-tuf"}, exitError, []string{"bad.txt:1"}},
		{"export unpaired tuf", []string{"export", "--tuf-url", w.TUF.URL, "-o", filepath.Join(dir, "u.tar"), w.Image}, exitError, []string{"--tuf-root"}},
		{"export json", []string{"export", "--format", "json", "-o", filepath.Join(dir, "j.tar"), "--no-tuf", w.Image},
			0, []string{`"digest": "` + w.Digest.String()}},
		{"inspect", []string{"inspect", bundlePath}, 0,
			[]string{w.Digest.String(), "linux/arm64", "signatures 3", "https://slsa.dev/provenance/v1", "timestamp", "(tag sha256-" + w.Digest.Hex + ".sig)"}},
		{"verify before trust init", []string{"verify", "--trust-dir", trustDir, "--policy", policy, bundlePath}, exitPolicy,
			[]string{"POLICY-FAILED"}},
		{"trust init", []string{"trust", "init", "--trust-dir", trustDir, "--root", root, "--name", demo.TUFName}, 0,
			[]string{"pinned " + demo.TUFName}},
		{"trust init twice", []string{"trust", "init", "--trust-dir", trustDir, "--root", root, "--name", demo.TUFName}, exitError, nil},
		{"trust list", []string{"trust", "list", "--trust-dir", trustDir}, 0, []string{demo.TUFName, "root", "never"}},
		{"verify", []string{"verify", bundlePath, "--trust-dir", trustDir, "--policy", policy, "--report", filepath.Join(dir, "r.json")}, 0,
			[]string{"PASS", "release@vendor.example"}},
		{"verify json", []string{"verify", "--format", "json", "--trust-dir", trustDir, "--policy", policy, bundlePath}, 0,
			[]string{`"schema": "airlock.dev/report/v1"`}},
		{"verify quick flags", []string{"verify", "--trust-dir", trustDir, "--certificate-identity", demo.Identity, "--certificate-oidc-issuer", demo.Issuer, bundlePath}, 0, nil},
		{"verify quick flags --type", []string{"verify", "--trust-dir", trustDir, "--certificate-identity", demo.Identity, "--certificate-oidc-issuer", demo.Issuer, "--type", "slsaprovenance1", bundlePath}, 0,
			[]string{"attestation https://slsa.dev/provenance/v1", "threshold: 0"}},
		{"verify --type absent", []string{"verify", "--trust-dir", trustDir, "--certificate-identity", demo.Identity, "--certificate-oidc-issuer", demo.Issuer, "--type", "cyclonedx", bundlePath}, exitPolicy,
			[]string{"https://cyclonedx.org/bom"}},
		{"verify --type bogus", []string{"verify", "--trust-dir", trustDir, "--key", "k.pub", "--type", "bogus", bundlePath}, exitError, []string{"--type"}},
		{"verify wrong identity", []string{"verify", "--trust-dir", trustDir, "--certificate-identity", "x@y", "--certificate-oidc-issuer", demo.Issuer, bundlePath}, exitPolicy, nil},
		{"verify audit", []string{"verify", "--at", "2030-01-01T00:00:00Z", "--trust-dir", trustDir, "--policy", policy, bundlePath}, exitPolicy,
			[]string{"AUDIT MODE"}},
		{"trust update", []string{"trust", "update", bundlePath, "--trust-dir", trustDir}, 0, []string{"accepted"}},
		{"trust init public good", []string{"trust", "init", "--trust-dir", publicDir}, 0, []string{"pinned sigstore", "embedded"}},
		{"trust update on another pin", []string{"trust", "update", bundlePath, "--trust-dir", publicDir}, exitPolicy, []string{"no TUF repository in the bundle matches"}},
		{"trust show", []string{"trust", "show", demo.TUFName, "--trust-dir", trustDir}, 0, []string{"timestamp"}},
		{"import dry run", []string{"import", bundlePath, "--to", w.TargetHost() + "/m", "--dry-run", "--trust-dir", trustDir, "--policy", policy}, 0,
			[]string{"DRY RUN", w.TargetHost() + "/m/" + strings.ReplaceAll(w.SourceHost(), ":", "_") + "/vendor/app:1.0"}},
		{"import dry run, host dropped", []string{"import", bundlePath, "--to", w.TargetHost() + "/d", "--drop-host", "--dry-run", "--trust-dir", trustDir, "--policy", policy}, 0,
			[]string{"WARNING: --drop-host", w.TargetHost() + "/d/vendor/app:1.0"}},
		{"import, host dropped and kept", []string{"import", bundlePath, "--to", w.TargetHost() + "/d", "--drop-host", "--keep-host", "--dry-run", "--trust-dir", trustDir, "--policy", policy}, exitError, nil},
		{"import", []string{"import", bundlePath, "--to", w.TargetHost() + "/m", "--trust-dir", trustDir, "--policy", policy, "--receipt", filepath.Join(dir, "receipt.json")}, 0,
			[]string{"pushed"}},
		{"import --at refused", []string{"import", bundlePath, "--to", w.TargetHost() + "/m", "--trust-dir", trustDir, "--policy", policy, "--at", "2026-01-01T00:00:00Z"}, exitError, nil},
		{"no policy", []string{"verify", "--trust-dir", trustDir, bundlePath}, exitError, []string{"--policy"}},
		{"policy and flags", []string{"verify", "--policy", policy, "--key", root, bundlePath}, exitError, nil},
		{"missing bundle", []string{"inspect", filepath.Join(dir, "absent.tar")}, exitError, nil},
		{"not a bundle", []string{"inspect", policy}, exitIntegrity, nil},
		{"bad format", []string{"inspect", "--format", "yaml", bundlePath}, exitError, []string{"want text or json"}},
		{"unknown command", []string{"frobnicate"}, exitError, nil},
	}
	run := make([]step, len(steps))
	for i, s := range steps {
		run[i] = step{name: s.name, args: s.args, code: s.code, want: s.want}
	}
	runSteps(t, run)
	if _, err := os.Stat(filepath.Join(dir, "receipt.json")); err != nil {
		t.Errorf("receipt not written: %v", err)
	}
}
