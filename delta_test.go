package airlock_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/verify"
)

func writeReceipt(t *testing.T, res *airlock.ImportResult, path string) {
	t.Helper()
	var buf bytes.Buffer
	if err := res.WriteReceipt(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func inventoryOf(t *testing.T, path string) *bundle.Inventory {
	t.Helper()
	r, err := bundle.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	inv, err := r.Inventory()
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestDeltaFromReceipt(t *testing.T) {
	f := newFixture(t, demo.Options{})
	first := f.export(t, "first.tar", nil)
	res, err := airlock.Import(context.Background(), first, f.w.TargetHost()+"/mirror", f.importOpts()...)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if res.Holds == nil || len(res.Holds.Blobs) < 3 || len(res.Holds.Repositories) != 1 {
		t.Fatalf("receipt holds %+v", res.Holds)
	}
	receipt := filepath.Join(f.dir, "receipt.json")
	writeReceipt(t, res, receipt)

	delta := filepath.Join(f.dir, "delta.tar")
	dres, err := airlock.Export(context.Background(), delta, []string{f.w.Image}, f.tuf(), airlock.WithSince(receipt))
	if err != nil {
		t.Fatalf("delta export: %v", err)
	}
	if dres.Transfer == nil || dres.Transfer.Omitted != 6 || dres.Transfer.Signed || dres.Transfer.Parts != 0 {
		t.Errorf("export result transfer %+v", dres.Transfer)
	}
	inv := inventoryOf(t, delta)
	// Every config and layer (2 platforms: 2 configs, 4 layers) is left
	// out; signature and attestation layers are always carried.
	if len(inv.Omitted) != 6 || len(res.Holds.Blobs) <= 6 {
		t.Fatalf("%d blobs omitted, the receipt holds %d", len(inv.Omitted), len(res.Holds.Blobs))
	}
	var omittedBytes int64
	for _, o := range inv.Omitted {
		if o.Source != receipt || o.Repository != f.w.TargetHost()+"/mirror/"+f.srcDir()+"/vendor/app" || o.Size <= 0 {
			t.Errorf("omitted %+v", o)
		}
		omittedBytes += o.Size
	}
	fi1, _ := os.Stat(first)
	fi2, _ := os.Stat(delta)
	if fi1.Size()-fi2.Size() < omittedBytes {
		t.Errorf("the delta is %d bytes, the full bundle %d; %d bytes were omitted", fi2.Size(), fi1.Size(), omittedBytes)
	}
	// The same from the earlier bundle itself (nothing came back across the gap).
	viaBundle := inventoryOf(t, f.export(t, "delta2.tar", nil, airlock.WithSince(first)))
	if len(viaBundle.Omitted) != len(inv.Omitted) || viaBundle.Omitted[0].Source != first {
		t.Errorf("--since BUNDLE omitted %+v", viaBundle.Omitted)
	}

	// Or from its inventory, kept on the connected side: the manifests it
	// names are read again from the source, by digest.
	invPath := filepath.Join(f.dir, "first-inventory.json")
	raw, err := inventoryOf(t, first).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(invPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	viaInv := inventoryOf(t, f.export(t, "delta3.tar", nil, airlock.WithSince(invPath)))
	if len(viaInv.Omitted) != len(inv.Omitted) || viaInv.Omitted[0].Source != invPath {
		t.Errorf("--since INVENTORY omitted %+v", viaInv.Omitted)
	}

	// verify checks what is carried and reports the rest as expected at the target.
	rep, err := airlock.Verify(context.Background(), delta, f.verifyOpts()...)
	if err != nil {
		var sb strings.Builder
		rep.Summary(&sb)
		t.Fatalf("verify: %v\n%s", err, sb.String())
	}
	if e := rep.ExpectedAtTarget; e == nil || e.Count != len(inv.Omitted) || e.Bytes != omittedBytes {
		t.Fatalf("expected at target %+v", rep.ExpectedAtTarget)
	}
	var sb strings.Builder
	rep.Summary(&sb)
	if !strings.Contains(sb.String(), fmt.Sprintf("%d blobs", len(inv.Omitted))) || !strings.Contains(sb.String(), "expected at the target") {
		t.Errorf("summary:\n%s", sb.String())
	}

	// Import into another prefix of the same target: mounted from the
	// repository the receipt names.
	res2, err := airlock.Import(context.Background(), delta, f.w.TargetHost()+"/other", f.importOpts()...)
	if err != nil {
		t.Fatalf("import of the delta: %v", err)
	}
	checkImported(t, f, mirrorRepoAt(t, f, f.w.TargetHost(), "other"), delta)
	if res2.Holds == nil || len(res2.Holds.Blobs) != len(res.Holds.Blobs) {
		t.Errorf("the delta's receipt holds %+v", res2.Holds)
	}

	// A dry run checks the target too, reading only: it passes where the
	// blobs are, and stops where they are not, as the import would.
	if _, err := airlock.Import(context.Background(), delta, f.w.TargetHost()+"/third", append(f.importOpts(), airlock.WithDryRun())...); err != nil {
		t.Fatalf("dry run of the delta into the target that holds its blobs: %v", err)
	}
	f2 := newFixture(t, demo.Options{})
	_, err = airlock.Import(context.Background(), delta, f2.w.TargetHost()+"/mirror", append(f.importOpts(), airlock.WithDryRun())...)
	if !errors.Is(err, airlock.ErrMissingAtTarget) {
		t.Fatalf("dry run into a target without the blobs: %v", err)
	}
	assertNoTags(t, f2.w.TargetHost())

	// A target without the blobs: refused before anything is tagged, naming
	// the blob and the receipt.
	_, err = airlock.Import(context.Background(), delta, f2.w.TargetHost()+"/mirror", f.importOpts()...)
	if !errors.Is(err, airlock.ErrMissingAtTarget) || errors.Is(err, bundle.ErrInvalidBundle) {
		t.Fatalf("import into a target without the blobs: %v", err)
	}
	if !strings.Contains(err.Error(), inv.Omitted[0].Digest[:20]) && !strings.Contains(err.Error(), "sha256:") || !strings.Contains(err.Error(), receipt) {
		t.Errorf("error does not name the blob and the receipt: %v", err)
	}
	var re *airlock.ReportError
	if errors.As(err, &re) {
		t.Errorf("a missing blob is reported as a verification failure (exit %d), want exit 3", re.ExitCode())
	}
	assertNoTags(t, f2.w.TargetHost())
	_ = verify.ExitError
}

func TestReceiptSize(t *testing.T) {
	// 1,000 images of 12 blobs each, 3 repositories per 10 images.
	h := &airlock.Holdings{Schema: airlock.HoldingsSchema}
	for i := range 300 {
		h.Repositories = append(h.Repositories, fmt.Sprintf("registry.internal:5000/mirror/team%03d/app%03d", i/10, i))
	}
	for i := range 12000 {
		h.Blobs = append(h.Blobs, airlock.HeldBlob{Digest: fmt.Sprintf("sha256:%064x", i*7919), Size: int64(i) * 104729, Repo: i % 300})
	}
	res := &airlock.ImportResult{Schema: airlock.ReceiptSchema, Holds: h}
	for i := range 1000 {
		res.Images = append(res.Images, airlock.ImportedImage{
			Source: fmt.Sprintf("docker.io/team%03d/app%03d:1.0", i/10, i), Reference: fmt.Sprintf("registry.internal:5000/mirror/team%03d/app%03d:1.0", i/10, i),
			Digest: fmt.Sprintf("sha256:%064x", i), Verdict: "pass", Blobs: 12, Bytes: 1 << 28,
			Manifests: []string{fmt.Sprintf("sha256:%064x", i+1), fmt.Sprintf("sha256:%064x", i+2), fmt.Sprintf("sha256:%064x", i+3)},
			Tags:      []airlock.TagMove{{Tag: "1.0", Digest: fmt.Sprintf("sha256:%064x", i), Moved: true}},
		})
	}
	var buf bytes.Buffer
	if err := res.WriteReceipt(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("1,000-image receipt (12,000 blobs, 3,000 manifests): %d bytes (%.2f MiB)", buf.Len(), float64(buf.Len())/(1<<20))
	if buf.Len() > 4<<20 {
		t.Errorf("a 1,000-image receipt is %d bytes, over 4 MiB", buf.Len())
	}
}

// mirrorRepoAt is where the demo image lands under host/prefix (the source
// host kept in the path, the default mapping).
func mirrorRepoAt(t *testing.T, f *fixture, host, prefix string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(host + "/" + prefix + "/" + f.srcDir() + "/vendor/app")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// --since refuses what is not a bundle, a receipt with holds, or an
// inventory, naming the file, before any download.
func TestSinceRefusesBadFiles(t *testing.T) {
	f := newFixture(t, demo.Options{})
	proxy := newTargetProxy(t, f.w.Source.URL)
	dir := t.TempDir()
	for name, content := range map[string]string{
		"not-json":      "hello",
		"old-receipt":   `{"schema":"airlock.dev/receipt/v1","images":[]}`,
		"other-schema":  `{"schema":"something/v9","holds":{"schema":"airlock.dev/holdings/v1","repositories":[],"blobs":[]}}`,
		"repo-index":    `{"schema":"airlock.dev/receipt/v1","holds":{"schema":"airlock.dev/holdings/v1","repositories":["r"],"blobs":[["sha256:` + strings.Repeat("a", 64) + `",1,5]]}}`,
		"blob-shape":    `{"schema":"airlock.dev/receipt/v1","holds":{"schema":"airlock.dev/holdings/v1","repositories":["r"],"blobs":[{"digest":"x"}]}}`,
		"bad-digest":    `{"schema":"airlock.dev/receipt/v1","holds":{"schema":"airlock.dev/holdings/v1","repositories":["r"],"blobs":[["md5:00",1,0]]}}`,
		"negative-size": `{"schema":"airlock.dev/receipt/v1","holds":{"schema":"airlock.dev/holdings/v1","repositories":["r"],"blobs":[["sha256:` + strings.Repeat("a", 64) + `",-1,0]]}}`,
		"bad-inventory": `{"schemaVersion":7,"mediaType":"application/vnd.airlock.inventory.v1+json"}`,
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".json")
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := airlock.Export(context.Background(), filepath.Join(dir, "x.tar"), []string{proxy.host() + "/vendor/app:1.0"}, f.tuf(), airlock.WithSince(p))
			if reqs := proxy.take(); len(reqs) != 0 {
				t.Errorf("%d requests to the source before the bad --since was refused", len(reqs))
			}
			if !errors.Is(err, airlock.ErrUsage) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v, want a usage error naming %s", err, p)
			}
			if _, serr := os.Stat(filepath.Join(dir, "x.tar")); serr == nil {
				t.Error("a bundle was written")
			}
		})
	}
}
