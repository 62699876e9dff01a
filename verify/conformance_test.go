package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

const (
	conformanceDir     = "../testdata/sigstore-conformance/test/assets/bundle-verify"
	productionRootGlob = "../testdata/sigstore-tuf/targets/*.trusted_root.json"
	defaultIdentity    = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
	defaultIssuer      = "https://token.actions.githubusercontent.com"
)

// conformanceKnown lists the cases this version cannot make behave as the
// suite expects, with the reason. Each is skipped loudly, never passed.
// None at present: rekor2-dsse-* cases use the hashedrekord-over-DSSE
// encoding (hashedrekord 0.0.2), which sigstore-go v1.3.0 checks.
var conformanceKnown = map[string]string{}

func fixtureRoot(t *testing.T) string {
	t.Helper()
	if st, err := os.Stat(conformanceDir); err != nil || !st.IsDir() {
		t.Fatalf("sigstore-conformance fixtures missing from the repository (%s): %v", conformanceDir, err)
	}
	return conformanceDir
}

func productionRoot(t *testing.T) []byte {
	t.Helper()
	m, _ := filepath.Glob(productionRootGlob)
	if len(m) != 1 {
		t.Fatalf("want one production trusted_root.json matching %s, found %d", productionRootGlob, len(m))
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readOpt(dir, name, def string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return def
	}
	return strings.TrimSpace(string(b))
}

// TestConformance replays sigstore-conformance's bundle-verify cases through
// CheckBundle, each once with the artifact's bytes and once with only its
// sha256 digest. A case passes when the finding is verified and, keyless,
// its signer is exactly the expected identity and issuer.
func TestConformance(t *testing.T) {
	base := fixtureRoot(t)
	prod := productionRoot(t)
	ents, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	defaultArtifact, err := os.ReadFile(filepath.Join(base, "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ent := range ents {
		if !ent.IsDir() {
			continue
		}
		name := ent.Name()
		dir := filepath.Join(base, name)
		n++
		t.Run(name, func(t *testing.T) {
			if why, ok := conformanceKnown[name]; ok {
				t.Skip("known gap: " + why)
			}
			wantPass := !strings.HasSuffix(name, "_fail")
			bundleJSON, err := os.ReadFile(filepath.Join(dir, "bundle.sigstore.json"))
			if err != nil {
				t.Fatal(err)
			}
			artifact := defaultArtifact
			if b, err := os.ReadFile(filepath.Join(dir, "artifact")); err == nil {
				artifact = b
			}
			rootJSON := prod
			if b, err := os.ReadFile(filepath.Join(dir, "trusted_root.json")); err == nil {
				rootJSON = b
			}
			tm := &TrustMaterial{}
			tr, err := root.NewTrustedRootFromJSON(rootJSON)
			if err != nil {
				if wantPass {
					t.Fatalf("trusted root: %v", err)
				}
				t.Logf("trusted root refused (expected failure): %v", err)
				return
			}
			tm.Sources = []TrustSource{{Name: "conformance-root", Root: tr}}
			keyed := false
			if b, err := os.ReadFile(filepath.Join(dir, "key.pub")); err == nil {
				pub, err := cryptoutils.UnmarshalPEMToPublicKey(b)
				if err != nil {
					if wantPass {
						t.Fatalf("key.pub: %v", err)
					}
					t.Logf("key.pub refused (expected failure): %v", err)
					return
				}
				tm.Keys = []Key{{Name: "key.pub", Public: pub}}
				keyed = true
			}
			identity := readOpt(dir, "identity", defaultIdentity)
			issuer := readOpt(dir, "issuer", defaultIssuer)
			sum := sha256.Sum256(artifact)
			for _, mode := range []struct {
				name string
				art  Artifact
			}{
				{"bytes", Artifact{Bytes: artifact}},
				{"digest", Artifact{Digest: "sha256:" + hex.EncodeToString(sum[:])}},
			} {
				f := CheckBundle(bundleJSON, mode.art, tm, Options{})
				passed := f.Status == StatusVerified
				if passed && f.Signer == nil {
					t.Fatalf("%s: verified without signer", mode.name)
				}
				if passed && !keyed && (f.Signer.Identity != identity || f.Signer.Issuer != issuer) {
					passed = false
					f.Reason = addNote(f.Reason, "signer "+f.Signer.Identity+" / "+f.Signer.Issuer+" is not the expected identity")
				}
				if passed && keyed && f.Signer.Key != "key.pub" {
					passed = false
				}
				if passed != wantPass {
					t.Errorf("%s: status %s (%s), want pass=%v", mode.name, f.Status, f.Reason, wantPass)
				} else {
					t.Logf("%s: %s %s", mode.name, f.Status, f.Reason)
				}
			}
		})
	}
	if n != 70 {
		t.Errorf("found %d conformance cases, the fixture README says 70", n)
	}
}
