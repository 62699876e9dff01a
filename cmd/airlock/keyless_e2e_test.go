package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/airlock-oci/airlock/internal/sigstack"
	"github.com/airlock-oci/airlock/internal/testenv"
	"github.com/airlock-oci/airlock/internal/tufrepo"
)

// The private Sigstore (internal/sigstack) is started once per test binary,
// by the first keyless test that needs it, and stopped by TestMain (its
// processes also die with the test binary on Linux, even on a panic).
var keyless struct {
	once sync.Once
	s    *sigstack.Stack
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if keyless.s != nil {
		keyless.s.Close()
	}
	os.Exit(code)
}

func keylessStack(t *testing.T) *sigstack.Stack {
	t.Helper()
	cfg := sigstack.Config{BinDir: testenv.SigstackBinDir(), Cosign: testenv.Tool(t, "cosign")}
	if m := sigstack.Missing(cfg); len(m) > 0 {
		if testenv.Required() {
			t.Fatalf("private Sigstore binaries missing (run `make sigstack-tools`): %v", m)
		}
		t.Skipf("private Sigstore binaries missing (run `make sigstack-tools`): %v", m)
	}
	keyless.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// Rekor v1 (Trillian, MariaDB) too, when it is built; make builds it.
		cfg.RekorV1 = testenv.Required() || len(sigstack.RekorV1Missing(cfg)) == 0
		keyless.s, keyless.err = sigstack.Start(ctx, cfg)
		if keyless.err == nil {
			t.Logf("private Sigstore started in %s (Fulcio %s, Rekor v2 %s, Rekor v1 %q, TSA %s, OIDC %s)",
				keyless.s.StartDuration.Round(time.Millisecond), keyless.s.FulcioURL, keyless.s.RekorURL, keyless.s.RekorV1URL, keyless.s.TSAURL, keyless.s.Issuer.URL)
		}
	})
	if keyless.err != nil {
		t.Fatalf("starting the private Sigstore: %v", keyless.err)
	}
	return keyless.s
}

const (
	alice   = "alice@airlock.test"
	mallory = "mallory@airlock.test"
)

// keylessWorld is a registry with images signed and attested keylessly by
// a real cosign against the private Sigstore.
type keylessWorld struct {
	s      *sigstack.Stack
	reg    *testenv.Registry
	dir    string
	env    []string
	cosign string // tool name: cosign (v2) or cosign3
	pred   string
}

func newKeylessWorld(t *testing.T, cosign string) *keylessWorld {
	t.Helper()
	testenv.Tool(t, cosign)
	w := &keylessWorld{s: keylessStack(t), reg: testenv.StartRegistry(t), dir: t.TempDir(), cosign: cosign}
	w.env = []string{"COSIGN_YES=true", "HOME=" + w.dir, "SIGSTORE_NO_CACHE=1", "TUF_ROOT=" + filepath.Join(w.dir, "tuf")}
	w.pred = filepath.Join(w.dir, "provenance.json")
	if err := os.WriteFile(w.pred, []byte(provenancePredicate), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// push writes a single-platform image, or a two-platform index, and
// returns its tag reference, digest and (for an index) platform digests.
func (w *keylessWorld) push(t *testing.T, repo string, idx bool) (string, v1.Hash, []v1.Hash) {
	t.Helper()
	if idx {
		return pushTwoPlatformIndex(t, w.reg.Host, repo)
	}
	ref, err := name.ParseReference(w.reg.Host+"/"+repo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img := ociImage(t, "amd64", 32<<10, 1)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return ref.Name(), d, nil
}

// bundleSign runs `cosign sign|attest` keylessly as who, writing a Sigstore
// bundle logged in Rekor v2 with a TSA timestamp (the signing config).
func (w *keylessWorld) bundleSign(t *testing.T, who string, args ...string) {
	t.Helper()
	w.bundleSignWith(t, w.s.SigningConfig, who, args...)
}

func (w *keylessWorld) bundleSignWith(t *testing.T, signingConfig, who string, args ...string) {
	t.Helper()
	tok, err := w.s.Token(who)
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--new-bundle-format", "--signing-config", signingConfig, "--trusted-root", w.s.TrustedRoot,
		"--identity-token", tok, "--allow-http-registry", "--allow-insecure-registry", "-y"}
	testenv.Run(t, w.dir, w.env, w.cosign, append(args[:1:1], append(base, args[1:]...)...)...)
}

// cosignVerify runs `cosign verify|verify-attestation` of Sigstore bundles
// against the private trusted root as who, on the imported copy.
func (w *keylessWorld) cosignVerify(t *testing.T, who string, args ...string) {
	t.Helper()
	base := []string{"--new-bundle-format", "--trusted-root", w.s.TrustedRoot, "--certificate-identity", who,
		"--certificate-oidc-issuer", w.s.Issuer.URL, "--use-signed-timestamps", "--insecure-ignore-sct",
		"--allow-http-registry", "--allow-insecure-registry"}
	testenv.Run(t, w.dir, w.env, w.cosign, append(args[:1:1], append(base, args[1:]...)...)...)
}

// legacySign runs `cosign sign|attest` keylessly as who in the legacy
// format (.sig/.att tags), with a Rekor v1 entry.
func (w *keylessWorld) legacySign(t *testing.T, who string, args ...string) {
	t.Helper()
	tok, err := w.s.Token(who)
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--fulcio-url", w.s.FulcioURL, "--rekor-url", w.s.RekorV1URL, "--identity-token", tok,
		"--insecure-skip-verify", "--allow-http-registry", "--allow-insecure-registry", "-y"}
	if w.cosign == "cosign3" {
		base = append(base, "--new-bundle-format=false", "--use-signing-config=false")
	}
	env := append(w.env[:len(w.env):len(w.env)], "SIGSTORE_ROOT_FILE="+w.s.FulcioChain, "SIGSTORE_REKOR_PUBLIC_KEY="+w.s.RekorV1Key)
	testenv.Run(t, w.dir, env, w.cosign, append(args[:1:1], append(base, args[1:]...)...)...)
}

// legacyVerify runs `cosign verify|verify-attestation` of legacy
// signatures (Rekor v1 entries) against the private Sigstore: verify reads
// the trusted root; cosign 2.6's verify-attestation takes one only with
// --new-bundle-format, so it gets the Fulcio chain and Rekor key instead.
func (w *keylessWorld) legacyVerify(t *testing.T, who string, args ...string) {
	t.Helper()
	base := []string{"--certificate-identity", who, "--certificate-oidc-issuer", w.s.Issuer.URL,
		"--insecure-ignore-sct", "--allow-http-registry", "--allow-insecure-registry"}
	env := w.env
	if args[0] == "verify" {
		base = append(base, "--trusted-root", w.s.TrustedRoot)
	} else {
		env = append(env[:len(env):len(env)], "SIGSTORE_ROOT_FILE="+w.s.FulcioChain, "SIGSTORE_REKOR_PUBLIC_KEY="+w.s.RekorV1Key)
	}
	testenv.Run(t, w.dir, env, w.cosign, append(args[:1:1], append(base, args[1:]...)...)...)
}

// keylessReport is the part of the JSON report these tests read.
type keylessReport struct {
	Verdict string
	Trust   []struct {
		Name, Kind, Origin string
		Used               bool
		Notes              []string
	}
	Images []struct {
		Reference, Verdict string
		Findings           []struct {
			Kind, Status, Reason, Subject string
			Signer                        *struct{ Identity, Issuer string }
			Timestamps                    []struct{ Kind string }
			TrustMaterial                 []string
		}
		Rules []struct {
			Requirement, Reason string
			Satisfied           bool
		}
	}
}

func readReport(t *testing.T, path string) keylessReport {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r keylessReport
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report: %v", err)
	}
	return r
}

// TestE2EKeylessRekorV2 is the keyless round trip with Sigstore bundles
// logged in Rekor v2 and timestamped by the TSA, written by real cosign v2:
// signatures and attestations on a single-platform image, on an index and
// on each of its platforms; export; offline verify against the private
// trusted root (right identity passes; wrong identity, wrong issuer and an
// intruder's signature are refused); import; cosign verify on the target.
func TestE2EKeylessRekorV2(t *testing.T) { keylessRekorV2(t, "cosign") }

func keylessRekorV2(t *testing.T, cosign string) {
	w := newKeylessWorld(t, cosign)
	app, appDig, _ := w.push(t, "acme/app", false)
	multi, multiDig, plats := w.push(t, "acme/multi", true)
	intruded, intrudedDig, _ := w.push(t, "acme/intruded", false)
	at := atDigest

	for _, ref := range []string{at(app, appDig), at(multi, multiDig), at(multi, plats[0]), at(multi, plats[1])} {
		w.bundleSign(t, alice, "sign", ref)
		w.bundleSign(t, alice, "attest", "--type", "slsaprovenance1", "--predicate", w.pred, ref)
	}
	// An intruder signs app too (its signature is in the bundle, next to
	// alice's) and is the only signer of intruded.
	w.bundleSign(t, mallory, "sign", at(app, appDig))
	w.bundleSign(t, mallory, "sign", at(intruded, intrudedDig))

	b := w.export(t, intruded, app, multi)
	t.Run("verify offline", func(t *testing.T) {
		stdout, rep := b.verifyOffline(t)
		if rep.Verdict != "pass" || len(rep.Images) != 2 {
			t.Fatalf("verdict %q with %d images\n%s", rep.Verdict, len(rep.Images), stdout)
		}
		for _, im := range rep.Images {
			bySigner := map[string]int{}
			for _, f := range im.Findings {
				if f.Kind != "sigstore-bundle" {
					t.Errorf("%s: unexpected %s finding %s", im.Reference, f.Kind, f.Status)
					continue
				}
				if f.Status != "verified" || f.Signer == nil {
					t.Errorf("%s: bundle finding %s: %s", im.Reference, f.Status, f.Reason)
					continue
				}
				if f.Signer.Issuer != w.s.Issuer.URL {
					t.Errorf("%s: signer issuer %q, want %q", im.Reference, f.Signer.Issuer, w.s.Issuer.URL)
				}
				bySigner[f.Signer.Identity]++
				// Rekor v2 has no integrated time: the TSA vouched for the time.
				if len(f.Timestamps) == 0 || f.Timestamps[0].Kind != "rfc3161" {
					t.Errorf("%s: timestamps %+v, want the TSA's", im.Reference, f.Timestamps)
				}
				// The report says plainly what a private instance lacks and
				// which time vouched.
				for _, want := range []string{"the trusted root lists no CT logs", "vouched by a timestamp authority (the log records no time)"} {
					if !strings.Contains(f.Reason, want) {
						t.Errorf("%s: the finding does not say %q: %q", im.Reference, want, f.Reason)
					}
				}
			}
			want := map[string]int{alice: 2} // a signature and an attestation
			if im.Reference == multi {
				want[alice] = 6 // on the index and on each platform
			}
			if im.Reference == app {
				want[mallory] = 1
				// The intruder's genuine signature is in the bundle but
				// does not count, and the report says why.
				said := false
				for _, r := range im.Rules {
					said = said || (r.Satisfied && strings.Contains(r.Reason, "not counted") && strings.Contains(r.Reason, mallory))
				}
				if !said {
					t.Errorf("%s: no rule says the intruder's signature was not counted: %+v", im.Reference, im.Rules)
				}
			}
			for who, n := range want {
				if bySigner[who] != n {
					t.Errorf("%s: %d verified bundles by %s, want %d (%v)", im.Reference, bySigner[who], who, n, bySigner)
				}
			}
		}
		if !strings.Contains(stdout, "TSA") && !strings.Contains(stdout, "timestamp") {
			t.Errorf("the summary does not say which timestamp vouched:\n%s", stdout)
		}
	})

	t.Run("refused", func(t *testing.T) {
		offline(t)
		b.refused(t, "https://accounts.google.com")
		// The intruder's own identity verifies intruded: what refused it
		// above was the identity, not a broken signature.
		if stdout, _, code := airlockRun(t, b.args("verify", mallory, w.s.Issuer.URL, b.intruded)...); code != 0 {
			t.Errorf("intruded as %s: exit %d\n%s", mallory, code, stdout)
		}
	})

	t.Run("import and cosign verify", func(t *testing.T) {
		host := b.importAsAlice(t)
		appB, multiB := importedRef(t, host, "acme/app"), importedRef(t, host, "acme/multi")
		for _, ref := range []string{appB + "@" + appDig.String(), multiB + "@" + multiDig.String(), multiB + "@" + plats[0].String(), multiB + "@" + plats[1].String()} {
			w.cosignVerify(t, alice, "verify", ref)
			w.cosignVerify(t, alice, "verify-attestation", "--type", "slsaprovenance1", ref)
		}
	})
}

// keylessBundles is what a keyless round trip exports from its world: its
// images in one bundle, the intruder's image alone in another, and the trust
// store that verifies them.
type keylessBundles struct {
	w                               *keylessWorld
	dir, bundle, intruded, trustDir string
}

func (w *keylessWorld) export(t *testing.T, intruded string, refs ...string) *keylessBundles {
	t.Helper()
	dir := t.TempDir()
	b := &keylessBundles{w: w, dir: dir, bundle: filepath.Join(dir, "bundle.tar"), intruded: filepath.Join(dir, "intruded.tar"), trustDir: filepath.Join(dir, "trust")}
	exportNoTUF(t, w.reg.Host, b.bundle, refs...)
	exportNoTUF(t, w.reg.Host, b.intruded, intruded)
	return b
}

// args runs cmd (verify or import) with the private Sigstore's trusted root,
// accepting identity at issuer, then rest.
func (b *keylessBundles) args(cmd, identity, issuer string, rest ...string) []string {
	return append([]string{cmd, "--trust-dir", b.trustDir, "--trusted-root", b.w.s.TrustedRoot,
		"--certificate-identity", identity, "--certificate-oidc-issuer", issuer}, rest...)
}

// verifyOffline verifies the bundle as alice with no network and returns
// the summary and the report; the test stops unless it passes.
func (b *keylessBundles) verifyOffline(t *testing.T) (string, keylessReport) {
	t.Helper()
	offline(t)
	report := filepath.Join(b.dir, "report.json")
	stdout, stderr, code := airlockRun(t, b.args("verify", alice, b.w.s.Issuer.URL, "--report", report, b.bundle)...)
	t.Logf("verify summary:\n%s", stdout)
	if code != 0 {
		t.Fatalf("verify as %s: exit %d\n%s\n%s", alice, code, stdout, stderr)
	}
	return stdout, readReport(t, report)
}

// refused checks that verify refuses the bundle for another identity and
// for another issuer, and the intruder's bundle for alice.
func (b *keylessBundles) refused(t *testing.T, otherIssuer string) {
	t.Helper()
	for _, tc := range []struct{ name, bundle, identity, issuer string }{
		{"wrong identity", b.bundle, "bob@airlock.test", b.w.s.Issuer.URL},
		{"wrong issuer", b.bundle, alice, otherIssuer},
		{"intruder's signature only", b.intruded, alice, b.w.s.Issuer.URL},
	} {
		if stdout, stderr, code := airlockRun(t, b.args("verify", tc.identity, tc.issuer, tc.bundle)...); code != exitPolicy {
			t.Errorf("%s: exit %d, want %d\n%s\n%s", tc.name, code, exitPolicy, stdout, stderr)
		}
	}
}

// importAsAlice imports the bundle, accepting alice, into a new registry
// and returns its host.
func (b *keylessBundles) importAsAlice(t *testing.T) string {
	t.Helper()
	regB := testenv.StartRegistry(t)
	stdout, stderr, code := airlockRun(t, b.args("import", alice, b.w.s.Issuer.URL, "--insecure-registry", regB.Host, "--to", regB.Host+"/mirror", b.bundle)...)
	if code != 0 {
		t.Fatalf("import exit %d\n%s\n%s", code, stdout, stderr)
	}
	return regB.Host
}

// importedRef finds where import put a repository on the target: under
// the prefix, with or without the source host in the path.
func importedRef(t *testing.T, host, repo string) string {
	t.Helper()
	out := testenv.Run(t, "", nil, "crane", "catalog", "--insecure", host)
	for _, line := range strings.Fields(out) {
		if strings.HasSuffix(line, "/"+repo) && strings.HasPrefix(line, "mirror/") {
			return host + "/" + line
		}
	}
	t.Fatalf("%s not found on the target; catalog:\n%s", repo, out)
	return ""
}

// TestE2EKeylessPrivateTUF is the private-Sigstore path start to finish:
// the stack's trusted root published in a TUF repository of its own,
// captured by export (--tuf-url/--tuf-root), the root pinned on the far
// side with `trust init`, and verify with a policy naming the identity,
// offline, trusting nothing but what passed TUF against the pinned root.
func TestE2EKeylessPrivateTUF(t *testing.T) {
	w := newKeylessWorld(t, "cosign")
	app, appDig, _ := w.push(t, "acme/app", false)
	ref := strings.TrimSuffix(app, ":v1") + "@" + appDig.String()
	w.bundleSign(t, alice, "sign", ref)
	w.bundleSign(t, alice, "attest", "--type", "slsaprovenance1", "--predicate", w.pred, ref)

	repo, err := tufrepo.New(time.Now().Add(30 * 24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := os.ReadFile(w.s.TrustedRoot)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := os.ReadFile(w.s.SigningConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.AddTarget("trusted_root.json", tr); err != nil {
		t.Fatal(err)
	}
	if err := repo.AddTarget("signing_config.v0.2.json", sc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(repo.Handler())
	defer srv.Close()

	dir := t.TempDir()
	rootPath := filepath.Join(dir, "root.json")
	if err := os.WriteFile(rootPath, repo.RootJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	bundlePath := filepath.Join(dir, "bundle.tar")
	if _, stderr, code := airlockRun(t, "export", "--tuf-url", srv.URL, "--tuf-root", rootPath, "--tuf-name", "private",
		"--insecure-registry", w.reg.Host, "-o", bundlePath, app); code != 0 {
		t.Fatalf("export exit %d: %s", code, stderr)
	}
	srv.Close() // the connected side is gone

	trustDir := filepath.Join(dir, "trust")
	if _, stderr, code := airlockRun(t, "trust", "init", "--trust-dir", trustDir, "--root", rootPath, "--name", "private"); code != 0 {
		t.Fatalf("trust init exit %d: %s", code, stderr)
	}
	policyPath := filepath.Join(dir, "policy.yaml")
	policy := `apiVersion: airlock.dev/v1
kind: Policy
rules:
  - name: private-sigstore
    images: ["**"]
    signers:
      - issuer: ` + w.s.Issuer.URL + `
        subject: ` + alice + `
    timestamp: required
    attestations:
      - predicateType: https://slsa.dev/provenance/v1
        condition: 'predicate.runDetails.builder.id == "https://ci.example/builder@v1"'
`
	if err := os.WriteFile(policyPath, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("verify offline", func(t *testing.T) {
		offline(t)
		report := filepath.Join(dir, "report.json")
		stdout, stderr, code := airlockRun(t, "verify", "--trust-dir", trustDir, "--policy", policyPath, "--report", report, bundlePath)
		if code != 0 {
			t.Fatalf("verify exit %d\n%s\n%s", code, stdout, stderr)
		}
		rep := readReport(t, report)
		var used []string
		for _, ts := range rep.Trust {
			if ts.Used {
				used = append(used, ts.Kind+" "+ts.Name)
			}
		}
		if len(used) != 1 || !strings.HasPrefix(used[0], "tuf ") || !strings.Contains(used[0], "private") {
			t.Fatalf("trust sources used: %v, want only the private TUF repository", used)
		}
		if n := len(rep.Images); n != 1 {
			t.Fatalf("%d images", n)
		}
		verified := 0
		for _, f := range rep.Images[0].Findings {
			if f.Status == "verified" && f.Signer != nil && f.Signer.Identity == alice {
				verified++
				if len(f.TrustMaterial) == 0 || !strings.Contains(f.TrustMaterial[0], "private") {
					t.Errorf("finding verified by %v, want the private TUF source", f.TrustMaterial)
				}
			}
		}
		if verified != 2 {
			t.Errorf("%d findings verified as %s, want 2\n%s", verified, alice, stdout)
		}

		// A trust store that pinned another root refuses the same bundle's
		// material, and with it every signature.
		otherRepo, err := tufrepo.New(time.Now().Add(24 * time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		otherRoot := filepath.Join(dir, "other-root.json")
		if err := os.WriteFile(otherRoot, otherRepo.RootJSON(), 0o644); err != nil {
			t.Fatal(err)
		}
		otherTrust := filepath.Join(dir, "other-trust")
		if _, stderr, code := airlockRun(t, "trust", "init", "--trust-dir", otherTrust, "--root", otherRoot, "--name", "private"); code != 0 {
			t.Fatalf("trust init exit %d: %s", code, stderr)
		}
		if stdout, _, code := airlockRun(t, "verify", "--trust-dir", otherTrust, "--policy", policyPath, bundlePath); code == 0 {
			t.Errorf("verify against another pinned root passed:\n%s", stdout)
		}
	})

	// import persists the accepted TUF state and pushes; cosign checks the
	// copy on the target against the same trusted root.
	t.Run("import and cosign verify", func(t *testing.T) {
		regB := testenv.StartRegistry(t)
		stdout, stderr, code := airlockRun(t, "import", "--trust-dir", trustDir, "--policy", policyPath,
			"--insecure-registry", regB.Host, "--to", regB.Host+"/mirror", bundlePath)
		if code != 0 {
			t.Fatalf("import exit %d\n%s\n%s", code, stdout, stderr)
		}
		appB := importedRef(t, regB.Host, "acme/app") + "@" + appDig.String()
		w.cosignVerify(t, alice, "verify", appB)
		w.cosignVerify(t, alice, "verify-attestation", "--type", "slsaprovenance1", appB)
		out, stderr, code := airlockRun(t, "trust", "list", "--trust-dir", trustDir)
		if code != 0 || !strings.Contains(out, "private") {
			t.Errorf("trust list after import: exit %d\n%s%s", code, out, stderr)
		}
	})
}

// TestE2EKeylessRekorV1 covers what needs Rekor v1: legacy keyless .sig and
// .att (cosign's original format, logged with a signed entry timestamp) on
// an image, an index and each platform, and Sigstore bundles logged in
// Rekor v1 with a TSA timestamp; export, offline verify, import, cosign
// verify on the target.
func TestE2EKeylessRekorV1(t *testing.T) { keylessRekorV1(t, "cosign") }

// TestE2EKeylessRekorV1Cosign3: the same written and checked by cosign v3
// (legacy format asked for explicitly: v3 writes bundles by default).
func TestE2EKeylessRekorV1Cosign3(t *testing.T) { keylessRekorV1(t, "cosign3") }

func keylessRekorV1(t *testing.T, cosign string) {
	w := newKeylessWorld(t, cosign)
	if w.s.RekorV1URL == "" {
		t.Skip("Rekor v1 not built (make sigstack-tools builds it)")
	}
	legacy, legacyDig, _ := w.push(t, "acme/legacy", false)
	multi, multiDig, plats := w.push(t, "acme/multi", true)
	bundled, bundledDig, _ := w.push(t, "acme/bundled", false)
	at := atDigest
	for _, ref := range []string{at(legacy, legacyDig), at(multi, multiDig), at(multi, plats[0]), at(multi, plats[1])} {
		w.legacySign(t, alice, "sign", ref)
		w.legacySign(t, alice, "attest", "--type", "slsaprovenance1", "--predicate", w.pred, ref)
	}
	w.bundleSignWith(t, w.s.SigningConfigV1, alice, "sign", at(bundled, bundledDig))
	w.bundleSignWith(t, w.s.SigningConfigV1, alice, "attest", "--type", "slsaprovenance1", "--predicate", w.pred, at(bundled, bundledDig))
	// An intruder's genuine legacy signature mixed in next to alice's, and
	// one image signed by the intruder alone.
	w.legacySign(t, mallory, "sign", at(legacy, legacyDig))
	intruded, intrudedDig, _ := w.push(t, "acme/intruded", false)
	w.legacySign(t, mallory, "sign", at(intruded, intrudedDig))

	b := w.export(t, intruded, legacy, multi, bundled)
	t.Run("verify offline", func(t *testing.T) {
		_, rep := b.verifyOffline(t)
		for _, im := range rep.Images {
			kinds := map[string]int{}
			for _, f := range im.Findings {
				if f.Status != "verified" || f.Signer == nil {
					t.Errorf("%s: %s finding %s: %s", im.Reference, f.Kind, f.Status, f.Reason)
					continue
				}
				if f.Signer.Identity == mallory && im.Reference == legacy && f.Kind == "cosign-signature" {
					continue // the intruder's: genuine, and not counted (below)
				}
				if f.Signer.Identity != alice {
					t.Errorf("%s: %s finding signed by %s", im.Reference, f.Kind, f.Signer.Identity)
					continue
				}
				kinds[f.Kind]++
				var ts []string
				for _, x := range f.Timestamps {
					ts = append(ts, x.Kind)
				}
				switch f.Kind {
				case "cosign-signature", "cosign-attestation":
					// The log's signed entry timestamp is the only time there is.
					if strings.Join(ts, ",") != "tlog-integrated" || !strings.Contains(f.Reason, "vouched by the log's integrated time") {
						t.Errorf("%s: legacy %s timestamps %v (%s), want the log's", im.Reference, f.Kind, ts, f.Reason)
					}
				case "sigstore-bundle":
					if !strings.Contains(strings.Join(ts, ","), "rfc3161") {
						t.Errorf("%s: bundle timestamps %v, want the TSA's among them", im.Reference, ts)
					}
				}
			}
			want := map[string]int{"cosign-signature": 1, "cosign-attestation": 1}
			switch im.Reference {
			case multi:
				want = map[string]int{"cosign-signature": 3, "cosign-attestation": 3}
			case bundled:
				want = map[string]int{"sigstore-bundle": 2}
			}
			if fmt.Sprint(kinds) != fmt.Sprint(want) {
				t.Errorf("%s: verified %v, want %v", im.Reference, kinds, want)
			}
			if im.Reference == legacy {
				said := false
				for _, r := range im.Rules {
					said = said || (r.Satisfied && strings.Contains(r.Reason, "not counted") && strings.Contains(r.Reason, mallory))
				}
				if !said {
					t.Errorf("%s: no rule says the intruder's signature was not counted: %+v", im.Reference, im.Rules)
				}
			}
		}
		b.refused(t, "https://token.actions.githubusercontent.com")
	})
	t.Run("import and cosign verify", func(t *testing.T) {
		host := b.importAsAlice(t)
		legacyB, multiB, bundledB := importedRef(t, host, "acme/legacy"), importedRef(t, host, "acme/multi"), importedRef(t, host, "acme/bundled")
		for _, ref := range []string{legacyB + "@" + legacyDig.String(), multiB + "@" + multiDig.String(), multiB + "@" + plats[0].String(), multiB + "@" + plats[1].String()} {
			w.legacyVerify(t, alice, "verify", ref)
			w.legacyVerify(t, alice, "verify-attestation", "--type", "slsaprovenance1", ref)
		}
		w.cosignVerify(t, alice, "verify", bundledB+"@"+bundledDig.String())
		w.cosignVerify(t, alice, "verify-attestation", "--type", "slsaprovenance1", bundledB+"@"+bundledDig.String())
	})
}

// TestE2EKeylessRekorV2Cosign3 is the same round trip written and checked
// by cosign v3 (which writes DSSE entries in Rekor v2 as cosign 2.6 does not).
func TestE2EKeylessRekorV2Cosign3(t *testing.T) { keylessRekorV2(t, "cosign3") }
