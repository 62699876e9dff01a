package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/airlock-oci/airlock/internal/sigstack"
	"github.com/airlock-oci/airlock/internal/testenv"
)

// startTSA runs sigstore's timestamp-server (memory signer) on loopback and
// returns its URL and a trusted_root.json that lists it as the only
// timestamp authority. It runs the build `make sigstack-tools` makes with the
// metrics listener on an ephemeral loopback port (timestamp-server-lo): the
// stock build binds :2112 and exits when another test holds it. `make test`
// builds it; a plain `go test` without it skips.
func startTSA(t *testing.T) (url, trustedRoot string) {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join(testenv.SigstackBinDir(), sigstack.TSABin))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("AIRLOCK_E2E") == "1" {
			t.Fatalf("timestamp-server-lo not built (make sigstack-tools): %v", err)
		}
		t.Skip("sigstore timestamp-server not installed (tools/sigstack/timestamp-server-lo); real cosign RFC 3161 timestamps not checked")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--disable-ntp-monitoring", "--timestamp-signer", "memory")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting timestamp-server: %v", err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	url = fmt.Sprintf("http://127.0.0.1:%d/api/v1/timestamp", port)
	var chain []byte
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(url + "/certchain")
		if err == nil {
			chain, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timestamp-server did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var certs []map[string]string
	for rest := chain; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		certs = append(certs, map[string]string{"rawBytes": base64.StdEncoding.EncodeToString(blk.Bytes)})
	}
	if len(certs) == 0 {
		t.Fatalf("no certificates in the TSA chain:\n%s", chain)
	}
	tr, err := json.Marshal(map[string]any{
		"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
		"timestampAuthorities": []any{map[string]any{
			"subject":   map[string]string{"organization": "local", "commonName": "Test TSA"},
			"uri":       url,
			"certChain": map[string]any{"certificates": certs},
			"validFor":  map[string]string{"start": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	trustedRoot = filepath.Join(t.TempDir(), "tsa_trusted_root.json")
	if err := os.WriteFile(trustedRoot, tr, 0o600); err != nil {
		t.Fatal(err)
	}
	return url, trustedRoot
}

// TestE2EKeySignedWithRFC3161Only: real cosign signs and attests with a key,
// no transparency log and an RFC 3161 timestamp (--tlog-upload=false
// --timestamp-server-url). airlock checks both timestamps against the
// operator's trusted timestamp authority (issue 8), and refuses them
// without it.
func TestE2EKeySignedWithRFC3161Only(t *testing.T) {
	testenv.Tool(t, "cosign")
	tsaURL, tsaRoot := startTSA(t)
	reg := testenv.StartRegistry(t)
	dir := t.TempDir()
	env := []string{"COSIGN_PASSWORD=", "COSIGN_YES=true", "HOME=" + dir, "SIGSTORE_NO_CACHE=1", "TUF_ROOT=" + filepath.Join(dir, "tuf")}
	testenv.Run(t, dir, env, "cosign", "generate-key-pair")
	pred := filepath.Join(dir, "provenance.json")
	if err := os.WriteFile(pred, []byte(provenancePredicate), 0o600); err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.Host+"/acme/tsa:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img := ociImage(t, "amd64", 16<<10, 1)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	byDigest := reg.Host + "/acme/tsa@" + d.String()
	base := []string{"--key", filepath.Join(dir, "cosign.key"), "--tlog-upload=false", "--timestamp-server-url", tsaURL, "--allow-insecure-registry", "--allow-http-registry", "-y"}
	testenv.Run(t, dir, env, "cosign", append([]string{"sign"}, append(base, byDigest)...)...)
	testenv.Run(t, dir, env, "cosign", append([]string{"attest", "--type", "slsaprovenance1", "--predicate", pred}, append(base, byDigest)...)...)

	bundlePath := filepath.Join(dir, "bundle.tar")
	if _, stderr, code := airlockRun(t, "export", "--no-tuf", "--insecure-registry", reg.Host, "-o", bundlePath, ref.Name()); code != 0 {
		t.Fatalf("export exit %d: %s", code, stderr)
	}
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(`apiVersion: airlock.dev/v1
kind: Policy
rules:
  - name: tsa
    images: ["**"]
    timestamp: required
    signers: [{key: cosign.pub}]
    attestations: [{name: provenance, predicateType: "https://slsa.dev/provenance/v1"}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	type report struct {
		Verdict string
		Images  []struct {
			Findings []struct {
				Kind, Status, Reason string
				Timestamps           []struct{ Kind string }
				TrustMaterial        []string
			}
		}
	}
	verifyWith := func(extra ...string) (report, int, string) {
		args := append([]string{"verify", "--format", "json", "--trust-dir", filepath.Join(dir, "trust"), "--policy", policy}, extra...)
		stdout, stderr, code := airlockRun(t, append(args, bundlePath)...)
		var rep report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("report: %v\n%s\n%s", err, stdout, stderr)
		}
		return rep, code, stdout + stderr
	}

	rep, code, out := verifyWith("--trusted-root", tsaRoot)
	if code != 0 || rep.Verdict != "pass" {
		t.Fatalf("with the TSA trusted: exit %d\n%s", code, out)
	}
	kinds := map[string]bool{}
	for _, f := range rep.Images[0].Findings {
		if f.Status != "verified" {
			continue
		}
		kinds[f.Kind] = true
		if len(f.Timestamps) != 1 || f.Timestamps[0].Kind != "rfc3161" || !strings.Contains(strings.Join(f.TrustMaterial, ","), "file:"+tsaRoot) {
			t.Errorf("%s: timestamps %+v trust %v, want one rfc3161 from %s", f.Kind, f.Timestamps, f.TrustMaterial, tsaRoot)
		}
	}
	if !kinds["cosign-signature"] || !kinds["cosign-attestation"] {
		t.Fatalf("verified kinds %v, want the signature and the attestation\n%s", kinds, out)
	}

	// Without the TSA in the trust material neither is dated, so neither
	// counts: timestamps that cannot be checked fail the evidence.
	if rep, code, out := verifyWith(); code == 0 || rep.Verdict == "pass" {
		t.Fatalf("without a trusted TSA: exit %d\n%s", code, out)
	}
}
