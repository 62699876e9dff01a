package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/internal/demo"
)

func quietRegistry() http.Handler {
	return ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
}

// pushRandom pushes a small random image to host (through rt) and returns its reference.
func pushRandom(t *testing.T, host string, rt http.RoundTripper) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithTransport(rt)); err != nil {
		t.Fatal(err)
	}
	return ref.String()
}

// step is one CLI run: its arguments, exit code and what its output must hold.
type step struct {
	name    string
	args    []string
	code    int
	want    []string // substrings of stdout+stderr
	wantOut []string // substrings of stdout alone
	noOut   bool     // stdout must be empty
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	for _, s := range steps {
		stdout, stderr, code := airlockRun(t, s.args...)
		if code != s.code {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", s.name, code, s.code, stdout, stderr)
			continue
		}
		for _, w := range s.want {
			if !strings.Contains(stdout+stderr, w) {
				t.Errorf("%s: output lacks %q\nstdout: %s\nstderr: %s", s.name, w, stdout, stderr)
			}
		}
		for _, w := range s.wantOut {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s: stdout lacks %q\nstdout: %s\nstderr: %s", s.name, w, stdout, stderr)
			}
		}
		if s.noOut && stdout != "" {
			t.Errorf("%s: stdout not empty: %s", s.name, stdout)
		}
	}
}

// demoFiles is the demo world with the files the CLI tests hand its
// commands: the policy, the TUF root, and where the bundle and the trust
// store go.
type demoFiles struct {
	w                                   *demo.World
	dir, policy, root, bundle, trustDir string
}

// newDemoFiles starts the demo world (stopped when the test ends) and
// writes its policy and TUF root.
func newDemoFiles(t *testing.T) *demoFiles {
	t.Helper()
	w, err := demo.NewWorld(context.Background(), demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	dir := t.TempDir()
	d := &demoFiles{w: w, dir: dir, policy: filepath.Join(dir, "policy.yaml"), root: filepath.Join(dir, "root.json"),
		bundle: filepath.Join(dir, "b.tar"), trustDir: filepath.Join(dir, "trust")}
	os.WriteFile(d.policy, []byte(demo.Policy), 0o644)
	os.WriteFile(d.root, w.TUFRoot, 0o644)
	return d
}

// exportArgs exports the world's image with its TUF repository to d.bundle.
func (d *demoFiles) exportArgs() []string {
	return []string{"export", d.w.Image, "-o", d.bundle, "--tuf-url", d.w.TUF.URL, "--tuf-root", d.root, "--tuf-name", demo.TUFName}
}

// exported exports the world's image to d.bundle and pins its TUF root in
// d.trustDir.
func (d *demoFiles) exported(t *testing.T) {
	t.Helper()
	mustRun(t, d.exportArgs()...)
	mustRun(t, "trust", "init", "--trust-dir", d.trustDir, "--root", d.root, "--name", demo.TUFName)
}

// One meaning per flag, the same in every command; old spellings refused
// with the new name; mistakes refused before any download.
func TestCLIConventions(t *testing.T) {
	var hits atomic.Int64
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		quietRegistry().ServeHTTP(w, r)
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	img := host + "/team/app:v1"
	d := newDemoFiles(t)
	d.exported(t)
	dir, w, policy, b, trustDir := d.dir, d.w, d.policy, d.bundle, d.trustDir

	runSteps(t, []step{
		// Old and wrong spellings of -o, refused before any download.
		{"export -o json", []string{"export", "-o", "json", img}, exitError, []string{"--format json"}, nil, true},
		{"export -o text", []string{"export", "-o", "text", img}, exitError, []string{"--format text"}, nil, true},
		{"export -o -", []string{"export", "-o", "-", img}, exitError, []string{"stdout"}, nil, true},
		{"export -o DIR", []string{"export", "-o", dir, img}, exitError, []string{"is a directory", filepath.Join(dir, "bundle.tar")}, nil, true},
		{"export -o in a missing dir", []string{"export", "-o", filepath.Join(dir, "nope", "b.tar"), img}, exitError, []string{"does not exist"}, nil, true},
		{"export bad format", []string{"export", "--format", "yaml", "-o", filepath.Join(dir, "x.tar"), img}, exitError, []string{"want text or json"}, nil, true},
		{"export bad platform", []string{"export", "--platform", "linux", "-o", filepath.Join(dir, "x.tar"), img}, exitError, nil, nil, true},
		{"export bad creds", []string{"export", "--creds", "nocolon", "-o", filepath.Join(dir, "x.tar"), img}, exitError, []string{"USER:PASS"}, nil, true},
		{"export bad timeout", []string{"export", "--timeout", "-1s", "-o", filepath.Join(dir, "x.tar"), img}, exitError, []string{"--timeout"}, nil, true},
		{"export missing CA file", []string{"export", "--registry-cacert", filepath.Join(dir, "absent.pem"), "-o", filepath.Join(dir, "x.tar"), img}, exitError, []string{"absent.pem"}, nil, true},
		{"inspect -o json", []string{"inspect", "-o", "json", b}, exitError, []string{"--format json"}, nil, true},
		{"verify -o json", []string{"verify", "-o", "json", "--trust-dir", trustDir, "--policy", policy, b}, exitError, []string{"--format json"}, nil, true},
		{"trust list -o json", []string{"trust", "list", "-o", "json", "--trust-dir", trustDir}, exitError, []string{"--format json"}, nil, true},
		{"trust show -o json", []string{"trust", "show", demo.TUFName, "-o", "json", "--trust-dir", trustDir}, exitError, []string{"--format json"}, nil, true},
		{"import -o json", []string{"import", "-o", "json", "--to", w.TargetHost() + "/m", "--trust-dir", trustDir, "--policy", policy, b}, exitError, []string{"--format json"}, nil, true},
		// --format in every command that prints a result.
		{"inspect --format json", []string{"inspect", "--format", "json", b}, 0, nil, []string{`"images"`}, false},
		{"verify --format json", []string{"verify", "--format", "json", "--trust-dir", trustDir, "--policy", policy, b}, 0, nil, []string{`"schema": "airlock.dev/report/v1"`}, false},
		{"trust list --format json", []string{"trust", "list", "--format", "json", "--trust-dir", trustDir}, 0, nil, []string{`"` + demo.TUFName + `"`}, false},
		{"import --format json", []string{"import", "--format", "json", "--dry-run", "--to", w.TargetHost() + "/m", "--trust-dir", trustDir, "--policy", policy, b}, 0, nil, []string{`"schema": "airlock.dev/receipt/v1"`, `"dryRun": true`}, false},
		// version, --version.
		{"version", []string{"version"}, 0, nil, []string{"airlock version " + airlock.Version}, false},
		{"--version", []string{"--version"}, 0, nil, []string{"airlock version " + airlock.Version}, false},
		{"version with args", []string{"version", "x"}, exitError, nil, nil, true},
		// --debug and --quiet anywhere on the line.
		{"--debug after the argument", []string{"inspect", b, "--debug"}, 0, []string{"level=DEBUG", "bundle opened"}, nil, false},
		{"--debug between flags", []string{"verify", "--trust-dir", trustDir, "--debug", "--policy", policy, b}, 0, []string{"level=DEBUG"}, nil, false},
		{"--quiet", []string{"inspect", b, "--quiet"}, 0, nil, nil, true},
		{"-q verify", []string{"-q", "verify", "--trust-dir", trustDir, "--policy", policy, b}, 0, nil, nil, true},
		{"--quiet keeps the exit code", []string{"verify", "--quiet", "--trust-dir", trustDir, "--certificate-identity", "x@y", "--certificate-oidc-issuer", demo.Issuer, b}, exitPolicy, nil, nil, true},
		{"--quiet with json", []string{"inspect", "--quiet", "--format", "json", b}, exitError, []string{"contradict"}, nil, true},
	})
	if n := hits.Load(); n != 0 {
		t.Errorf("the refused commands sent %d requests to the registry", n)
	}
}

// Guidance where new users get stuck.
func TestCLIGuidance(t *testing.T) {
	d := newDemoFiles(t)
	dir, w, policy, root, b, noTUF := d.dir, d.w, d.policy, d.root, d.bundle, filepath.Join(d.dir, "notuf.tar")
	mustRun(t, d.exportArgs()...)
	mustRun(t, "export", w.Image, "-o", noTUF, "--no-tuf")
	empty, public := filepath.Join(dir, "empty"), filepath.Join(dir, "public")
	runSteps(t, []step{
		{"verify with an empty trust store names trust init", []string{"verify", "--trust-dir", empty, "--policy", policy, b}, exitPolicy,
			[]string{"trust store " + empty + " is empty", "airlock trust init", "1 found, not counted"}, nil, false},
		{"import with an empty trust store names trust init", []string{"import", "--dry-run", "--to", w.TargetHost() + "/m", "--trust-dir", empty, "--policy", policy, b}, exitPolicy,
			[]string{"airlock trust init"}, nil, false},
		{"trust init public good", []string{"trust", "init", "--trust-dir", public}, 0, nil, nil, false},
		// The embedded public-good root v14 expired on 2026-06-22.
		{"trust list marks expired roles", []string{"trust", "list", "--trust-dir", public}, 0, nil, []string{"EXPIRED", "airlock trust update"}, false},
		{"trust update without TUF explains", []string{"trust", "update", "--trust-dir", public, noTUF}, exitPolicy,
			[]string{"carries no TUF repository", "--no-tuf", "trust store is unchanged"}, nil, false},
		{"export with an unreachable TUF repository names --no-tuf", []string{"export", w.Image, "-o", filepath.Join(dir, "x.tar"), "--tuf-url", "http://127.0.0.1:1", "--tuf-root", root, "--tuf-name", demo.TUFName}, exitError,
			[]string{"capturing TUF repository " + demo.TUFName, "(use --no-tuf to export without it)"}, nil, false},
	})
	// A pinned store: no hint.
	pinned := filepath.Join(dir, "pinned")
	airlockRun(t, "trust", "init", "--trust-dir", pinned, "--root", root, "--name", demo.TUFName)
	if _, stderr, code := airlockRun(t, "verify", "--trust-dir", pinned, "--certificate-identity", "x@y", "--certificate-oidc-issuer", demo.Issuer, b); code != exitPolicy || strings.Contains(stderr, "is empty") {
		t.Errorf("verify with a pinned store: exit %d, stderr %s", code, stderr)
	}
}

// Credentials beside the docker config: --creds and --authfile.
func TestCLIRegistryCredentials(t *testing.T) {
	const user, pass = "alice", "s3cret"
	inner := quietRegistry()
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	img := pushRandom(t, host, &basicRT{user, pass})
	dir := t.TempDir()
	authfile := filepath.Join(dir, "auth.json")
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}}})
	os.WriteFile(authfile, cfg, 0o600)
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no ambient credentials
	runSteps(t, []step{
		{"no credentials", []string{"export", "--no-tuf", "-o", filepath.Join(dir, "a.tar"), img}, exitError, []string{"401"}, nil, false},
		{"--creds", []string{"export", "--no-tuf", "--creds", user + ":" + pass, "-o", filepath.Join(dir, "b.tar"), img}, 0, nil, []string{"wrote"}, false},
		{"wrong --creds", []string{"export", "--no-tuf", "--creds", user + ":nope", "-o", filepath.Join(dir, "c.tar"), img}, exitError, []string{"401"}, nil, false},
		{"--authfile", []string{"export", "--no-tuf", "--authfile", authfile, "-o", filepath.Join(dir, "d.tar"), img}, 0, nil, []string{"wrote"}, false},
		{"--authfile not JSON", []string{"export", "--no-tuf", "--authfile", filepath.Join(dir, "d.tar"), "-o", filepath.Join(dir, "e.tar"), img}, exitError, []string{"docker config.json"}, nil, true},
	})
	// import takes the same flags for its target.
	allow := filepath.Join(dir, "allow.yaml")
	os.WriteFile(allow, []byte("apiVersion: airlock.dev/v1\nkind: Policy\ndefaultAction: allow\nrules: []\n"), 0o644)
	imp := func(extra ...string) []string {
		return append([]string{"import", "--trust-dir", filepath.Join(dir, "trust"), "--policy", allow, "--to", host + "/mirror"}, append(extra, filepath.Join(dir, "b.tar"))...)
	}
	runSteps(t, []step{
		{"import without credentials", imp(), exitError, []string{"401"}, nil, false},
		{"import --creds", imp("--creds", user+":"+pass), 0, nil, []string{"pushed"}, false},
		{"import --authfile", imp("--authfile", authfile), 0, nil, []string{"already there"}, false},
	})
}

type basicRT struct{ user, pass string }

func (b *basicRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.pass)
	return http.DefaultTransport.RoundTrip(r)
}

// An internal HTTPS registry with a private CA: --registry-cacert (cosign's
// spelling) trusts it; --allow-insecure-registry (cosign) and --insecure
// (crane) skip verification, loudly.
func TestCLIRegistryTLS(t *testing.T) {
	reg := httptest.NewTLSServer(quietRegistry())
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "https://")
	img := pushRandom(t, host, reg.Client().Transport)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: reg.Certificate().Raw}), 0o644)
	runSteps(t, []step{
		// (On loopback ggcr then falls back to plain HTTP, which this server refuses.)
		{"unknown CA", []string{"export", "--no-tuf", "-o", filepath.Join(dir, "a.tar"), img}, exitError, nil, nil, false},
		{"--registry-cacert", []string{"export", "--no-tuf", "--registry-cacert", ca, "-o", filepath.Join(dir, "b.tar"), img}, 0, nil, []string{"wrote"}, false},
		{"--allow-insecure-registry", []string{"export", "--no-tuf", "--allow-insecure-registry", "-o", filepath.Join(dir, "c.tar"), img}, 0, []string{"WARNING", "NOT checked"}, []string{"wrote"}, false},
		{"--insecure", []string{"export", "--no-tuf", "--insecure", "-o", filepath.Join(dir, "d.tar"), img}, 0, []string{"WARNING"}, []string{"wrote"}, false},
	})
}

// --timeout bounds the whole command and says so; a refused connection is
// not reported as a timeout, and errors do not repeat their prefix.
func TestCLITimeoutAndNetworkErrors(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	dir := t.TempDir()
	start := time.Now()
	_, stderr, code := airlockRun(t, "export", "--no-tuf", "--timeout", "1s", "-o", filepath.Join(dir, "a.tar"), strings.TrimPrefix(hang.URL, "http://")+"/x:v1")
	if code != exitError || !strings.Contains(stderr, "--timeout 1s reached") {
		t.Errorf("export --timeout 1s against a silent registry: exit %d, stderr %s", code, stderr)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("--timeout 1s took %v", d)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	_, stderr, code = airlockRun(t, "export", "--no-tuf", "--timeout", "2m", "-o", filepath.Join(dir, "b.tar"), closed+"/x:v1")
	if code != exitError || strings.Count(stderr, "discovering") != 1 || strings.Contains(stderr, "no answer within") {
		t.Errorf("export from a closed port: exit %d, want one \"discovering\" and no timeout claim:\n%s", code, stderr)
	}
}

// What is printed matches the exit code: an unreachable target, a tag
// conflict, a re-import of what is already there; export and inspect count
// the same blobs.
func TestCLIOutcomeMatchesExitCode(t *testing.T) {
	d := newDemoFiles(t)
	dir, w, policy, root, b, trustDir := d.dir, d.w, d.policy, d.root, d.bundle, d.trustDir
	out := mustRun(t, d.exportArgs()...)
	exported := regexp.MustCompile(`, (\d+) blobs, `).FindStringSubmatch(out)
	insp, _, _ := airlockRun(t, "inspect", b)
	inspected := regexp.MustCompile(`: (\d+) blobs, `).FindStringSubmatch(insp)
	if exported == nil || inspected == nil || exported[1] != inspected[1] {
		t.Errorf("export and inspect count blobs differently:\n%s\n%s", out, insp)
	}
	airlockRun(t, "trust", "init", "--trust-dir", trustDir, "--root", root, "--name", demo.TUFName)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	report := filepath.Join(dir, "r.json")
	imp := func(extra ...string) []string {
		return append([]string{"import", "--trust-dir", trustDir, "--policy", policy}, append(extra, b)...)
	}
	runSteps(t, []step{
		{"unreachable target", imp("--to", closed+"/m", "--report", report), exitError,
			[]string{"integrity:  NOT CHECKED", "verdict: INCOMPLETE (exit code 3)", "connection refused"}, nil, false},
	})
	if out, _, _ := airlockRun(t, imp("--to", closed+"/m")...); strings.Contains(out, "INTEGRITY-FAILED") || strings.Contains(out, "exit code 2") {
		t.Errorf("an unreachable target is reported as an integrity failure:\n%s", out)
	}
	var rep struct{ Schema, Verdict string }
	data, _ := os.ReadFile(report)
	if json.Unmarshal(data, &rep) != nil || rep.Verdict != "incomplete" || rep.Schema == "" {
		t.Errorf("report of an import to an unreachable target: schema %q verdict %q", rep.Schema, rep.Verdict)
	}

	target := w.TargetHost() + "/m"
	runSteps(t, []step{
		{"dry run", imp("--to", target, "--dry-run"), 0, nil, []string{"would push", "verdict: PASS (exit code 0)"}, false},
		{"import", imp("--to", target), 0, nil, []string{"pushed", "verdict: PASS (exit code 0)"}, false},
		{"re-import", imp("--to", target), 0, nil, []string{"blobs", "already there", "verdict: PASS (exit code 0)"}, false},
	})
	out, _, _ = airlockRun(t, imp("--to", target, "--format", "json")...)
	if regexp.MustCompile(`pushed \d+`).MatchString(out) {
		t.Errorf("a re-import claims to have pushed blobs:\n%s", out)
	}
	var receipt struct {
		Images []struct {
			Reference      string
			Blobs, Present int
		}
	}
	if err := json.Unmarshal([]byte(out), &receipt); err != nil || len(receipt.Images) != 1 || receipt.Images[0].Present != receipt.Images[0].Blobs {
		t.Fatalf("re-import receipt: %v\n%s", err, out)
	}
	// Move the tag to another image: the next import refuses to move it back.
	ref, err := name.ParseReference(receipt.Images[0].Reference, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := random.Image(64, 1)
	if err := remote.Write(ref, other); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := airlockRun(t, imp("--to", target)...)
	if code != exitError || !strings.Contains(out, "verdict: PASS; import FAILED: a tag points at a different digest in the target (--force moves it) (exit code 3)") || strings.Contains(out, "(exit code 0)") {
		t.Errorf("tag conflict: exit %d\n%s", code, out)
	}
	// The library names the conflict; the CLI adds the flag that resolves it.
	if !strings.Contains(stderr, "1 tags not moved") || !strings.Contains(stderr, "(use --force)") {
		t.Errorf("tag conflict: stderr lacks the conflict or the --force hint:\n%s", stderr)
	}
}

// A run that relaxes a check says so in exactly one line on stderr; a strict
// run says nothing of the kind.
func TestCLIRelaxedChecksWarn(t *testing.T) {
	d := newDemoFiles(t)
	d.exported(t)
	w, policy, b, trustDir := d.w, d.policy, d.bundle, d.trustDir
	const prefix = "WARNING: relaxed checks: "
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // what the one warning line names; none: no warning
	}{
		{"strict verify", []string{"verify", "--trust-dir", trustDir, "--policy", policy, b}, 0, nil},
		// The demo certificates carry no SCTs: requiring them fails the policy.
		{"sct required", []string{"verify", "--sct", "required", "--trust-dir", trustDir, "--policy", policy, b}, exitPolicy, nil},
		{"sct waived", []string{"verify", "--sct", "waived", "--trust-dir", trustDir, "--policy", policy, b}, 0, []string{"--sct waived"}},
		{"staleness", []string{"verify", "--max-staleness", "72h", "--trust-dir", trustDir, "--policy", policy, b}, 0, []string{"--max-staleness 72h0m0s"}},
		{"both", []string{"verify", "--max-staleness", "1h", "--sct", "waived", "--trust-dir", trustDir, "--policy", policy, b}, 0, []string{"--max-staleness 1h0m0s", "--sct waived"}},
		{"import dry run", []string{"import", "--dry-run", "--to", w.TargetHost() + "/m", "--sct", "waived", "--trust-dir", trustDir, "--policy", policy, b}, 0, []string{"--sct waived"}},
		{"trust update", []string{"trust", "update", "--max-staleness", "1h", "--trust-dir", trustDir, b}, 0, []string{"--max-staleness 1h0m0s"}},
		{"trust update strict", []string{"trust", "update", "--trust-dir", trustDir, b}, 0, nil},
	} {
		_, stderr, code := airlockRun(t, tc.args...)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d\nstderr: %s", tc.name, code, tc.code, stderr)
			continue
		}
		var lines []string
		for _, l := range strings.Split(stderr, "\n") {
			if strings.Contains(l, "relaxed checks") {
				lines = append(lines, l)
			}
		}
		if tc.want == nil {
			if len(lines) != 0 {
				t.Errorf("%s: a strict run warns: %q", tc.name, lines)
			}
			continue
		}
		if len(lines) != 1 || !strings.HasPrefix(lines[0], prefix) {
			t.Errorf("%s: want one line starting %q, got %q", tc.name, prefix, lines)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(lines[0], w) {
				t.Errorf("%s: warning %q lacks %q", tc.name, lines[0], w)
			}
		}
	}
	// A negative staleness is refused, and no warning precedes the refusal.
	if _, stderr, code := airlockRun(t, "verify", "--max-staleness", "-1h", "--trust-dir", trustDir, "--policy", policy, b); code != exitError || strings.Contains(stderr, "relaxed checks") || !strings.Contains(stderr, "must not be negative") {
		t.Errorf("negative staleness: exit %d, stderr %s", code, stderr)
	}
}
