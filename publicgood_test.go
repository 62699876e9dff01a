package airlock_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/internal/testenv"
	"github.com/airlock-oci/airlock/verify"
)

// The real public-good attestation from cosign v2.6.5's test data
// (testdata/cosign/): a Sigstore bundle whose DSSE statement (predicate type
// https://cosign.sigstore.dev/attestation/v1) names go-containerregistry's
// empty image, signed with a Fulcio certificate for cody@soyland.com issued
// through https://github.com/login/oauth, logged in Rekor.
const (
	pgIdentity = "cody@soyland.com"
	pgIssuer   = "https://github.com/login/oauth"
	pgDigest   = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
	pgType     = testenv.PublicGoodType
)

// pgIntegrated is when Rekor integrated the attestation (its tlog entry's
// integratedTime, 1740770291): inside the ten minutes of its certificate.
var pgIntegrated = time.Unix(1740770291, 0).UTC()

// productionTrustedRoot is the public-good trusted_root.json of the TUF
// fixture (testdata/sigstore-tuf).
func productionTrustedRoot(t *testing.T) string {
	t.Helper()
	m, err := filepath.Glob("testdata/sigstore-tuf/targets/*.trusted_root.json")
	if err != nil || len(m) != 1 {
		t.Fatalf("production trusted root: %v %v", m, err)
	}
	return m[0]
}

// publicGoodBundle pushes the empty image and the real attestation as its
// OCI referrer into a loopback registry, exports it without TUF and returns
// the bundle's path.
func publicGoodBundle(t *testing.T) string {
	t.Helper()
	if d, err := empty.Image.Digest(); err != nil || d.String() != pgDigest {
		t.Fatalf("empty image digest %v %v, want the attestation's subject %s", d, err, pgDigest)
	}
	ref := testenv.PublicGoodRegistry(t)
	out := filepath.Join(t.TempDir(), "pg.tar")
	if _, err := airlock.Export(context.Background(), out, []string{ref.String()}, airlock.WithoutTUF()); err != nil {
		t.Fatalf("export: %v", err)
	}
	return out
}

// TestPublicGoodAttestationOnly: an image that carries only an attestation
// passes a threshold-0 policy (file or --type quick flags) against the
// public-good trust material, and is refused for any other identity or
// issuer.
func TestPublicGoodAttestationOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	path := publicGoodBundle(t)
	dir := t.TempDir()
	policyFor := func(identity, issuer string) string {
		p := filepath.Join(dir, strings.NewReplacer("@", "_", "/", "_", ":", "_").Replace(identity+issuer)+".yaml")
		doc := "apiVersion: airlock.dev/v1\nkind: Policy\nrules:\n  - name: attested\n    images: [\"**\"]\n    threshold: 0\n" +
			"    signers: [{subject: \"" + identity + "\", issuer: \"" + issuer + "\"}]\n" +
			"    attestations: [{name: custom, predicateType: \"" + pgType + "\"}]\n"
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flagsFor := func(identity, issuer string) airlock.Option {
		p, err := verify.PolicyFromFlags(verify.Flags{CertificateIdentity: identity, CertificateOIDCIssuer: issuer, Type: "custom"})
		if err != nil {
			t.Fatal(err)
		}
		return airlock.WithPolicy(p, "flags")
	}
	roots := map[string]string{
		"trusted_root_pgi.json":   "testdata/cosign/trusted_root_pgi.json",
		"production trusted root": productionTrustedRoot(t),
	}
	for rootName, rootPath := range roots {
		for _, tc := range []struct {
			name     string
			identity string
			issuer   string
			pass     bool
		}{
			{"right identity and issuer", pgIdentity, pgIssuer, true},
			{"wrong identity", "someone@else.example", pgIssuer, false},
			{"wrong issuer", pgIdentity, "https://accounts.google.com", false},
		} {
			for form, pol := range map[string]airlock.Option{
				"policy file":   airlock.WithPolicyFile(policyFor(tc.identity, tc.issuer)),
				"--type custom": flagsFor(tc.identity, tc.issuer),
			} {
				t.Run(rootName+"/"+tc.name+"/"+form, func(t *testing.T) {
					// Judged a minute after it was logged, while its certificate
					// was still valid (the clock does not change the verdict
					// on certificates: they are checked at the log's time).
					rep, err := airlock.Verify(context.Background(), path, pol,
						airlock.WithTrustedRoot(rootPath), airlock.WithTrustDir(filepath.Join(dir, "trust")),
						airlock.WithClock(func() time.Time { return pgIntegrated.Add(time.Minute) }))
					if rep == nil {
						t.Fatalf("verify: %v", err)
					}
					if len(rep.Images) != 1 {
						t.Fatalf("%d images", len(rep.Images))
					}
					img := rep.Images[0]
					var att *verify.Finding
					for i, f := range img.Findings {
						if f.Kind == artifact.KindSigstoreBundle {
							att = &img.Findings[i]
						}
					}
					if att == nil || att.Status != verify.StatusVerified || att.PredicateType != pgType ||
						att.Signer.Identity != pgIdentity || att.Signer.Issuer != pgIssuer {
						t.Fatalf("attestation finding %+v", att)
					}
					if tc.pass {
						if err != nil || rep.Verdict != verify.VerdictPass {
							t.Fatalf("verdict %s, err %v: %+v", rep.Verdict, err, img.Rules)
						}
						return
					}
					if err == nil || rep.Verdict == verify.VerdictPass {
						t.Fatalf("verdict %s with %s / %s, want refused", rep.Verdict, tc.identity, tc.issuer)
					}
				})
			}
		}
	}
}

// The same real attestation judged as of an hour before Rekor integrated it
// is refused: its log entry is dated in the future (issue 8).
func TestPublicGoodAttestationFromTheFuture(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	path := publicGoodBundle(t)
	pol, err := verify.PolicyFromFlags(verify.Flags{CertificateIdentity: pgIdentity, CertificateOIDCIssuer: pgIssuer, Type: "custom"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := airlock.Verify(context.Background(), path, airlock.WithPolicy(pol, "flags"),
		airlock.WithTrustedRoot("testdata/cosign/trusted_root_pgi.json"), airlock.WithTrustDir(filepath.Join(t.TempDir(), "trust")),
		airlock.WithClock(func() time.Time { return pgIntegrated.Add(-time.Hour) }))
	if rep == nil || err == nil || rep.Verdict == verify.VerdictPass {
		t.Fatalf("verdict %v, err %v: want refused", rep, err)
	}
	found := false
	for _, f := range rep.Images[0].Findings {
		if f.Kind != artifact.KindSigstoreBundle {
			continue
		}
		found = true
		if f.Status != verify.StatusFailed || !strings.Contains(f.Reason, "after the verification time") {
			t.Fatalf("finding %s %q, want failed as dated in the future", f.Status, f.Reason)
		}
	}
	if !found {
		t.Fatal("no sigstore-bundle finding")
	}
}
