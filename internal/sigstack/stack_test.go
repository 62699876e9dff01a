//go:build linux

package sigstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binDir finds tools/sigstack at the module root (`make sigstack-tools`).
func binDir(t *testing.T) Config {
	t.Helper()
	dir := os.Getenv("AIRLOCK_SIGSTACK_BIN")
	if dir == "" {
		dir, _ = filepath.Abs("../../tools/sigstack")
	}
	cosign, err := exec.LookPath("cosign")
	if err != nil {
		cosign, _ = filepath.Abs("../../tools/cosign")
	}
	cfg := Config{BinDir: dir, Cosign: cosign}
	cfg.RekorV1 = len(RekorV1Missing(cfg)) == 0
	if m := Missing(cfg); len(m) > 0 {
		if os.Getenv("AIRLOCK_E2E") == "1" {
			t.Fatalf("missing %v: run `make sigstack-tools`", m)
		}
		t.Skipf("missing %v: run `make sigstack-tools`", m)
	}
	return cfg
}

// Close leaves no process and no listening port behind, and removes the
// working directory.
func TestStartClose(t *testing.T) {
	cfg := binDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %s (Rekor v1: %v)", s.StartDuration, cfg.RekorV1)
	pids := s.Pids()
	want := 3
	if cfg.RekorV1 {
		want = 7 // mariadb, trillian server and signer, rekor-server
	}
	if len(pids) != want {
		t.Errorf("%d processes, want %d", len(pids), want)
	}
	var addrs []string
	for _, u := range []string{s.FulcioURL, s.RekorURL, s.TSAURL, s.RekorV1URL, s.Issuer.URL} {
		if u == "" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, pu.Host)
	}
	for _, f := range []string{s.TrustedRoot, s.SigningConfig} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("trust material: %v", err)
		}
	}
	s.Close()
	for _, pid := range pids {
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group %d still there after Close: %v", pid, err)
		}
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening after Close", a)
		}
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("working directory %s left behind: %v", s.Dir, err)
	}
}

// A test binary that dies without calling Close (a panic, `go test
// -timeout`) takes the stack with it: every part is started with a
// parent-death signal.
func TestPartsDieWithTheTestBinary(t *testing.T) {
	if os.Getenv("SIGSTACK_CRASH_HELPER") == "1" {
		cfg := binDir(t)
		s, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("PIDS " + strings.Trim(fmt.Sprint(s.Pids()), "[]") + "\n")
		os.RemoveAll(s.Dir) // the only thing a crash leaves; not what is tested
		panic("simulated crash of a test binary holding the stack")
	}
	binDir(t) // skip or fail as the suite does when the binaries are absent
	cmd := exec.Command(os.Args[0], "-test.run=^TestPartsDieWithTheTestBinary$", "-test.v")
	cmd.Env = append(os.Environ(), "SIGSTACK_CRASH_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the helper did not crash:\n%s", out)
	}
	var pids []int
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "PIDS "); ok {
			for _, f := range strings.Fields(rest) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatal(err)
				}
				pids = append(pids, n)
			}
		}
	}
	if len(pids) == 0 {
		t.Fatalf("the helper started nothing:\n%s", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				t.Errorf("process %d outlived the test binary that started it", pid)
				syscall.Kill(-pid, syscall.SIGKILL)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
