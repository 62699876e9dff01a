package airlock_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/internal/sign"
	"github.com/airlock-oci/airlock/trust"
	"github.com/airlock-oci/airlock/verify"
)

// noNetwork makes every dial through the default transport fail for the
// duration of the test: what passes under it touched no network.
func noNetwork(t *testing.T) {
	t.Helper()
	orig := http.DefaultTransport
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		t.Errorf("network dial to %s during an offline operation", addr)
		return nil, errors.New("no network: offline test")
	}
	http.DefaultTransport = tr
	t.Cleanup(func() { http.DefaultTransport = orig })
}

func TestVerifyOfflinePasses(t *testing.T) {
	f := newFixture(t, demo.Options{})
	path := f.export(t, "b.tar", nil)
	f.w.Close() // the connected side is gone
	noNetwork(t)
	rep, err := airlock.Verify(context.Background(), path, f.verifyOpts()...)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Verdict != verify.VerdictPass || !rep.Integrity.OK {
		t.Fatalf("verdict %s integrity %+v", rep.Verdict, rep.Integrity)
	}
	img := rep.Images[0]
	if img.Name != f.w.SourceHost()+"/vendor/app" || img.Reference != f.w.Image || img.Digest != f.w.Digest.String() {
		t.Errorf("image identity in the report: name %q reference %q digest %q", img.Name, img.Reference, img.Digest)
	}
	if len(img.Findings) != 5 {
		t.Fatalf("%d findings, want 5", len(img.Findings))
	}
	for _, fd := range img.Findings {
		if fd.Status != verify.StatusVerified {
			t.Errorf("%s %s: %s: %s", fd.Kind, fd.Manifest, fd.Status, fd.Reason)
		}
		if fd.Signer == nil || fd.Signer.Identity != demo.Identity || fd.Signer.Issuer != demo.Issuer {
			t.Errorf("%s: signer %+v", fd.Kind, fd.Signer)
		}
		if len(fd.TLog) == 0 || len(fd.TrustMaterial) == 0 || fd.TrustMaterial[0] != "tuf:"+demo.TUFName {
			t.Errorf("%s: tlog %+v trust %v", fd.Kind, fd.TLog, fd.TrustMaterial)
		}
	}
	if len(rep.Trust) != 1 || !rep.Trust[0].Used || len(rep.Trust[0].Roles) != 4 {
		t.Errorf("trust summary %+v", rep.Trust)
	}
	// Verify does not persist the TUF state: the pin has never been updated.
	st, _ := trust.OpenStore(f.trustDir)
	pin, err := st.Show(demo.TUFName)
	if err != nil {
		t.Fatal(err)
	}
	if !pin.LastUpdate.IsZero() {
		t.Errorf("verify persisted trust state (last update %s)", pin.LastUpdate)
	}
}

func TestVerifyRefusals(t *testing.T) {
	f := newFixture(t, demo.Options{})
	path := f.export(t, "b.tar", nil)

	otherIdentity := filepath.Join(f.dir, "other.yaml")
	if err := os.WriteFile(otherIdentity, []byte(strings.ReplaceAll(demo.Policy, demo.Identity, "someone-else@vendor.example")), 0o644); err != nil {
		t.Fatal(err)
	}
	// A trust store that pinned another TUF root: the bundle's TUF material
	// matches no pin, so the vendor's Sigstore is not trusted.
	otherTrust := filepath.Join(f.dir, "other-trust")
	w2, err := demo.NewWorld(context.Background(), demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
	st, _ := trust.OpenStore(otherTrust)
	if err := st.Init("other", w2.TUFRoot, "test"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		opts   []airlock.Option
		reason string
	}{
		{"wrong identity", []airlock.Option{airlock.WithPolicyFile(otherIdentity), airlock.WithTrustDir(f.trustDir)}, "someone-else@vendor.example"},
		{"other pinned root", []airlock.Option{airlock.WithPolicyFile(f.policy), airlock.WithTrustDir(otherTrust)}, ""},
		{"empty trust store", []airlock.Option{airlock.WithPolicyFile(f.policy), airlock.WithTrustDir(filepath.Join(f.dir, "none"))}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := airlock.Verify(context.Background(), path, c.opts...)
			if !errors.Is(err, airlock.ErrPolicy) {
				t.Fatalf("err = %v, want ErrPolicy", err)
			}
			var re *airlock.ReportError
			if !errors.As(err, &re) || re.ExitCode() != verify.ExitPolicy {
				t.Fatalf("exit code: %v", err)
			}
			if rep.Verdict != verify.VerdictPolicyFailed {
				t.Fatalf("verdict %s", rep.Verdict)
			}
			var sb strings.Builder
			rep.Summary(&sb)
			if c.reason != "" && !strings.Contains(sb.String(), c.reason) {
				t.Errorf("summary does not explain (%q):\n%s", c.reason, sb.String())
			}
		})
	}
}

func TestVerifyIntegrity(t *testing.T) {
	f := newFixture(t, demo.Options{})
	path := f.export(t, "b.tar", nil)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte in the middle of the archive's largest region (a layer).
	bad := filepath.Join(f.dir, "bad.tar")
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := airlock.Verify(context.Background(), bad, f.verifyOpts()...)
	if !errors.Is(err, bundle.ErrInvalidBundle) {
		t.Fatalf("err = %v, want ErrInvalidBundle", err)
	}
	if rep.Integrity.OK || rep.Verdict != verify.VerdictIntegrityFailed || rep.ExitCode() != verify.ExitIntegrity {
		t.Fatalf("report %+v", rep.Integrity)
	}
	// Not a bundle at all; and a missing file is a usage error, not a report.
	junk := filepath.Join(f.dir, "junk.tar")
	os.WriteFile(junk, []byte("not a tar"), 0o644)
	if _, err := airlock.Verify(context.Background(), junk, f.verifyOpts()...); !errors.Is(err, bundle.ErrInvalidBundle) {
		t.Errorf("junk: %v", err)
	}
	if _, err := airlock.Verify(context.Background(), filepath.Join(f.dir, "absent.tar"), f.verifyOpts()...); !errors.Is(err, airlock.ErrUsage) {
		t.Errorf("absent: %v", err)
	}
	if _, err := airlock.Verify(context.Background(), path, airlock.WithTrustDir(f.trustDir)); !errors.Is(err, airlock.ErrUsage) {
		t.Errorf("no policy: %v", err)
	}
}

// trust update persists TUF state; an older bundle is then refused as a
// rollback, by verify and by import, naming the role.
func TestTrustUpdateAndRollback(t *testing.T) {
	f := newFixture(t, demo.Options{})
	old := f.export(t, "old.tar", nil)

	// The vendor publishes new TUF metadata (a new target version).
	if err := f.w.TUFRepo.AddTarget("signing_config.v0.2.json", []byte(`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json"}`)); err != nil {
		t.Fatal(err)
	}
	newer := f.export(t, "new.tar", nil)
	sums, err := airlock.UpdateTrust(context.Background(), newer, airlock.WithTrustDir(f.trustDir))
	if err != nil {
		t.Fatalf("trust update: %v (%+v)", err, sums)
	}
	st, _ := trust.OpenStore(f.trustDir)
	pin, _ := st.Show(demo.TUFName)
	if pin.LastUpdate.IsZero() {
		t.Fatal("trust update did not persist")
	}
	_, err = airlock.UpdateTrust(context.Background(), old, airlock.WithTrustDir(f.trustDir))
	if !errors.Is(err, airlock.ErrTrust) {
		t.Fatalf("old bundle after update: %v, want ErrTrust", err)
	}
	rep, err := airlock.Verify(context.Background(), old, f.verifyOpts()...)
	if !errors.Is(err, airlock.ErrTrust) {
		t.Fatalf("verify of an old bundle: %v", err)
	}
	msg := ""
	for _, s := range rep.Trust {
		msg += s.Error
	}
	if !strings.Contains(msg, "timestamp") && !strings.Contains(msg, "snapshot") {
		t.Errorf("the refusal does not name the role: %q", msg)
	}
	// The newer bundle still verifies.
	if _, err := airlock.Verify(context.Background(), newer, f.verifyOpts()...); err != nil {
		t.Fatalf("newer bundle: %v", err)
	}
}

// A key-based policy: the operator's key verifies a key signature; the
// report says no log vouches for it.
func TestVerifyKeySignatureWithoutLog(t *testing.T) {
	f := newFixture(t, demo.Options{})
	key, pubPEM := testKey(t)
	keyPath := filepath.Join(f.dir, "cosign.pub")
	os.WriteFile(keyPath, pubPEM, 0o644)
	signer := sign.NewKey(key, nil)
	art, err := signer.CosignSignBundle(f.w.SourceHost()+"/vendor/app", f.w.Digest.String(), sign.WithoutTLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.w.Attach(context.Background(), art); err != nil {
		t.Fatal(err)
	}
	path := f.export(t, "b.tar", nil)
	pol, err := verify.PolicyFromFlags(verify.Flags{Key: keyPath})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := airlock.Verify(context.Background(), path, airlock.WithPolicy(pol, "flags"), airlock.WithTrustDir(f.trustDir))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	found := false
	for _, fd := range rep.Images[0].Findings {
		if fd.Signer != nil && fd.Signer.Key == keyPath && fd.Status == verify.StatusVerified {
			found = true
			if !strings.Contains(fd.Reason, "no transparency log") {
				t.Errorf("reason %q does not say no log vouches for it", fd.Reason)
			}
		}
	}
	if !found {
		t.Fatal("no finding verified by the key")
	}
}

func testKey(t *testing.T) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
