// Command sigstackfixtures regenerates testdata/sigstack: what real cosign
// (v2 and v3) writes when it signs and attests a blob keylessly against a
// private Sigstore (internal/sigstack), kept so that `go test ./verify`
// checks those exact bytes without starting the stack.
//
//	make sigstack-fixtures
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/airlock-oci/airlock/internal/sigstack"
)

// Identity is the signer every fixture names.
const identity = "alice@airlock.test"

const predicate = `{"buildDefinition":{"buildType":"https://airlock.example/build/v1","externalParameters":{"repository":"https://git.example/acme/app"}},"runDetails":{"builder":{"id":"https://ci.example/builder@v1"}}}`

func main() {
	binDir := flag.String("bin-dir", "tools/sigstack", "the stack's binaries")
	cosign2 := flag.String("cosign", "tools/cosign", "cosign v2")
	cosign3 := flag.String("cosign3", "tools/cosign3", "cosign v3")
	out := flag.String("out", "testdata/sigstack", "output directory")
	flag.Parse()
	if err := run(*binDir, *cosign2, *cosign3, *out); err != nil {
		fmt.Fprintln(os.Stderr, "sigstackfixtures:", err)
		os.Exit(1)
	}
}

func run(binDir, cosign2, cosign3, out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := sigstack.Start(ctx, sigstack.Config{BinDir: binDir, Cosign: cosign2, RekorV1: true})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "fixtures")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	artifact := filepath.Join(out, "artifact.txt")
	if err := os.WriteFile(artifact, []byte("airlock sigstack fixture artifact\n"), 0o644); err != nil {
		return err
	}
	pred := filepath.Join(work, "predicate.json")
	if err := os.WriteFile(pred, []byte(predicate), 0o644); err != nil {
		return err
	}
	tr, err := os.ReadFile(s.TrustedRoot)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "trusted_root.json"), tr, 0o644); err != nil {
		return err
	}
	for _, f := range []struct {
		name, cosign, signingConfig string
		extra                       []string
	}{
		{"cosign2-rekor2", cosign2, s.SigningConfig, nil},
		{"cosign3-rekor2", cosign3, s.SigningConfig, nil},
		{"cosign2-rekor1-tsa", cosign2, s.SigningConfigV1, nil},
		{"cosign3-rekor1-tsa", cosign3, s.SigningConfigV1, nil},
	} {
		for _, op := range []string{"sign-blob", "attest-blob"} {
			tok, err := s.Token(identity)
			if err != nil {
				return err
			}
			kind := "sign"
			args := []string{op, "--new-bundle-format", "--signing-config", f.signingConfig, "--trusted-root", s.TrustedRoot,
				"--identity-token", tok, "-y"}
			if op == "attest-blob" {
				kind = "attest"
				args = append(args, "--type", "slsaprovenance1", "--predicate", pred)
			}
			dst := filepath.Join(out, f.name+"-"+kind+".sigstore.json")
			args = append(args, "--bundle", dst, artifact)
			cmd := exec.CommandContext(ctx, f.cosign, args...)
			cmd.Env = append(os.Environ(), "HOME="+work, "TUF_ROOT="+filepath.Join(work, "tuf"), "SIGSTORE_NO_CACHE=1")
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s %s: %w\n%s", f.cosign, op, err, b)
			}
			fmt.Println("wrote", dst)
		}
	}
	fmt.Println("issuer", s.Issuer.URL)
	return os.WriteFile(filepath.Join(out, "issuer.txt"), []byte(s.Issuer.URL+"\n"), 0o644)
}
