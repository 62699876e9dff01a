package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// exportNoTUF exports refs from the loopback registry host to path, with no
// TUF repository, and returns the summary; the test stops if it fails.
func exportNoTUF(t *testing.T, host, path string, refs ...string) string {
	t.Helper()
	return mustRun(t, append([]string{"export", "--no-tuf", "--insecure-registry", host, "-o", path}, refs...)...)
}

// mustRun runs a command that must succeed and returns its stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, code := airlockRun(t, args...)
	if code != 0 {
		t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

// writeFile writes content to path and returns path.
func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// atDigest names the repository of a tag reference (repo:v1) at digest d.
func atDigest(ref string, d v1.Hash) string {
	return strings.TrimSuffix(ref, ":v1") + "@" + d.String()
}

// refuseDials makes every dial through the default transport fail until the
// returned function is called: what passes under it touched no network.
func refuseDials(t *testing.T) (restore func()) {
	t.Helper()
	orig := http.DefaultTransport
	tr := orig.(*http.Transport).Clone()
	tr.DialContext = func(_ context.Context, _, addr string) (net.Conn, error) {
		t.Errorf("network dial to %s during an offline step", addr)
		return nil, errors.New("no network: offline step")
	}
	http.DefaultTransport = tr
	return func() { http.DefaultTransport = orig }
}

// offline refuses every dial until the test ends.
func offline(t *testing.T) {
	t.Helper()
	t.Cleanup(refuseDials(t))
}
