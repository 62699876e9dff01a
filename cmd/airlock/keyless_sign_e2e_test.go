package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/airlock-oci/airlock/internal/testenv"
)

// courier signs bundles; alice signs images.
const courier = "courier@airlock.test"

// TestE2EKeylessBundleSignRekorV2: export signs the bundle keylessly
// against the private Sigstore (Fulcio certificate, Rekor v2 entry, TSA
// timestamp) from its signing config; verify, offline, accepts it under a
// policy naming the courier and reports who and which time vouched; a
// policy naming another identity or issuer refuses the whole bundle and
// import pushes nothing; a renamed tag breaks the signature.
func TestE2EKeylessBundleSignRekorV2(t *testing.T) {
	keylessBundleSign(t, func(w *keylessWorld) []string {
		return []string{"--signing-config", w.s.SigningConfig}
	}, "(Rekor v2)", "rfc3161")
}

// TestE2EKeylessBundleSignRekorV1: the same with the services named
// explicitly as cosign takes them (--fulcio-url, --rekor-url of a Rekor v1
// log, --timestamp-server-url) and the token read from a file.
func TestE2EKeylessBundleSignRekorV1(t *testing.T) {
	keylessBundleSign(t, func(w *keylessWorld) []string {
		if w.s.RekorV1URL == "" {
			t.Skip("Rekor v1 not built (make sigstack-tools builds it)")
		}
		return []string{"--fulcio-url", w.s.FulcioURL, "--rekor-url", w.s.RekorV1URL, "--timestamp-server-url", w.s.TSAURL}
	}, "(Rekor v1)", "tlog-integrated")
}

// bundleSigReport is the report's bundleSignature, as these tests read it.
type bundleSigReport struct {
	Verdict         string
	BundleSignature *struct {
		Required   bool
		Status     string
		Reason     string
		Signer     *struct{ Identity, Issuer string }
		Timestamps []struct {
			Kind string
			Time time.Time
		}
		TLog []struct{ LogID string }
	}
	Images []struct{ Reference, Verdict string }
}

func keylessBundleSign(t *testing.T, services func(*keylessWorld) []string, wantLog, wantTime string) {
	w := newKeylessWorld(t, "cosign")
	flags := services(w)
	app, appDig, _ := w.push(t, "acme/app", false)
	w.bundleSign(t, alice, "sign", strings.TrimSuffix(app, ":v1")+"@"+appDig.String())

	dir := t.TempDir()
	tok, err := w.s.Token(courier)
	if err != nil {
		t.Fatal(err)
	}
	if wantLog == "(Rekor v1)" { // the token from a file, as cosign takes it
		p := filepath.Join(dir, "token")
		if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		tok = p
	}
	bundlePath := filepath.Join(dir, "bundle.tar")
	before := time.Now().Add(-time.Minute)
	stdout, stderr, code := airlockRun(t, append(append([]string{"export", "--no-tuf", "--insecure-registry", w.reg.Host, "-o", bundlePath,
		"--trusted-root", w.s.TrustedRoot, "--identity-token", tok}, flags...), app)...)
	if code != 0 {
		t.Fatalf("keyless-signed export: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"signed    keyless as " + courier + " (issuer " + w.s.Issuer.URL + ")", wantLog, "timestamped by " + w.s.TSAURL, "checked against --trusted-root"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("export output lacks %q:\n%s", want, stdout)
		}
	}
	ins := inspectJSON(t, bundlePath)
	if sig, _ := ins["signature"].(map[string]any); sig == nil || sig["certificate"] != true {
		t.Errorf("inspect does not show a keyless bundle signature: %v", ins["signature"])
	}

	trustDir := filepath.Join(dir, "trust")
	policy := func(name, subject, issuer string) string {
		p := filepath.Join(dir, name+".yaml")
		doc := `apiVersion: airlock.dev/v1
kind: Policy
bundle:
  signers:
    - issuer: ` + issuer + `
      subject: ` + subject + `
rules:
  - name: app
    images: ["**"]
    signers:
      - issuer: ` + w.s.Issuer.URL + `
        subject: ` + alice + `
`
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	verifyArgs := func(policyFile string) []string {
		return []string{"verify", "--trust-dir", trustDir, "--trusted-root", w.s.TrustedRoot, "--policy", policyFile}
	}
	readBundleReport := func(t *testing.T, path string) bundleSigReport {
		t.Helper()
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var r bundleSigReport
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if r.BundleSignature == nil {
			t.Fatalf("the report has no bundleSignature:\n%s", raw)
		}
		return r
	}

	t.Run("verify offline", func(t *testing.T) {
		offline(t)
		report := filepath.Join(dir, "report.json")
		stdout, stderr, code := airlockRun(t, append(verifyArgs(policy("courier", courier, w.s.Issuer.URL)), "--report", report, bundlePath)...)
		if code != 0 {
			t.Fatalf("verify: exit %d\n%s\n%s", code, stdout, stderr)
		}
		t.Logf("verify summary:\n%s", stdout)
		rep := readBundleReport(t, report)
		bs := rep.BundleSignature
		if rep.Verdict != "pass" || !bs.Required || bs.Status != "verified" || bs.Signer == nil ||
			bs.Signer.Identity != courier || bs.Signer.Issuer != w.s.Issuer.URL {
			t.Fatalf("verdict %s, bundle signature %+v", rep.Verdict, bs)
		}
		var kinds []string
		for _, ts := range bs.Timestamps {
			kinds = append(kinds, ts.Kind)
			if ts.Time.Before(before) || ts.Time.After(time.Now().Add(time.Minute)) {
				t.Errorf("%s timestamp %s is not the time of the export", ts.Kind, ts.Time)
			}
		}
		if !strings.Contains(strings.Join(kinds, ","), wantTime) {
			t.Errorf("the bundle signature's timestamps are %v, want %s among them", kinds, wantTime)
		}
		if !strings.Contains(bs.Reason, "vouched by") {
			t.Errorf("the bundle signature does not say which time vouched: %q", bs.Reason)
		}
		if len(bs.TLog) == 0 {
			t.Errorf("the bundle signature's log entry is not reported")
		}
		for _, want := range []string{"signed by:  verified (required by the policy)", courier, "timestamp"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("verify summary lacks %q:\n%s", want, stdout)
			}
		}
	})

	t.Run("another identity or issuer", func(t *testing.T) {
		offline(t)
		for _, tc := range []struct{ name, subject, issuer string }{
			{"another identity", alice, w.s.Issuer.URL},
			{"another issuer", courier, "https://accounts.google.com"},
		} {
			report := filepath.Join(dir, "refused.json")
			stdout, _, code := airlockRun(t, append(verifyArgs(policy(tc.name, tc.subject, tc.issuer)), "--report", report, bundlePath)...)
			if code != exitPolicy {
				t.Errorf("%s: exit %d, want %d\n%s", tc.name, code, exitPolicy, stdout)
				continue
			}
			rep := readBundleReport(t, report)
			if bs := rep.BundleSignature; bs.Status != "not-accepted" || !strings.Contains(bs.Reason, courier) || len(rep.Images) != 0 {
				t.Errorf("%s: bundle signature %+v with %d images judged", tc.name, bs, len(rep.Images))
			}
		}
	})

	t.Run("import under another identity pushes nothing", func(t *testing.T) {
		regB := testenv.StartRegistry(t)
		stdout, stderr, code := airlockRun(t, "import", "--trust-dir", trustDir, "--trusted-root", w.s.TrustedRoot,
			"--policy", policy("alice-import", alice, w.s.Issuer.URL), "--insecure-registry", regB.Host, "--to", regB.Host+"/mirror", bundlePath)
		if code != exitPolicy {
			t.Fatalf("import: exit %d, want %d\n%s\n%s", code, exitPolicy, stdout, stderr)
		}
		if out := testenv.Run(t, "", nil, "crane", "catalog", "--insecure", regB.Host); strings.TrimSpace(out) != "" {
			t.Errorf("repositories in the target after a refused import:\n%s", out)
		}
	})

	// Split: the parts manifest is signed keylessly too, by the same
	// certificate, and verify requires that.
	split := filepath.Join(dir, "split.tar")
	if stdout, stderr, code := airlockRun(t, append(append([]string{"export", "--no-tuf", "--insecure-registry", w.reg.Host, "-o", split,
		"--split-size", "8KiB", "--identity-token", tok}, flags...), app)...); code != 0 {
		t.Fatalf("keyless-signed split export: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Run("split, verify offline", func(t *testing.T) {
		offline(t)
		stdout, stderr, code := airlockRun(t, append(verifyArgs(policy("courier", courier, w.s.Issuer.URL)), split)...)
		if code != 0 || !strings.Contains(stdout, "parts manifest signature: verified") {
			t.Fatalf("verify of the split bundle: exit %d\n%s\n%s", code, stdout, stderr)
		}
	})

	t.Run("tag changed", func(t *testing.T) {
		offline(t)
		tampered := retagBundle(t, bundlePath, ":v1", ":v2")
		report := filepath.Join(dir, "tampered.json")
		stdout, _, code := airlockRun(t, append(verifyArgs(policy("courier", courier, w.s.Issuer.URL)), "--report", report, tampered)...)
		switch code {
		case exitIntegrity: // the graph check caught it first: refused all the same
		case exitPolicy:
			if bs := readBundleReport(t, report).BundleSignature; bs.Status != "failed" || !strings.Contains(bs.Reason, "subjects") {
				t.Errorf("bundle signature %+v, want failed: its subjects do not cover the changed index", bs)
			}
		default:
			t.Errorf("verify of a retagged keyless-signed bundle: exit %d\n%s", code, stdout)
		}
	})
}

// retagBundle copies a bundle with from replaced by to in the image
// entries' ref.name annotations of index.json.
func retagBundle(t *testing.T, path, from, to string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	tr, tw := tar.NewReader(f), tar.NewWriter(&buf)
	changed := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == "index.json" {
			var idx v1.IndexManifest
			if err := json.Unmarshal(body, &idx); err != nil {
				t.Fatal(err)
			}
			for i, d := range idx.Manifests {
				if n := d.Annotations["org.opencontainers.image.ref.name"]; strings.HasSuffix(n, from) {
					idx.Manifests[i].Annotations["org.opencontainers.image.ref.name"] = strings.TrimSuffix(n, from) + to
					changed = true
				}
			}
			if body, err = json.Marshal(idx); err != nil {
				t.Fatal(err)
			}
			hdr.Size = int64(len(body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Fatalf("no ref.name in %s ends in %s", path, from)
	}
	out := path + ".retagged"
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
