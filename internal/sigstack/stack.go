// Package sigstack runs a real, private Sigstore on loopback for end-to-end
// tests: Fulcio (ephemeral CA, no CT log) with an OIDC issuer of our own,
// Rekor v2 (rekor-tiles, POSIX storage) and a timestamp authority, each a
// separate process built from the Go module proxy (`make sigstack-tools`).
// Its trusted root and signing config are written by cosign
// (`cosign trusted-root create`, `cosign signing-config create`), as an
// operator of a private deployment would.
//
// With Config.RekorV1 it also runs Rekor v1 (rekor-server on Trillian and
// MariaDB from Debian) for legacy keyless signatures, which need a log
// entry and which Rekor v2 cannot hold.
//
// Every process runs in its own process group on ports chosen free at start;
// Close kills the groups and removes the working directory. A Stack is safe
// for concurrent use once started (Token may be called from many tests).
package sigstack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Binaries the stack runs, as `go install` names them in the tools folder.
const (
	FulcioBin  = "fulcio"
	RekorV2Bin = "posix" // github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix
	// TSABin is timestamp-server built with its metrics listener on an
	// ephemeral loopback port instead of :2112 (hack/sigstack-build-loopback.sh).
	TSABin = "timestamp-server-lo"
)

// Config says where the binaries are.
type Config struct {
	// BinDir holds fulcio, posix (rekor-tiles) and timestamp-server.
	BinDir string
	// Cosign is the cosign binary that writes the trusted root and signing config.
	Cosign string
	// RekorV1 also starts Rekor v1 (rekor-server, Trillian and MariaDB) for
	// legacy keyless signatures with a log entry.
	RekorV1 bool
}

// Stack is a running private Sigstore.
type Stack struct {
	Dir       string
	Issuer    *Issuer
	FulcioURL string
	RekorURL  string // Rekor v2
	TSAURL    string // the timestamp endpoint: .../api/v1/timestamp
	// TrustedRoot is the trusted_root.json cosign wrote (Fulcio, Rekor v2, TSA; no CT log).
	TrustedRoot string
	// SigningConfig is the signing config for Rekor v2 with the TSA.
	SigningConfig string
	// RekorV1URL and SigningConfigV1 (Rekor v1 with the TSA) are set when
	// Config.RekorV1 was; the trusted root then lists both logs.
	RekorV1URL      string
	SigningConfigV1 string
	// FulcioChain and RekorV1Key are PEM files for legacy cosign signing
	// (SIGSTORE_ROOT_FILE, SIGSTORE_REKOR_PUBLIC_KEY).
	FulcioChain string
	RekorV1Key  string
	// Started is the time the trust material's validity begins.
	Started time.Time
	// StartDuration is how long Start took.
	StartDuration time.Duration

	mu    sync.Mutex
	procs []*exec.Cmd
	logs  map[string]string
}

// Missing lists the binaries of cfg.BinDir the stack needs that are absent.
func Missing(cfg Config) []string {
	var out []string
	for _, b := range []string{FulcioBin, RekorV2Bin, TSABin} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, b)); err != nil {
			out = append(out, filepath.Join(cfg.BinDir, b))
		}
	}
	if _, err := os.Stat(cfg.Cosign); err != nil {
		out = append(out, cfg.Cosign)
	}
	if cfg.RekorV1 {
		out = append(out, RekorV1Missing(cfg)...)
	}
	return out
}

// Start starts every part and writes the trust material. On error nothing
// is left running.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	s, err := start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	if m := Missing(cfg); len(m) > 0 {
		return nil, fmt.Errorf("sigstack: missing %s (run `make sigstack-tools`)", strings.Join(m, ", "))
	}
	// The parts run in the stack's directory: relative paths would break.
	if cfg.BinDir, err = filepath.Abs(cfg.BinDir); err != nil {
		return nil, err
	}
	if cfg.Cosign, err = filepath.Abs(cfg.Cosign); err != nil {
		return nil, err
	}
	t0 := time.Now()
	// A short path: Fulcio's unix socket must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "sigstack")
	if err != nil {
		return nil, err
	}
	s := &Stack{Dir: dir, logs: map[string]string{}, Started: t0.Add(-time.Hour).UTC().Truncate(time.Second)}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, s.Logs())
			s.Close()
		}
	}()
	if s.Issuer, err = StartIssuer(); err != nil {
		return s, fmt.Errorf("oidc issuer: %w", err)
	}
	ports, err := freePorts(9)
	if err != nil {
		return s, err
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }

	// Fulcio: ephemeral CA, no CT log, our issuer of type email.
	fcfg, _ := json.Marshal(map[string]any{"OIDCIssuers": map[string]any{
		s.Issuer.URL: map[string]string{"IssuerURL": s.Issuer.URL, "ClientID": "sigstore", "Type": "email"},
	}})
	fcfgPath := filepath.Join(dir, "fulcio.json")
	if err := os.WriteFile(fcfgPath, fcfg, 0o600); err != nil {
		return s, err
	}
	s.FulcioURL = "http://127.0.0.1:" + p(0)
	if err := s.start(ctx, "fulcio", filepath.Join(cfg.BinDir, FulcioBin), "serve",
		"--host", "127.0.0.1", "--port", p(0), "--grpc-host", "127.0.0.1", "--grpc-port", p(1),
		"--metrics-port", p(2), "--legacy-unix-domain-socket", filepath.Join(dir, "f.sock"),
		"--ca", "ephemeralca", "--ct-log-url", "", "--config-path", fcfgPath); err != nil {
		return s, err
	}

	// Rekor v2 with an ed25519 checkpoint key of ours.
	pubPEM, privPEM, err := ed25519PEM()
	if err != nil {
		return s, err
	}
	rekorPub := filepath.Join(dir, "rekor.pub")
	if err := os.WriteFile(rekorPub, pubPEM, 0o600); err != nil {
		return s, err
	}
	if err := os.WriteFile(filepath.Join(dir, "rekor.key"), privPEM, 0o600); err != nil {
		return s, err
	}
	s.RekorURL = "http://127.0.0.1:" + p(3)
	if err := s.start(ctx, "rekor-v2", filepath.Join(cfg.BinDir, RekorV2Bin), "serve",
		"--http-address", "127.0.0.1", "--http-port", p(3), "--grpc-address", "127.0.0.1", "--grpc-port", p(4),
		"--http-metrics-port", p(5), "--hostname", "127.0.0.1", "--storage-dir", filepath.Join(dir, "rekor-tiles"),
		"--signer-filepath", filepath.Join(dir, "rekor.key"), "--checkpoint-interval", "1s", "--batch-max-age", "100ms"); err != nil {
		return s, err
	}

	// TSA with an in-memory signer and its chain in every response.
	tsaBase := "http://127.0.0.1:" + p(6)
	s.TSAURL = tsaBase + "/api/v1/timestamp"
	if err := s.start(ctx, "tsa", filepath.Join(cfg.BinDir, TSABin), "serve",
		"--host", "127.0.0.1", "--port", p(6), "--timestamp-signer", "memory",
		"--disable-ntp-monitoring", "--include-chain-in-response"); err != nil {
		return s, err
	}

	fulcioChain, err := s.waitGet(ctx, "fulcio", s.FulcioURL+"/api/v1/rootCert")
	if err != nil {
		return s, err
	}
	tsaChain, err := s.waitGet(ctx, "tsa", tsaBase+"/api/v1/timestamp/certchain")
	if err != nil {
		return s, err
	}
	if err := s.waitTCP(ctx, "rekor-v2", "127.0.0.1:"+p(3)); err != nil {
		return s, err
	}
	var rekorV1Pub string
	if cfg.RekorV1 {
		if rekorV1Pub, err = s.startRekorV1(ctx, cfg); err != nil {
			return s, err
		}
	}
	fulcioPEM, tsaPEM := filepath.Join(dir, "fulcio-chain.pem"), filepath.Join(dir, "tsa-chain.pem")
	if err := os.WriteFile(fulcioPEM, fulcioChain, 0o600); err != nil {
		return s, err
	}
	s.FulcioChain, s.RekorV1Key = fulcioPEM, rekorV1Pub
	if err := os.WriteFile(tsaPEM, tsaChain, 0o600); err != nil {
		return s, err
	}

	start := s.Started.Format(time.RFC3339)
	s.TrustedRoot = filepath.Join(dir, "trusted_root.json")
	trArgs := []string{"trusted-root", "create",
		"--fulcio=url=" + s.FulcioURL + ",certificate-chain=" + fulcioPEM + ",start-time=" + start,
		"--rekor=url=" + s.RekorURL + ",public-key=" + rekorPub + ",start-time=" + start + ",origin=127.0.0.1",
		"--tsa=url=" + s.TSAURL + ",certificate-chain=" + tsaPEM + ",start-time=" + start,
		"--out", s.TrustedRoot}
	if rekorV1Pub != "" {
		trArgs = append(trArgs, "--rekor=url="+s.RekorV1URL+",public-key="+rekorV1Pub+",start-time="+start)
	}
	if out, err := runCosign(ctx, cfg.Cosign, dir, trArgs...); err != nil {
		return s, fmt.Errorf("cosign trusted-root create: %w\n%s", err, out)
	}
	s.SigningConfig = filepath.Join(dir, "signing_config.json")
	svc := func(url string) string {
		return "url=" + url + ",api-version=1,start-time=" + start + ",operator=airlock-sigstack"
	}
	if out, err := runCosign(ctx, cfg.Cosign, dir, "signing-config", "create",
		"--fulcio="+svc(s.FulcioURL),
		"--rekor=url="+s.RekorURL+",api-version=2,start-time="+start+",operator=airlock-sigstack", "--rekor-config=ANY",
		"--oidc-provider="+svc(s.Issuer.URL),
		"--tsa="+svc(s.TSAURL), "--tsa-config=ANY",
		"--out", s.SigningConfig); err != nil {
		return s, fmt.Errorf("cosign signing-config create: %w\n%s", err, out)
	}
	if rekorV1Pub != "" {
		s.SigningConfigV1 = filepath.Join(dir, "signing_config_rekor_v1.json")
		if out, err := runCosign(ctx, cfg.Cosign, dir, "signing-config", "create",
			"--fulcio="+svc(s.FulcioURL), "--rekor="+svc(s.RekorV1URL), "--rekor-config=ANY",
			"--oidc-provider="+svc(s.Issuer.URL), "--tsa="+svc(s.TSAURL), "--tsa-config=ANY",
			"--out", s.SigningConfigV1); err != nil {
			return s, fmt.Errorf("cosign signing-config create (Rekor v1): %w\n%s", err, out)
		}
	}
	s.StartDuration = time.Since(t0)
	return s, nil
}

// Token returns an ID token for email from the stack's issuer.
func (s *Stack) Token(email string) (string, error) { return s.Issuer.Token(email) }

// Close stops every process group and removes the working directory.
func (s *Stack) Close() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for _, cmd := range procs {
		killGroup(cmd)
		_ = cmd.Wait()
	}
	if s.Issuer != nil {
		_ = s.Issuer.Close()
	}
	if s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
}

// Pids returns the process ids of the parts started (each leads its group).
func (s *Stack) Pids() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, cmd := range s.procs {
		if cmd.Process != nil {
			out = append(out, cmd.Process.Pid)
		}
	}
	return out
}

// Logs returns the tail of every process's output, for failure messages.
func (s *Stack) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for name, path := range s.logs {
		data, _ := os.ReadFile(path)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s log (tail)\n%s\n", name, data)
	}
	return b.String()
}

func (s *Stack) start(ctx context.Context, name, bin string, args ...string) error {
	logPath := filepath.Join(s.Dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...) // not CommandContext: Close owns the lifetime
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "HOME="+s.Dir)
	cmd.Stdout, cmd.Stderr = lf, lf
	inOwnGroup(cmd)
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	lf.Close() // the child holds its own descriptor
	s.mu.Lock()
	s.procs = append(s.procs, cmd)
	s.logs[name] = logPath
	s.mu.Unlock()
	return ctx.Err()
}

// startTimeout is generous: CI shares 2 cores with builds.
const startTimeout = 3 * time.Minute

// waitGet polls url until it answers 200 and returns the body.
func (s *Stack) waitGet(ctx context.Context, name, url string) ([]byte, error) {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := loopbackClient.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && rerr == nil && len(body) > 0 {
				return body, nil
			}
			err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
		}
		last = err
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("%s did not answer %s within %s: %v", name, url, startTimeout, last)
}

func (s *Stack) waitTCP(ctx context.Context, name, addr string) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen on %s within %s", name, addr, startTimeout)
}

// loopbackClient has its own transport: tests replace http.DefaultTransport
// to prove verification dials nothing, and the stack must not trip that.
var loopbackClient = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func ed25519PEM() (pub, priv []byte, err error) {
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		return nil, nil, err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), nil
}

func runCosign(ctx context.Context, cosign, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cosign, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
