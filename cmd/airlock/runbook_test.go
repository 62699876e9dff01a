package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/internal/testenv"
	"github.com/airlock-oci/airlock/trust"
)

// runbookLine is one command of docs/runbook.md.
type runbookLine struct {
	n    int // line number in the file
	cmd  string
	code int
}

// runbookCommands reads every command in the ```sh blocks of the runbook,
// with the exit code a trailing "# exit N" asks for (default 0).
func runbookCommands(t *testing.T, path string) []runbookLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []runbookLine
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```sh":
			in = true
			continue
		case strings.HasPrefix(line, "```"):
			in = false
			continue
		}
		if !in || line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rl := runbookLine{n: n, cmd: line}
		if i := strings.Index(line, "# exit "); i >= 0 {
			code, err := strconv.Atoi(strings.TrimSpace(line[i+len("# exit "):]))
			if err != nil {
				t.Fatalf("runbook line %d: bad exit annotation", n)
			}
			rl.cmd, rl.code = strings.TrimSpace(line[:i]), code
		}
		out = append(out, rl)
	}
	return out
}

// TestRunbook runs every command of docs/runbook.md, in order, against the
// demo world: a vendor registry with a keylessly signed image, its TUF
// repository, and an internal registry. airlock runs in process; the other
// commands (sha256sum, grep) with bash.
func TestRunbook(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	runbook, err := filepath.Abs(filepath.Join("..", "..", "docs", "runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds := runbookCommands(t, runbook)
	if len(cmds) < 15 {
		t.Fatalf("only %d commands found in %s", len(cmds), runbook)
	}
	w, err := demo.NewWorld(context.Background(), demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The runbook makes the exporter's key pair with cosign, as an operator
	// would: put the one `make test` installs first on the PATH.
	cosign := testenv.Tool(t, "cosign")
	t.Setenv("PATH", filepath.Dir(cosign)+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("AIRLOCK_TRUST_DIR", filepath.Join(dir, "trust"))
	t.Setenv("COSIGN_PASSWORD", "runbook") // the signed transfer's key pair
	pg, err := trust.PublicGood()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"vendor-root.json":      w.TUFRoot,
		"vendor-root-2027.json": pg.Root, // another root, for the rotation step
		"policy.yaml":           []byte(demo.Policy),
		"images.txt":            []byte("# what we carry\n" + w.Image + "\n"),
	} {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	subst := strings.NewReplacer(
		"registry.example.com/team/app:1.4", w.Image,
		"registry.internal/mirror", w.TargetHost()+"/mirror",
		"https://tuf.vendor.example", w.TUF.URL,
	)
	ran := map[string]bool{}
	for _, rl := range cmds {
		line := subst.Replace(rl.cmd)
		if strings.Contains(line, "2026-11-27T09:00:00Z") {
			// The audit reproduces the verification recorded in report.json.
			var rep struct {
				VerifiedAt time.Time `json:"verifiedAt"`
			}
			data, err := os.ReadFile("report.json")
			if err != nil || json.Unmarshal(data, &rep) != nil || rep.VerifiedAt.IsZero() {
				t.Fatalf("runbook line %d: no verifiedAt in report.json: %v", rl.n, err)
			}
			line = strings.ReplaceAll(line, "2026-11-27T09:00:00Z", rep.VerifiedAt.UTC().Format(time.RFC3339))
		}
		var stdout, stderr string
		code := 0
		if rest, ok := strings.CutPrefix(line, "airlock "); ok {
			stdout, stderr, code = airlockRun(t, strings.Fields(rest)...)
			ran[strings.Fields(rest)[0]] = true
		} else {
			cmd := exec.Command(bash, "-c", line)
			out, err := cmd.CombinedOutput()
			stdout = string(out)
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("runbook line %d: %v", rl.n, err)
			}
		}
		if code != rl.code {
			t.Fatalf("runbook line %d: %s\nexit %d, want %d\nstdout: %s\nstderr: %s", rl.n, rl.cmd, code, rl.code, stdout, stderr)
		}
	}
	for _, c := range []string{"export", "inspect", "verify", "import", "trust", "version"} {
		if !ran[c] {
			t.Errorf("the runbook never runs airlock %s", c)
		}
	}
	// The weekly import left its receipt, and the audit reached the verdict
	// the archived report records, saying it is an audit.
	if _, err := os.Stat("receipt.json"); err != nil {
		t.Errorf("receipt not written: %v", err)
	}
	// The signed weekly delta was carried in parts, its signature verified,
	// and the blobs the first import delivered were left out of it.
	if _, err := os.Stat("weekly.tar"); err == nil {
		t.Error("the split export also wrote a plain weekly.tar")
	}
	var weekly struct {
		BundleSignature  json.RawMessage `json:"bundleSignature"`
		ExpectedAtTarget struct {
			Count int `json:"count"`
		} `json:"expectedAtTarget"`
		Parts json.RawMessage `json:"parts"`
	}
	if data, err := os.ReadFile("weekly-report.json"); err != nil || json.Unmarshal(data, &weekly) != nil {
		t.Fatalf("weekly-report.json: %v", err)
	}
	if len(weekly.BundleSignature) == 0 || len(weekly.Parts) == 0 || weekly.ExpectedAtTarget.Count == 0 {
		t.Errorf("weekly report: signature %s, parts %s, %d blobs expected at the target; want all three", weekly.BundleSignature, weekly.Parts, weekly.ExpectedAtTarget.Count)
	}
	var orig, audit struct {
		Verdict string          `json:"verdict"`
		Audit   json.RawMessage `json:"audit"`
	}
	for f, v := range map[string]any{"report.json": &orig, "audit.json": &audit} {
		data, err := os.ReadFile(f)
		if err != nil || json.Unmarshal(data, v) != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if orig.Verdict != "pass" || audit.Verdict != orig.Verdict || len(audit.Audit) == 0 {
		t.Errorf("audit verdict %q (audit %s), archived report %q", audit.Verdict, audit.Audit, orig.Verdict)
	}
}
