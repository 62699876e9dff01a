package airlock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/verify"
)

// rewrite copies a bundle with its inventory changed by edit: a bundle
// that is well-formed but lies. Blobs are copied as they are.
func rewrite(t *testing.T, src, dst string, edit func(inv *bundle.Inventory)) string {
	t.Helper()
	return rewriteWith(t, src, dst, func(_ *bundle.Writer, inv *bundle.Inventory) { edit(inv) })
}

// rewriteWith is rewrite with access to the writer, to add blobs first:
// editBundle (gate_test.go) with the source's index entries written before
// whatever the edit adds.
func rewriteWith(t *testing.T, src, dst string, edit func(w *bundle.Writer, inv *bundle.Inventory)) string {
	t.Helper()
	return editBundle(t, src, dst, func(e *bundleEdit) {
		for _, d := range e.index {
			e.w.AddIndex(d)
		}
		e.index = nil
		edit(e.w, e.inv)
	})
}

// A bundle is hostile until verified: an inventory that lies can make
// evidence fail or be ignored, never make anything pass.
func TestLyingInventory(t *testing.T) {
	f := newFixture(t, demo.Options{})
	src := f.export(t, "b.tar", nil)
	idx := f.w.Digest.String()
	var sbomBundle, sigManifest string
	ins, err := airlock.Inspect(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ins.Images[0].Artifacts {
		switch {
		case a.Kind == artifact.KindSigstoreBundle && len(a.PredicateTypes) > 0 && a.PredicateTypes[0] == "https://spdx.dev/Document":
			sbomBundle = a.Digest
		case a.Kind == artifact.KindCosignSignature && a.Subject == idx:
			sigManifest = a.Digest
		}
	}
	if sbomBundle == "" || sigManifest == "" {
		t.Fatalf("fixture lacks the artifacts this test needs: %+v", ins.Images[0].Artifacts)
	}

	cases := []struct {
		name  string
		edit  func(inv *bundle.Inventory)
		check func(t *testing.T, rep *verify.Report, err error)
	}{
		{"an SBOM attestation relabelled as a signature does not verify as one",
			func(inv *bundle.Inventory) {
				for i, a := range inv.Images[0].Artifacts {
					if a.Digest == sbomBundle {
						inv.Images[0].Artifacts[i].Kind = artifact.KindCosignSignature
					}
				}
			},
			func(t *testing.T, rep *verify.Report, err error) {
				for _, fd := range rep.Images[0].Findings {
					if fd.Manifest == sbomBundle && fd.Status == verify.StatusVerified {
						t.Errorf("relabelled SBOM verified as %s", fd.Kind)
					}
				}
			}},
		{"an artifact the bundle does not hold is refused as malformed",
			func(inv *bundle.Inventory) {
				inv.Images[0].Artifacts = append(inv.Images[0].Artifacts, bundle.Artifact{Kind: artifact.KindCosignSignature,
					Digest: "sha256:" + strings.Repeat("ab", 32), Subject: idx, FoundBy: artifact.FoundByLegacyTag, MediaType: "application/vnd.oci.image.manifest.v1+json", Repository: "x"})
			},
			refusedAsMalformed("is not a manifest of the bundle's content graph")},
		{"a layer listed as an artifact is refused as malformed",
			func(inv *bundle.Inventory) {
				inv.Images[0].Artifacts = append(inv.Images[0].Artifacts, bundle.Artifact{Kind: artifact.KindCosignSignature,
					Digest: bundle.EmptyDescriptor().Digest.String(), Subject: idx, FoundBy: artifact.FoundByLegacyTag, MediaType: "application/vnd.oci.image.manifest.v1+json", Repository: "x"})
			},
			refusedAsMalformed("is not a manifest of the bundle's content graph")},
		{"a signature moved to another subject is refused: its legacy tag names the old one",
			func(inv *bundle.Inventory) {
				for i, a := range inv.Images[0].Artifacts {
					if a.Digest == sigManifest {
						inv.Images[0].Artifacts[i].Subject = f.w.Platforms[1].String()
					}
				}
			},
			refusedAsMalformed("legacy tag")},
		{"a trust source pointing at another artifact is refused",
			func(inv *bundle.Inventory) {
				inv.Trust[0].Manifest = inv.Images[0].Artifacts[0].Digest
			},
			func(t *testing.T, rep *verify.Report, err error) {
				if !errors.Is(err, airlock.ErrTrust) || rep.Trust[0].Error == "" {
					t.Errorf("err = %v, trust %+v", err, rep.Trust)
				}
			}},
		{"an image index.json does not hold is an integrity failure",
			func(inv *bundle.Inventory) {
				inv.Images[0].Digest = f.w.Platforms[0].String()
			},
			func(t *testing.T, rep *verify.Report, err error) {
				if !errors.Is(err, bundle.ErrInvalidBundle) || rep.Integrity.OK {
					t.Errorf("err = %v", err)
				}
			}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := rewrite(t, src, filepath.Join(f.dir, "lie"+string(rune('a'+i))+".tar"), c.edit)
			rep, err := airlock.Verify(context.Background(), path, f.verifyOpts()...)
			if rep == nil {
				t.Fatalf("no report: %v", err)
			}
			c.check(t, rep, err)
		})
	}
}

// A TUF artifact whose files cannot be named unambiguously is refused.
func TestTrustArtifactWithBadTitles(t *testing.T) {
	f := newFixture(t, demo.Options{})
	src := f.export(t, "b.tar", nil)
	put := func(t *testing.T, w *bundle.Writer, layers []v1.Descriptor) string {
		m, err := bundle.NewArtifactManifest(bundle.ArtifactTypeTUF, layers, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		d, err := w.Put(types.OCIManifestSchema1, raw)
		if err != nil {
			t.Fatal(err)
		}
		d.Annotations = map[string]string{bundle.AnnotationRole: bundle.RoleTrust}
		w.AddIndex(d)
		return d.Digest.String()
	}
	cases := []struct {
		name, reason string
		titles       []string
	}{
		{"two files with one name", "two files named", []string{"metadata/1.root.json", "metadata/1.root.json"}},
		{"a file without a name", "has no title", []string{""}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := rewriteWith(t, src, filepath.Join(f.dir, fmt.Sprintf("titles%d.tar", i)), func(w *bundle.Writer, inv *bundle.Inventory) {
				var layers []v1.Descriptor
				for j, title := range c.titles {
					d, err := w.Put("application/json", []byte(fmt.Sprintf(`{"n":%d}`, j)))
					if err != nil {
						t.Fatal(err)
					}
					if title != "" {
						d.Annotations = map[string]string{bundle.AnnotationTitle: title}
					}
					layers = append(layers, d)
				}
				inv.Trust[0].Manifest = put(t, w, layers)
			})
			rep, err := airlock.Verify(context.Background(), path, f.verifyOpts()...)
			if !errors.Is(err, airlock.ErrTrust) || rep == nil || !strings.Contains(rep.Trust[0].Error, c.reason) {
				t.Fatalf("err = %v, trust %+v, want ErrTrust saying %q", err, rep.Trust, c.reason)
			}
		})
	}
}

// refusedAsMalformed checks that verification refused the bundle as
// malformed (integrity failure, exit 2) with a reason containing reason.
func refusedAsMalformed(reason string) func(t *testing.T, rep *verify.Report, err error) {
	return func(t *testing.T, rep *verify.Report, err error) {
		t.Helper()
		if !errors.Is(err, bundle.ErrInvalidBundle) || rep.Integrity.OK || !strings.Contains(rep.Integrity.Error, reason) {
			t.Errorf("err = %v, integrity %+v; want an integrity failure saying %q", err, rep.Integrity, reason)
		}
		if len(rep.Images) != 0 || rep.ExitCode() != verify.ExitIntegrity {
			t.Errorf("images %d, exit %d: want no verdicts and exit %d", len(rep.Images), rep.ExitCode(), verify.ExitIntegrity)
		}
	}
}

func hasFinding(rep *verify.Report, manifest string, st verify.Status, reason string) bool {
	for _, img := range rep.Images {
		for _, fd := range img.Findings {
			if fd.Manifest == manifest && fd.Status == st && strings.Contains(fd.Reason, reason) {
				return true
			}
		}
	}
	return false
}
