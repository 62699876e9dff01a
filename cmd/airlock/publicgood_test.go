package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-oci/airlock/internal/testenv"
)

// The CLI's --type with the real public-good attestation of cosign v2.6.5's
// test data (testdata/cosign/, see publicgood_test.go in the root package):
// `airlock verify --certificate-identity … --certificate-oidc-issuer …
// --type custom` admits the image that is only attested, as `cosign
// verify-attestation --type custom` would, and refuses another identity or
// issuer, and a plain signature requirement.
func TestCLIPublicGoodAttestationType(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	ref := testenv.PublicGoodRegistry(t)
	dir := t.TempDir()
	bundlePath := filepath.Join(dir, "pg.tar")
	if _, stderr, code := airlockRun(t, "export", "--no-tuf", "-o", bundlePath, ref.String()); code != 0 {
		t.Fatalf("export exit %d: %s", code, stderr)
	}
	verifyArgs := func(extra ...string) []string {
		return append(append([]string{"verify", "--trust-dir", filepath.Join(dir, "trust"), "--trusted-root", "../../testdata/cosign/trusted_root_pgi.json"}, extra...), bundlePath)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"--type custom, right identity", verifyArgs("--certificate-identity", "cody@soyland.com", "--certificate-oidc-issuer", "https://github.com/login/oauth", "--type", "custom"), 0, "PASS"},
		{"--type as a URI", verifyArgs("--certificate-identity", "cody@soyland.com", "--certificate-oidc-issuer", "https://github.com/login/oauth", "--type", "https://cosign.sigstore.dev/attestation/v1"), 0, "PASS"},
		{"wrong identity", verifyArgs("--certificate-identity", "someone@else.example", "--certificate-oidc-issuer", "https://github.com/login/oauth", "--type", "custom"), exitPolicy, "not an allowed signer"},
		{"wrong issuer", verifyArgs("--certificate-identity", "cody@soyland.com", "--certificate-oidc-issuer", "https://accounts.google.com", "--type", "custom"), exitPolicy, "not an allowed signer"},
		{"other type", verifyArgs("--certificate-identity", "cody@soyland.com", "--certificate-oidc-issuer", "https://github.com/login/oauth", "--type", "slsaprovenance1"), exitPolicy, "other types present: https://cosign.sigstore.dev/attestation/v1"},
		{"without --type a signature is required", verifyArgs("--certificate-identity", "cody@soyland.com", "--certificate-oidc-issuer", "https://github.com/login/oauth"), exitPolicy, "no signature found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := airlockRun(t, tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s\n%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
}
