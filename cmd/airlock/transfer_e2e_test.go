package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-oci/airlock/internal/testenv"
)

// The weekly transfer as operators run it: a first full import writes a
// receipt; the next bundle is a delta against it, signed, split into parts
// with parity; one part is lost on the way; verify rebuilds it and says
// so; import into the target that holds the receipt's blobs succeeds and
// real cosign verifies the result there. Then each failure on its own.
func TestE2ESignedSplitDelta(t *testing.T) {
	w := newCosignWorld(t)
	dir := t.TempDir()
	reg := testenv.StartRegistry(t)

	// The exporter's bundle-signing key, encrypted as cosign writes it.
	keyDir := t.TempDir()
	env := append([]string{"COSIGN_PASSWORD=bundle-pw"}, w.env[1:]...)
	testenv.Run(t, keyDir, env, "cosign", "generate-key-pair")
	bundleKey, bundlePub := filepath.Join(keyDir, "cosign.key"), filepath.Join(keyDir, "cosign.pub")
	otherDir := t.TempDir()
	testenv.Run(t, otherDir, w.env, "cosign", "generate-key-pair")
	otherPub := filepath.Join(otherDir, "cosign.pub")
	t.Setenv("COSIGN_PASSWORD", "bundle-pw")

	trustDir := filepath.Join(dir, "trust")
	common := []string{"--trust-dir", trustDir, "--key", w.pub}

	// Week 1: a full bundle, imported with a receipt.
	first := filepath.Join(dir, "week1.tar")
	exportNoTUF(t, w.reg.Host, first, w.app)
	receipt := filepath.Join(dir, "receipt.json")
	if stdout, stderr, code := airlockRun(t, append(append([]string{"import"}, common...), "--insecure-registry", reg.Host, "--to", reg.Host+"/mirror", "--receipt", receipt, first)...); code != 0 {
		t.Fatalf("import exit %d\n%s\n%s", code, stdout, stderr)
	}

	// Week 2: a signed, split, parity-protected delta.
	delta := filepath.Join(dir, "week2.tar")
	stdout, stderr, code := airlockRun(t, "export", "--no-tuf", "--insecure-registry", w.reg.Host, "-o", delta,
		"--since", receipt, "--sign-key", bundleKey, "--split-size", "4KiB", "--parity", "2", w.app)
	if code != 0 {
		t.Fatalf("delta export exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"data + 2 parity", "signed    key id", "blobs ("} {
		if !strings.Contains(stdout, want) {
			t.Errorf("export output lacks %q:\n%s", want, stdout)
		}
	}
	parts, _ := filepath.Glob(delta + ".[0-9][0-9][0-9]")
	if len(parts) < 4 {
		t.Fatalf("%d parts", len(parts))
	}
	if _, err := os.Stat(delta); !os.IsNotExist(err) {
		t.Fatalf("a split export left %s: %v", delta, err)
	}
	// inspect shows the signature and the omitted blobs in the inventory.
	ins := inspectJSON(t, delta)
	if sig, _ := ins["signature"].(map[string]any); sig == nil || sig["keyHint"] == "" {
		t.Errorf("inspect shows no bundle signature: %v", ins["signature"])
	}

	// One part lost in transit.
	if err := os.Remove(parts[1]); err != nil {
		t.Fatal(err)
	}
	verifyArgs := append(append([]string{"verify"}, common...), "--bundle-key", bundlePub)
	stdout, stderr, code = airlockRun(t, append(verifyArgs, delta)...)
	if code != 0 {
		t.Fatalf("verify of the delta with a lost part: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"REPAIRED from parity: " + filepath.Base(parts[1]), "signed by:  verified", "expected at the target", "parts manifest signature: verified"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("verify output lacks %q:\n%s", want, stdout)
		}
	}

	// Import into the target that holds the receipt's blobs (another
	// prefix: mounted from the repository the receipt names).
	stdout, stderr, code = airlockRun(t, append(append([]string{"import"}, common...), "--bundle-key", bundlePub, "--insecure-registry", reg.Host, "--to", reg.Host+"/weekly", delta)...)
	if code != 0 {
		t.Fatalf("import of the delta: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The source host is kept in the target path (the default mapping).
	imported := reg.Host + "/weekly/" + strings.ReplaceAll(w.reg.Host, ":", "_") + "/acme/app:v1"
	if got := strings.TrimSpace(testenv.Run(t, "", nil, "crane", "digest", "--insecure", imported)); got != w.appDig.String() {
		t.Fatalf("imported digest %s, want %s", got, w.appDig)
	}
	w.cosignVerify(t, "verify", imported)

	t.Run("unsigned bundle, signer required", func(t *testing.T) {
		_, _, code := airlockRun(t, append(verifyArgs, first)...)
		if code != exitPolicy {
			t.Errorf("exit %d, want %d", code, exitPolicy)
		}
	})
	t.Run("wrong signer", func(t *testing.T) {
		stdout, _, code := airlockRun(t, append(append(append([]string{"verify"}, common...), "--bundle-key", otherPub), delta)...)
		if code != exitPolicy || !strings.Contains(stdout, "signed by:  FAILED") {
			t.Errorf("exit %d, want %d\n%s", code, exitPolicy, stdout)
		}
	})
	t.Run("receipt blob missing in the target", func(t *testing.T) {
		empty := testenv.StartRegistry(t)
		_, stderr, code := airlockRun(t, append(append([]string{"import"}, common...), "--insecure-registry", empty.Host, "--to", empty.Host+"/mirror", delta)...)
		if code != exitError || !strings.Contains(stderr, "sha256:") || !strings.Contains(stderr, receipt) || !strings.Contains(stderr, "nothing was tagged") {
			t.Errorf("exit %d, want %d; stderr:\n%s", code, exitError, stderr)
		}
		if out, err := testenv.RunErr("", nil, testenv.Tool(t, "crane"), "ls", "--insecure", empty.Host+"/mirror/"+strings.ReplaceAll(w.reg.Host, ":", "_")+"/acme/app"); err == nil && strings.TrimSpace(out) != "" {
			t.Errorf("tags in the target after a refused import: %q", out)
		}
	})
	t.Run("too many damaged parts", func(t *testing.T) {
		// parts[1] is already gone; two more exceed two parity parts.
		for _, p := range parts[2:4] {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0xff
			if err := os.WriteFile(p+".bak", b, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Rename(p, p+".orig")
			os.Rename(p+".bak", p)
			t.Cleanup(func() { os.Rename(p+".orig", p) })
		}
		stdout, _, code := airlockRun(t, append(verifyArgs, delta)...)
		if code != exitIntegrity {
			t.Errorf("exit %d, want %d", code, exitIntegrity)
		}
		for _, p := range parts[1:4] {
			if !strings.Contains(stdout, filepath.Base(p)) {
				t.Errorf("the refusal does not name %s:\n%s", filepath.Base(p), stdout)
			}
		}
	})
	t.Run("tampered parts manifest", func(t *testing.T) {
		mpath := delta + ".parts.json"
		orig, err := os.ReadFile(mpath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.WriteFile(mpath, orig, 0o644) })
		var m map[string]any
		json.Unmarshal(orig, &m)
		ps := m["parts"].([]any)
		ps[0].(map[string]any)["digest"] = ps[2].(map[string]any)["digest"]
		b, _ := json.Marshal(m)
		os.WriteFile(mpath, b, 0o644)
		_, _, code := airlockRun(t, append(verifyArgs, delta)...)
		if code != exitIntegrity && code != exitPolicy {
			t.Errorf("exit %d, want a refusal", code)
		}
		if code == 0 {
			t.Fatal("a tampered parts manifest passed")
		}
	})
}
