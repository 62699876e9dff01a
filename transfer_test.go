package airlock_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/verify"
)

// cosignKeyPair writes an encrypted key pair as `cosign generate-key-pair`
// does (ENCRYPTED SIGSTORE PRIVATE KEY, scrypt + secretbox) to dir/name.key
// and dir/name.pub.
func cosignKeyPair(t *testing.T, dir, name, password string) (key, pub string) {
	t.Helper()
	priv, pubPEM, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc([]byte(password)))
	if err != nil {
		t.Fatal(err)
	}
	key, pub = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
	if err := os.WriteFile(key, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return key, pub
}

func password(s string) func() ([]byte, error) {
	return func() ([]byte, error) { return []byte(s), nil }
}

// bundlePolicy is the demo policy plus a bundle section requiring the
// named key (relative to the policy's directory), and a rule that matches
// no image but names extra keys so that they are loaded.
func (f *fixture) bundlePolicy(t *testing.T, name, bundleKey string, extraKeys ...string) string {
	t.Helper()
	doc := demo.Policy
	if len(extraKeys) > 0 {
		doc += "  - name: other-keys\n    images: [\"nowhere.example/**\"]\n    signers:\n"
		for _, k := range extraKeys {
			doc += "      - key: " + k + "\n"
		}
	}
	if bundleKey != "" {
		doc += "bundle:\n  signers:\n    - key: " + bundleKey + "\n"
	}
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignedBundle(t *testing.T) {
	f := newFixture(t, demo.Options{})
	key, _ := cosignKeyPair(t, f.dir, "exporter", "s3cret")
	_, otherPub := cosignKeyPair(t, f.dir, "other", "x")
	_ = otherPub
	signed := f.export(t, "signed.tar", nil, airlock.WithSignKey(key, password("s3cret")))
	unsigned := f.export(t, "unsigned.tar", nil)

	requireExporter := f.bundlePolicy(t, "bundle.yaml", "exporter.pub")
	// other.pub is listed for the bundle; exporter.pub is loaded (a rule
	// names it) so that the signature verifies and is then not accepted.
	requireOther := f.bundlePolicy(t, "bundle-other.yaml", "other.pub", "exporter.pub")

	t.Run("verified, signer and time reported", func(t *testing.T) {
		rep, err := airlock.Verify(context.Background(), signed, airlock.WithPolicyFile(requireExporter), airlock.WithTrustDir(f.trustDir))
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		bs := rep.BundleSignature
		if bs == nil || !bs.Required || bs.Status != verify.BundleSigVerified || bs.Signer == nil || bs.Signer.Key != "exporter.pub" {
			t.Fatalf("bundle signature %+v", bs)
		}
		ins, err := airlock.Inspect(signed)
		if err != nil {
			t.Fatal(err)
		}
		if !bs.SignedAt.Equal(ins.Exporter.Time) || bs.Exporter == nil || bs.Exporter.Name != "airlock" || !slices.Equal(bs.Sources, []string{f.w.Image}) {
			t.Errorf("signed at %s by %+v for %v; inventory time %s", bs.SignedAt, bs.Exporter, bs.Sources, ins.Exporter.Time)
		}
		if ins.Signature == nil || ins.Signature.Manifest == "" || ins.Signature.KeyHint == "" || ins.Signature.Predicate == nil {
			t.Errorf("inspect does not show the bundle signature: %+v", ins.Signature)
		}
		var sb strings.Builder
		rep.Summary(&sb)
		if !strings.Contains(sb.String(), "signed by:  verified") || !strings.Contains(sb.String(), "exporter.pub") {
			t.Errorf("summary:\n%s", sb.String())
		}
	})
	t.Run("not required: reported, not judged", func(t *testing.T) {
		rep, err := airlock.Verify(context.Background(), signed, f.verifyOpts()...)
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		// The demo policy names no key: the signature cannot be checked and
		// is reported as such, without failing the bundle.
		if rep.BundleSignature == nil || rep.BundleSignature.Required || rep.BundleSignature.Status != verify.BundleSigFailed {
			t.Errorf("bundle signature %+v", rep.BundleSignature)
		}
	})
	for _, c := range []struct {
		name, bundle, policy, status, reason string
		tampered                             bool
	}{
		{"unsigned bundle, signer required", unsigned, requireExporter, verify.BundleSigMissing, "no bundle signature", false},
		{"signed by another signer", signed, requireOther, verify.BundleSigRejected, "exporter.pub", false},
		{"tag changed", rewriteIndex(t, signed, func(idx *v1.IndexManifest) {
			for i, d := range idx.Manifests {
				if d.Annotations[bundle.AnnotationRole] == bundle.RoleImage {
					idx.Manifests[i].Annotations[bundle.AnnotationRefName] = strings.Replace(d.Annotations[bundle.AnnotationRefName], ":1.0", ":latest", 1)
				}
			}
		}), requireExporter, verify.BundleSigFailed, "subjects", true},
		{"name changed", rewriteIndex(t, signed, func(idx *v1.IndexManifest) {
			for i, d := range idx.Manifests {
				if d.Annotations[bundle.AnnotationRole] == bundle.RoleImage {
					idx.Manifests[i].Annotations[bundle.AnnotationImageName] = "evil.example/vendor/app:1.0"
				}
			}
		}), requireExporter, verify.BundleSigFailed, "subjects", true},
		{"manifest changed and re-hashed", rewriteRootManifest(t, signed), requireExporter, verify.BundleSigFailed, "subjects", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := airlock.Verify(context.Background(), c.bundle, airlock.WithPolicyFile(c.policy), airlock.WithTrustDir(f.trustDir))
			var re *airlock.ReportError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want the bundle to fail", err)
			}
			if c.tampered && re.ExitCode() == verify.ExitIntegrity {
				t.Logf("refused as an integrity failure: %v", err)
				return // the graph check caught it first: fails all the same
			}
			if re.ExitCode() != verify.ExitPolicy || !errors.Is(err, airlock.ErrPolicy) {
				t.Fatalf("err = %v, want a policy failure (exit 1)", err)
			}
			bs := rep.BundleSignature
			if bs == nil || bs.Status != c.status || !strings.Contains(bs.Reason, c.reason) {
				t.Fatalf("bundle signature %+v, want status %s and a reason naming %q", bs, c.status, c.reason)
			}
			if len(rep.Images) != 0 {
				t.Errorf("%d images judged after the bundle signature failed", len(rep.Images))
			}
		})
	}
	t.Run("a changed blob fails integrity", func(t *testing.T) {
		r, err := bundle.Open(signed)
		if err != nil {
			t.Fatal(err)
		}
		blobs := r.Blobs()
		r.Close()
		rep, err := airlock.Verify(context.Background(), flipBlobByte(t, signed, blobs[len(blobs)-1]), airlock.WithPolicyFile(requireExporter), airlock.WithTrustDir(f.trustDir))
		if !errors.Is(err, bundle.ErrInvalidBundle) || rep.ExitCode() != verify.ExitIntegrity {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("import of an unsigned bundle under a required signer pushes nothing", func(t *testing.T) {
		proxy := newTargetProxy(t, f.w.Target.URL)
		res, err := airlock.Import(context.Background(), unsigned, proxy.host()+"/mirror",
			f.importOpts(airlock.WithPolicyFile(requireExporter))...)
		var re *airlock.ReportError
		if !errors.As(err, &re) || re.ExitCode() != verify.ExitPolicy || len(res.Images) != 0 {
			t.Fatalf("err = %v, images %+v", err, res)
		}
		if w := writes(proxy.take()); len(w) != 0 {
			t.Errorf("%d writes reached the target", len(w))
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		_, err := airlock.Export(context.Background(), filepath.Join(f.dir, "x.tar"), []string{f.w.Image}, airlock.WithSignKey(key, password("wrong")))
		if !errors.Is(err, airlock.ErrUsage) || !strings.Contains(err.Error(), "exporter.key") {
			t.Fatalf("err = %v", err)
		}
	})
}

// rewriteTar copies a bundle, letting edit change files (by tar name) and
// returns the new path.
func rewriteTar(t *testing.T, path, suffix string, edit func(files map[string][]byte)) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[hdr.Name] = b
		order = append(order, hdr.Name)
	}
	edit(files)
	for n := range files {
		if !slices.Contains(order, n) {
			order = append(order, n)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range order {
		b, ok := files[n]
		if !ok {
			continue
		}
		if strings.HasSuffix(n, "/") {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: n, Mode: 0o755})
			continue
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	tw.Close()
	out := path + "." + suffix
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func rewriteIndex(t *testing.T, path string, edit func(*v1.IndexManifest)) string {
	t.Helper()
	return rewriteTar(t, path, "index", func(files map[string][]byte) {
		var idx v1.IndexManifest
		if err := json.Unmarshal(files["index.json"], &idx); err != nil {
			t.Fatal(err)
		}
		edit(&idx)
		files["index.json"], _ = json.Marshal(idx)
	})
}

// rewriteRootManifest adds an annotation to the image's root manifest,
// stores it under its new digest and points index.json at it: every digest
// checks, only the signature can tell.
func rewriteRootManifest(t *testing.T, path string) string {
	t.Helper()
	return rewriteTar(t, path, "manifest", func(files map[string][]byte) {
		var idx v1.IndexManifest
		if err := json.Unmarshal(files["index.json"], &idx); err != nil {
			t.Fatal(err)
		}
		for i, d := range idx.Manifests {
			if d.Annotations[bundle.AnnotationRole] != bundle.RoleImage {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(files["blobs/sha256/"+d.Digest.Hex], &m); err != nil {
				t.Fatal(err)
			}
			m["annotations"] = map[string]string{"evil": "yes"}
			raw, _ := json.Marshal(m)
			sum := sha256.Sum256(raw)
			h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
			files["blobs/sha256/"+h.Hex] = raw
			idx.Manifests[i].Digest, idx.Manifests[i].Size = h, int64(len(raw))
		}
		files["index.json"], _ = json.Marshal(idx)
	})
}

func TestSplitSignedBundleRepairAndTamper(t *testing.T) {
	f := newFixture(t, demo.Options{})
	key, _ := cosignKeyPair(t, f.dir, "exporter", "pw")
	path := filepath.Join(f.dir, "b.tar")
	res, err := airlock.Export(context.Background(), path, []string{f.w.Image}, f.tuf(),
		airlock.WithSignKey(key, password("pw")), airlock.WithSplit(bundle.MinPartSize*4, 1))
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	parts, _ := filepath.Glob(path + ".[0-9][0-9][0-9]")
	if len(parts) < 3 || res.Bytes == 0 {
		t.Fatalf("%d parts, %d bytes", len(parts), res.Bytes)
	}
	policy := f.bundlePolicy(t, "bundle.yaml", "exporter.pub")
	opts := []airlock.Option{airlock.WithPolicyFile(policy), airlock.WithTrustDir(f.trustDir)}

	// One part lost: rebuilt from parity, reported, and the bundle passes.
	if err := os.Remove(parts[1]); err != nil {
		t.Fatal(err)
	}
	rep, err := airlock.Verify(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("verify with one part lost: %v", err)
	}
	if rep.Parts == nil || !slices.Equal(rep.Parts.Repaired, []string{filepath.Base(parts[1])}) || rep.BundleSignature.Parts != verify.BundleSigVerified {
		t.Fatalf("parts %+v, signature %+v", rep.Parts, rep.BundleSignature)
	}
	var sb strings.Builder
	rep.Summary(&sb)
	if !strings.Contains(sb.String(), "REPAIRED from parity: "+filepath.Base(parts[1])) {
		t.Errorf("summary does not report the repair:\n%s", sb.String())
	}

	// Two parts lost, one parity part: refused naming both (exit 2).
	if err := os.Remove(parts[2]); err != nil {
		t.Fatal(err)
	}
	rep, err = airlock.Verify(context.Background(), path, opts...)
	if !errors.Is(err, bundle.ErrPartsDamaged) && (rep == nil || rep.ExitCode() != verify.ExitIntegrity) {
		t.Fatalf("verify with two parts lost: %v", err)
	}
	if rep == nil || !strings.Contains(rep.Integrity.Error, filepath.Base(parts[1])) || !strings.Contains(rep.Integrity.Error, filepath.Base(parts[2])) {
		t.Fatalf("report %+v does not name the lost parts", rep)
	}
}

func TestSplitPartsManifestSignature(t *testing.T) {
	f := newFixture(t, demo.Options{})
	key, _ := cosignKeyPair(t, f.dir, "exporter", "pw")
	path := filepath.Join(f.dir, "b.tar")
	if _, err := airlock.Export(context.Background(), path, []string{f.w.Image}, f.tuf(),
		airlock.WithSignKey(key, password("pw")), airlock.WithSplit(bundle.MinPartSize*4, 1)); err != nil {
		t.Fatalf("export: %v", err)
	}
	policy := f.bundlePolicy(t, "bundle.yaml", "exporter.pub")
	opts := []airlock.Option{airlock.WithPolicyFile(policy), airlock.WithTrustDir(f.trustDir)}
	raw, err := os.ReadFile(bundle.PartsPath(path))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	// The parts still join to the same tar; only the (signed) manifest
	// changed: its signature no longer covers it.
	p["partSize"] = p["partSize"].(float64) // unchanged values re-encoded: still valid
	delete(p, "signature")
	unsigned, _ := json.Marshal(p)
	if err := os.WriteFile(bundle.PartsPath(path), unsigned, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := airlock.Verify(context.Background(), path, opts...)
	if err == nil || rep.ExitCode() != verify.ExitPolicy || rep.BundleSignature.Parts != verify.BundleSigMissing {
		t.Fatalf("verify with the parts signature removed: %v; signature %+v", err, rep.BundleSignature)
	}
	// A signature moved from another manifest (the original one, whose
	// parity entry is then dropped) does not cover the tampered manifest.
	var orig map[string]any
	json.Unmarshal(raw, &orig)
	delete(orig, "parity")
	tampered, _ := json.Marshal(orig)
	if err := os.WriteFile(bundle.PartsPath(path), tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err = airlock.Verify(context.Background(), path, opts...)
	if err == nil || rep.ExitCode() != verify.ExitPolicy || rep.BundleSignature.Parts != verify.BundleSigFailed {
		t.Fatalf("verify with a tampered parts manifest: %v; signature %+v", err, rep.BundleSignature)
	}
}

// An interrupted split export, run again with the same arguments, keeps the
// blobs it already wrote (each re-hashed) and fetches only the rest.
func TestSplitExportResumes(t *testing.T) {
	f := newFixture(t, demo.Options{})
	proxy := newTargetProxy(t, f.w.Source.URL)
	ref := proxy.host() + "/vendor/app:1.0"
	var blobs []string // image configs and layers
	for _, p := range f.w.Platforms {
		img, err := remote.Image(mustDigest(t, f.w.SourceHost()+"/vendor/app@"+p.String()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, m.Config.Digest.String())
		for _, l := range m.Layers {
			blobs = append(blobs, l.Digest.String())
		}
	}
	slices.Sort(blobs)
	// The last blob fails once every other one is on its way (streams in
	// flight finish after a failure; small and large blobs stream in
	// pools of their own, so request order is not digest order).
	last := blobs[len(blobs)-1]
	var mu sync.Mutex
	asked := map[string]bool{}
	proxy.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			return false
		}
		b := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		if b != last {
			if slices.Contains(blobs, b) {
				mu.Lock()
				asked[b] = true
				mu.Unlock()
			}
			return false
		}
		for range 1000 {
			mu.Lock()
			n := len(asked)
			mu.Unlock()
			if n >= len(blobs)-1 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN"}]}`, http.StatusNotFound)
		return true
	})
	path := filepath.Join(f.dir, "b.tar")
	opts := []airlock.Option{f.tuf(), airlock.WithSplit(bundle.MinPartSize*8, 1), airlock.WithConcurrency(1)}
	if _, err := airlock.Export(context.Background(), path, []string{ref}, opts...); err == nil {
		t.Fatal("the export with a failing blob succeeded")
	}
	proxy.setFault(nil)
	proxy.take()
	// A day later, to the nanosecond different: the inventory's time
	// changes, the layout of the streamed blobs does not.
	later := time.Now().Add(24*time.Hour + 123456789)
	if _, err := airlock.Export(context.Background(), path, []string{ref}, append(opts, airlock.WithClock(func() time.Time { return later }))...); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	fetched := map[string]int{}
	for _, r := range proxy.take() {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/blobs/") {
			fetched[r.Path[strings.LastIndex(r.Path, "/")+1:]]++
		}
	}
	for _, b := range blobs[:len(blobs)-1] {
		if fetched[b] != 0 {
			t.Errorf("blob %s, written by the interrupted run, was fetched again", b)
		}
	}
	if fetched[last] != 1 {
		t.Errorf("the missing blob was fetched %d times, want 1", fetched[last])
	}
	if _, err := airlock.Verify(context.Background(), path, f.verifyOpts()...); err != nil {
		t.Fatalf("verify of the resumed export: %v", err)
	}
}
