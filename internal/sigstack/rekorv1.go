package sigstack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Rekor v1 binaries (Trillian's log server and signer, rekor-server) and
// the Trillian MySQL schema, as `make sigstack-rekor-v1` puts them in BinDir.
const (
	RekorV1Bin         = "rekor-server-lo" // metrics on an ephemeral loopback port, not :2112
	TrillianServerBin  = "trillian_log_server"
	TrillianSignerBin  = "trillian_log_signer"
	TrillianSchemaFile = "trillian-storage.sql"
)

// RekorV1Missing lists what Rekor v1 needs that is absent: the binaries and
// schema in BinDir and MariaDB (Debian's mariadb-server) on PATH or in /usr/sbin.
func RekorV1Missing(cfg Config) []string {
	var out []string
	for _, b := range []string{RekorV1Bin, TrillianServerBin, TrillianSignerBin, TrillianSchemaFile} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, b)); err != nil {
			out = append(out, filepath.Join(cfg.BinDir, b))
		}
	}
	for _, b := range []string{"mariadbd", "mariadb-install-db", "mariadb"} {
		if _, err := lookPath(b); err != nil {
			out = append(out, b+" (apt-get install mariadb-server)")
		}
	}
	return out
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// startRekorV1 starts MariaDB, Trillian (log server and signer) and
// rekor-server with an in-memory signer, and returns the log's public key
// file. Rekor creates its Trillian tree on first start.
func (s *Stack) startRekorV1(ctx context.Context, cfg Config) (string, error) {
	ports, err := freePorts(6)
	if err != nil {
		return "", err
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	mariadbd, _ := lookPath("mariadbd")
	install, _ := lookPath("mariadb-install-db")
	client, _ := lookPath("mariadb")

	data := filepath.Join(s.Dir, "mariadb")
	args := []string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	out, err := exec.CommandContext(ictx, install, args...).CombinedOutput()
	cancel()
	if err != nil {
		return "", fmt.Errorf("mariadb-install-db: %w\n%s", err, out)
	}
	sock := filepath.Join(s.Dir, "m.sock")
	margs := []string{"--no-defaults", "--datadir=" + data, "--socket=" + sock, "--port=" + p(0),
		"--bind-address=127.0.0.1", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
		"--pid-file=" + filepath.Join(s.Dir, "mariadb.pid")}
	if os.Geteuid() == 0 {
		margs = append(margs, "--user=root")
	}
	if err := s.start(ctx, "mariadb", mariadbd, margs...); err != nil {
		return "", err
	}
	sql := func(stmt string, stdin string) error {
		cmd := exec.CommandContext(ctx, client, "--no-defaults", "-S", sock, "-uroot", "-e", stmt)
		if stdin != "" {
			f, err := os.Open(stdin)
			if err != nil {
				return err
			}
			defer f.Close()
			cmd.Stdin = f
			cmd.Args = []string{client, "--no-defaults", "-S", sock, "-uroot", "trillian"}
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	deadline := time.Now().Add(startTimeout)
	for {
		err := sql("SELECT 1", "")
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("mariadb did not start: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := sql("CREATE DATABASE trillian", ""); err != nil {
		return "", fmt.Errorf("creating the trillian database: %w", err)
	}
	if err := sql("", filepath.Join(cfg.BinDir, TrillianSchemaFile)); err != nil {
		return "", fmt.Errorf("loading the trillian schema: %w", err)
	}

	uri := "root@unix(" + sock + ")/trillian"
	if err := s.start(ctx, "trillian-log-server", filepath.Join(cfg.BinDir, TrillianServerBin),
		"--storage_system=mysql", "--mysql_uri="+uri, "--quota_system=noop",
		"--rpc_endpoint=127.0.0.1:"+p(1), "--http_endpoint=127.0.0.1:"+p(2)); err != nil {
		return "", err
	}
	if err := s.start(ctx, "trillian-log-signer", filepath.Join(cfg.BinDir, TrillianSignerBin),
		"--storage_system=mysql", "--mysql_uri="+uri, "--quota_system=noop", "--force_master",
		"--sequencer_interval=100ms", "--batch_size=100",
		"--rpc_endpoint=127.0.0.1:"+p(3), "--http_endpoint=127.0.0.1:"+p(4)); err != nil {
		return "", err
	}
	if err := s.waitTCP(ctx, "trillian-log-server", "127.0.0.1:"+p(1)); err != nil {
		return "", err
	}
	s.RekorV1URL = "http://127.0.0.1:" + p(5)
	if err := s.start(ctx, "rekor-v1", filepath.Join(cfg.BinDir, RekorV1Bin), "serve",
		"--trillian_log_server.address=127.0.0.1", "--trillian_log_server.port="+p(1),
		"--rekor_server.address=127.0.0.1", "--port="+p(5), "--rekor_server.signer=memory",
		// No search index: it would need Redis.
		"--enabled_api_endpoints=getLogInfo,getPublicKey,getLogProof,createLogEntry,getLogEntryByIndex,getLogEntryByUUID",
		"--log_type=dev"); err != nil {
		return "", err
	}
	pub, err := s.waitGet(ctx, "rekor-v1", s.RekorV1URL+"/api/v1/log/publicKey")
	if err != nil {
		return "", err
	}
	pubPath := filepath.Join(s.Dir, "rekor-v1.pub")
	return pubPath, os.WriteFile(pubPath, pub, 0o600)
}
