package main

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// signingConfig writes a signing config (v0.2) with a Fulcio, a Rekor of
// API version rekorVersion and, when tsa, a timestamp authority.
func signingConfig(t *testing.T, rekorVersion string, tsa bool) string {
	t.Helper()
	svc := func(url, v string) string {
		return `{"url":"` + url + `","majorApiVersion":` + v + `,"validFor":{"start":"2020-01-01T00:00:00Z"},"operator":"test"}`
	}
	tsas := ""
	if tsa {
		tsas = svc("https://tsa.example/api/v1/timestamp", "1")
	}
	doc := `{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json",
"caUrls":[` + svc("https://fulcio.example", "1") + `],
"rekorTlogUrls":[` + svc("https://rekor.example", rekorVersion) + `],"rekorTlogConfig":{"selector":"ANY"},
"tsaUrls":[` + tsas + `],"tsaConfig":{"selector":"ANY"}}`
	p := filepath.Join(t.TempDir(), "signing_config.json")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKeylessSignFlagErrors: every keyless signing mistake is a usage error
// (exit 3) that says what is wrong, before the registry is contacted.
func TestKeylessSignFlagErrors(t *testing.T) {
	t.Setenv("SIGSTORE_ID_TOKEN", "")
	os.Unsetenv("SIGSTORE_ID_TOKEN")
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusNotFound)
	}))
	defer srv.Close()
	image := strings.TrimPrefix(srv.URL, "http://") + "/a:v1"

	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	token := hdr + ".eyJzdWIiOiJ4In0.c2ln"
	badToken := "bm90IGpzb24.eyJzdWIiOiJ4In0.secretsignature"
	dir := t.TempDir()
	tokenFile := writeFile(t, filepath.Join(dir, "token"), "not a token\n")
	key := filepath.Join(dir, "cosign.key")
	v2, v2NoTSA := signingConfig(t, "2", true), signingConfig(t, "2", false)
	notConfig := writeFile(t, filepath.Join(dir, "junk.json"), `{"mediaType": 7}`)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"key and keyless", []string{"--sign-key", key, "--identity-token", token, "--signing-config", v2}, "exclude each other"},
		{"key and fulcio", []string{"--sign-key", key, "--fulcio-url", "https://fulcio.example"}, "exclude each other"},
		{"no instance", []string{"--identity-token", token}, "name the Sigstore instance"},
		{"config and URLs", []string{"--identity-token", token, "--signing-config", v2, "--fulcio-url", "https://fulcio.example"}, "excludes --fulcio-url"},
		{"no log", []string{"--identity-token", token, "--fulcio-url", "https://fulcio.example"}, "no transparency log"},
		{"rekor v2 without TSA", []string{"--identity-token", token, "--signing-config", v2NoTSA}, "records no signing time"},
		{"no token", []string{"--signing-config", v2}, "no identity token"},
		{"token file not a token", []string{"--identity-token", tokenFile, "--signing-config", v2}, "not a JWT"},
		{"token neither JWT nor file", []string{"--identity-token", filepath.Join(dir, "missing-token"), "--signing-config", v2}, "neither a JWT nor a readable file"},
		{"damaged token", []string{"--identity-token", badToken, "--signing-config", v2}, "neither a JWT nor a readable file"},
		{"signing config missing", []string{"--identity-token", token, "--signing-config", filepath.Join(dir, "none.json")}, "--signing-config"},
		{"signing config malformed", []string{"--identity-token", token, "--signing-config", notConfig}, "--signing-config " + notConfig},
		{"not a URL", []string{"--identity-token", token, "--fulcio-url", "fulcio.example", "--rekor-url", "https://rekor.example"}, "is not an http(s) URL"},
		{"trusted root unreadable", []string{"--identity-token", token, "--signing-config", v2, "--trusted-root", filepath.Join(dir, "none-root.json")}, "--trusted-root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"export", "--no-tuf", "-o", filepath.Join(dir, "b.tar")}, tc.args...), image)
			_, stderr, code := airlockRun(t, args...)
			if code != exitError || !strings.Contains(stderr, "usage") || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want a usage error (exit %d) saying %q", code, stderr, exitError, tc.want)
			}
			if strings.Contains(stderr, "secretsignature") {
				t.Errorf("the error echoes the identity token: %q", stderr)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the registry was contacted %d times before the flags were checked", n)
	}

	// The token from SIGSTORE_ID_TOKEN, or read from a file, is accepted:
	// export gets as far as the registry (which has no such image).
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"token from a file": {"--identity-token", tokenFile, "--signing-config", v2},
		"SIGSTORE_ID_TOKEN": {"--signing-config", v2},
	} {
		t.Setenv("SIGSTORE_ID_TOKEN", token)
		_, stderr, code := airlockRun(t, append(append([]string{"export", "--no-tuf", "-o", filepath.Join(dir, "b.tar")}, args...), image)...)
		if code == 0 || strings.Contains(stderr, "usage") {
			t.Errorf("%s: exit %d, stderr %q; want the export to pass the flags and fail at the registry", name, code, stderr)
		}
		os.Unsetenv("SIGSTORE_ID_TOKEN")
	}
	if hits.Load() == 0 {
		t.Errorf("the accepted keyless flags never reached the registry")
	}
}
