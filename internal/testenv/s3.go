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
	"sync"
	"syscall"
	"testing"
	"time"
)

// S3 is a running SeaweedFS server (master, volume, filer and S3 gateway in
// one `weed server -s3` process) on loopback, with a bucket created.
type S3 struct {
	// Endpoint is the S3 gateway's URL (http://127.0.0.1:port).
	Endpoint           string
	AccessKey, Secret  string
	Bucket             string
	master, filer, dir string
	logs               *lockedBuffer
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freePorts returns n distinct free loopback ports.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// start runs bin with args in dir until the test ends; the process is
// killed and waited for in cleanup, whether the test passed or not.
func start(t testing.TB, dir, bin string, args ...string) *lockedBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	// Stop gracefully (SeaweedFS removes its Unix sockets then), killed if
	// it takes more than 10s.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Dir = dir
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", filepath.Base(bin), err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	return logs
}

// waitHTTP polls url until it answers (any status) or the deadline passes.
func waitHTTP(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartS3 starts SeaweedFS (the `weed` tool, `make weed` builds it) with an
// S3 identity and creates the bucket "registry" with `weed shell`. Every
// port is picked free on loopback; it stops with the test.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	bin := Tool(t, "weed")
	dir := t.TempDir()
	s := &S3{AccessKey: "airlocktest", Secret: "airlocktestsecret", Bucket: "registry", dir: dir}
	ident := fmt.Sprintf(`{"identities":[{"name":"airlock","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","Write","List","Tagging"]}]}`,
		s.AccessKey, s.Secret)
	cfg := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(cfg, []byte(ident), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	p := freePorts(t, 8)
	// weed also listens on /tmp/seaweedfs-<service>[-grpc]-<port>.sock; remove
	// ours even if it was killed.
	t.Cleanup(func() {
		for _, port := range p {
			socks, _ := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("seaweedfs-*-%d.sock", port)))
			for _, s := range socks {
				os.Remove(s)
			}
		}
	})
	// SeaweedFS names a server host:port.grpcport when the gRPC port is not
	// port+10000.
	s.master, s.filer = fmt.Sprintf("127.0.0.1:%d.%d", p[0], p[4]), fmt.Sprintf("127.0.0.1:%d.%d", p[2], p[6])
	s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", p[3])
	s.logs = start(t, dir, bin, "-logdir="+dir, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir="+data,
		fmt.Sprint("-master.port=", p[0]), fmt.Sprint("-master.port.grpc=", p[4]), "-master.volumeSizeLimitMB=256",
		fmt.Sprint("-volume.port=", p[1]), fmt.Sprint("-volume.port.grpc=", p[5]),
		fmt.Sprint("-filer.port=", p[2]), fmt.Sprint("-filer.port.grpc=", p[6]),
		"-s3", fmt.Sprint("-s3.port=", p[3]), fmt.Sprint("-s3.port.grpc=", p[7]), "-s3.port.iceberg=0", "-s3.config="+cfg, "-master.telemetry=false")
	for _, u := range []string{fmt.Sprintf("http://127.0.0.1:%d/", p[2]), s.Endpoint + "/"} {
		if err := waitHTTP(u, 60*time.Second); err != nil {
			t.Fatalf("SeaweedFS did not answer on %s: %v\n%s", u, err, s.logs.String())
		}
	}
	// The filer may take a moment to join the master: retry the bucket.
	var out string
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		cmd := exec.Command(bin, "-logdir="+dir, "shell", "-master="+s.master, "-filer="+s.filer)
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader("s3.bucket.create -name " + s.Bucket + "\n")
		var b []byte
		b, err = cmd.CombinedOutput()
		out = string(b)
		if err == nil && s.hasBucket(bin) {
			return s
		}
	}
	t.Fatalf("creating bucket %s with weed shell: %v\n%s\nserver log:\n%s", s.Bucket, err, out, s.logs.String())
	return nil
}

// hasBucket asks weed shell whether the bucket exists.
func (s *S3) hasBucket(bin string) bool {
	cmd := exec.Command(bin, "-logdir="+s.dir, "shell", "-master="+s.master, "-filer="+s.filer)
	cmd.Dir = s.dir
	cmd.Stdin = strings.NewReader("s3.bucket.list\n")
	out, err := cmd.CombinedOutput()
	return err == nil && strings.Contains(string(out), s.Bucket)
}

// StartS3Registry starts a distribution registry storing in s's bucket
// under root (the s3 storage driver: path-style, plain HTTP, the given
// region endpoint), with http.secret secret, so that several processes
// started on the same storage and secret serve one registry.
func StartS3Registry(t testing.TB, s *S3, root, secret string) *Registry {
	t.Helper()
	bin := Tool(t, "registry")
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  s3:
    accesskey: %q
    secretkey: %q
    region: us-east-1
    regionendpoint: %q
    bucket: %q
    rootdirectory: %q
    forcepathstyle: true
    secure: false
    v4auth: true
  redirect:
    disable: true
  delete:
    enabled: true
http:
  addr: %s
  secret: %q
`, s.AccessKey, s.Secret, s.Endpoint, s.Bucket, root, addr, secret)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := start(t, dir, bin, "serve", cfgPath)
	if err := waitHTTP("http://"+addr+"/v2/", 30*time.Second); err != nil {
		t.Fatalf("registry on S3 did not start on %s: %v\n%s", addr, err, logs.String())
	}
	return &Registry{Host: addr, Dir: dir}
}
