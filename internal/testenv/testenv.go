// Package testenv starts the real programs end-to-end tests need (the
// distribution registry, cosign, skopeo) on loopback and cleans them up.
//
// Tools are looked up on PATH (`make test` puts ./tools first). When
// AIRLOCK_E2E=1 (set by `make test`) a missing tool fails the test: the
// end-to-end suite must never pass by skipping. Otherwise it skips.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Required reports whether end-to-end tests must run (make test sets it).
func Required() bool { return os.Getenv("AIRLOCK_E2E") == "1" }

// Tool returns the path of a tool, failing or skipping the test when absent.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		// The Makefile installs into ./tools at the module root.
		if root, rerr := moduleRoot(); rerr == nil {
			if q := filepath.Join(root, "tools", name); fileExists(q) {
				return q
			}
		}
		if Required() {
			t.Fatalf("%s not found: run `make test`, which installs it", name)
		}
		t.Skipf("%s not installed (run `make test`)", name)
	}
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
}

// Registry is a running distribution registry on loopback.
type Registry struct {
	// Host is host:port.
	Host string
	Dir  string
}

// StartRegistry starts a real distribution registry (v3, filesystem
// storage, no referrers API) on a free loopback port; it stops with the test.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	bin := Tool(t, "registry")
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting registry: %v", err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not start on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Registry{Host: addr, Dir: dir}
}

// Run runs a tool and returns its combined output, failing the test on a
// non-zero exit.
func Run(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(dir, env, Tool(t, name), args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// RunErr runs a program and returns its combined output and error.
func RunErr(dir string, env []string, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Containerd is a containerd daemon the test started, with its own root,
// state directory and socket; Ctr runs ctr against it.
type Containerd struct {
	Socket string
	Dir    string
}

// StartContainerd starts containerd (from PATH, Debian's package) on a
// socket in a fresh temporary directory, with its own root and state, so it
// touches nothing of a containerd the machine may run. containerd needs
// root: without it the test is skipped, unless AIRLOCK_E2E=1, which fails
// it. The daemon stops with the test.
func StartContainerd(t testing.TB) *Containerd {
	t.Helper()
	if os.Geteuid() != 0 {
		if Required() {
			t.Fatal("containerd tests need root (AIRLOCK_E2E=1 is set; run `make test` as root)")
		}
		t.Skip("containerd needs root")
	}
	bin := Tool(t, "containerd")
	Tool(t, "ctr")
	// A short path: unix socket names are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Containerd{Socket: filepath.Join(dir, "c.sock"), Dir: dir}
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = %q
[metrics]
  address = ""
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Socket, c.Socket+".ttrpc", c.Socket+".debug")
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		os.RemoveAll(dir)
		t.Fatalf("starting containerd: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		// Snapshots may hold mounts; unmount what is left before removing.
		exec.Command("umount", "-R", filepath.Join(dir, "root")).Run()
		os.RemoveAll(dir)
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := RunErr("", nil, "ctr", "--address", c.Socket, "version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not start on %s\n%s", c.Socket, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

// Ctr runs ctr against this containerd and returns its combined output
// and error.
func (c *Containerd) Ctr(args ...string) (string, error) {
	return RunErr("", nil, "ctr", append([]string{"--address", c.Socket}, args...)...)
}

// SigstackBinDir is where `make sigstack-tools` puts the private Sigstore's
// binaries: $AIRLOCK_SIGSTACK_BIN (set by make), else tools/sigstack at the
// module root.
func SigstackBinDir() string {
	if d := os.Getenv("AIRLOCK_SIGSTACK_BIN"); d != "" {
		return d
	}
	root, err := moduleRoot()
	if err != nil {
		return filepath.Join("tools", "sigstack")
	}
	return filepath.Join(root, "tools", "sigstack")
}
