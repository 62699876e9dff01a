package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-oci/airlock/internal/testenv"
)

// A registry built as users build one when a single host is not enough:
// two distribution processes on S3 storage (SeaweedFS) with a shared
// http.secret. airlock imports through one; real cosign verifies the
// signatures and attestations through either.
func TestE2EImportIntoS3Registry(t *testing.T) {
	w := newCosignWorld(t)
	s3 := testenv.StartS3(t)
	const secret = "airlock-e2e-shared-secret"
	regA := testenv.StartS3Registry(t, s3, "/shared", secret)
	regB := testenv.StartS3Registry(t, s3, "/shared", secret)

	dir := t.TempDir()
	bundlePath := filepath.Join(dir, "bundle.tar")
	exportNoTUF(t, w.reg.Host, bundlePath, w.app, w.legacy, w.multi)
	trustDir := filepath.Join(dir, "trust")
	stdout, stderr, code := airlockRun(t, "import", "--trust-dir", trustDir, "--key", w.pub, "--insecure-registry", regA.Host,
		"--to", regA.Host+"/mirror", "--receipt", filepath.Join(dir, "receipt.json"), bundlePath)
	if code != 0 {
		t.Fatalf("import into the S3-backed registry: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The source host stays in the target path (host:port as host_port).
	srcDir := strings.ReplaceAll(w.reg.Host, ":", "_")
	for _, reg := range []*testenv.Registry{regA, regB} {
		prefix := reg.Host + "/mirror/" + srcDir
		app := prefix + "/acme/app:v1"
		if got := strings.TrimSpace(testenv.Run(t, "", nil, "crane", "digest", "--insecure", app)); got != w.appDig.String() {
			t.Fatalf("%s has digest %s, want %s", app, got, w.appDig)
		}
		w.cosignVerify(t, "verify", app)
		w.cosignVerify(t, "verify-attestation", "--type", "slsaprovenance1", app)
		w.cosignVerify(t, "verify", prefix+"/acme/legacy:v1")
		w.cosignVerify(t, "verify", prefix+"/acme/multi:v1")
	}

	// Importing again through the other process finds everything in place.
	if _, stderr, code := airlockRun(t, "import", "--trust-dir", trustDir, "--key", w.pub, "--insecure-registry", regB.Host,
		"--to", regB.Host+"/mirror", bundlePath); code != 0 {
		t.Fatalf("second import through the other registry process: exit %d: %s", code, stderr)
	}
}
