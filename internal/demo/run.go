package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/trust"
)

// Policy is the demo's policy: the vendor's keyless identity must sign the
// image, and a signed SLSA provenance attestation from the vendor's builder
// and source repository must be present.
var Policy = `apiVersion: airlock.dev/v1
kind: Policy
rules:
  - name: vendor-app
    images: ["` + "**/vendor/app*" + `"]
    signers:
      - issuer: ` + Issuer + `
        subject: ` + Identity + `
    attestations:
      - name: provenance
        predicateType: https://slsa.dev/provenance/v1
        condition: >-
          predicate.runDetails.builder.id == "` + BuilderID + `" &&
          predicate.buildDefinition.externalParameters.workflow.repository == "` + SourceRepo + `"
`

// Run plays the whole round trip in dir, printing what happens to out:
// export from the vendor's registry (with the TUF repository that vouches
// for the vendor's Sigstore), inspect, pin the TUF root on the "air-gapped
// side", verify offline against a policy, import into the internal
// registry, and check that the imported copy verifies there too.
func Run(ctx context.Context, dir string, out io.Writer) error {
	step := func(format string, args ...any) { fmt.Fprintf(out, "\n==> "+format+"\n", args...) }
	w, err := NewWorld(ctx, Options{})
	if err != nil {
		return fmt.Errorf("starting the demo world: %w", err)
	}
	defer w.Close()
	fmt.Fprintf(out, "airlock demo: files go to %s\n", dir)
	fmt.Fprintf(out, "vendor registry %s holds %s (linux/amd64 + linux/arm64),\n", w.SourceHost(), w.Image)
	fmt.Fprintf(out, "signed keylessly by %s (issuer %s) through a virtual Sigstore,\n", Identity, Issuer)
	fmt.Fprintf(out, "with legacy cosign .sig/.att tags, Sigstore bundle referrers, SLSA provenance and an SPDX SBOM.\n")

	bundlePath := filepath.Join(dir, "bundle.tar")
	rootPath := filepath.Join(dir, "vendor-tuf-root.json")
	if err := os.WriteFile(rootPath, w.TUFRoot, 0o644); err != nil {
		return err
	}
	step("connected side: airlock export -o %s --tuf-url %s --tuf-root %s --tuf-name %s %s", bundlePath, w.TUF.URL, rootPath, TUFName, w.Image)
	res, err := airlock.Export(ctx, bundlePath, []string{w.Image},
		airlock.WithTUF(trust.Source{Name: TUFName, URL: w.TUF.URL, Root: w.TUFRoot}))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s (%d bytes, %d layer and config blobs)\n", res.Bundle, res.Bytes, res.Blobs)

	step("airlock inspect %s", bundlePath)
	ins, err := airlock.Inspect(bundlePath)
	if err != nil {
		return err
	}
	for _, img := range ins.Images {
		fmt.Fprintf(out, "%s  %s\n", img.Reference, img.Digest)
		for _, p := range img.Platforms {
			fmt.Fprintf(out, "  platform %-12s %s\n", p.Platform, p.Digest)
		}
		fmt.Fprintf(out, "  %d signatures, %d SBOMs, attestations: %s\n", img.Vouching.Signatures, img.Vouching.SBOMs, strings.Join(airlock.SortedKeys(img.Vouching.Attestations), ", "))
		for _, a := range img.Artifacts {
			fmt.Fprintf(out, "    %-20s %.19s on %.19s via %s\n", a.Kind, a.Digest, a.Subject, a.FoundBy)
		}
	}
	for _, t := range ins.Trust {
		fmt.Fprintf(out, "trust %s (%s) from %s:", t.Name, t.Kind, t.URL)
		for _, r := range t.Roles {
			fmt.Fprintf(out, " %s v%d", r.Role, r.Version)
		}
		fmt.Fprintln(out)
	}

	trustDir := filepath.Join(dir, "trust")
	step("air-gapped side: airlock trust init --trust-dir %s --root %s --name %s", trustDir, rootPath, TUFName)
	store, err := trust.OpenStore(trustDir)
	if err != nil {
		return err
	}
	if err := store.Init(TUFName, w.TUFRoot, "file "+rootPath); err != nil {
		return err
	}
	policyPath := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyPath, []byte(Policy), 0o644); err != nil {
		return err
	}
	reportPath := filepath.Join(dir, "report.json")
	step("airlock verify %s --policy %s --trust-dir %s --report %s", bundlePath, policyPath, trustDir, reportPath)
	rep, err := airlock.Verify(ctx, bundlePath, airlock.WithPolicyFile(policyPath), airlock.WithTrustDir(trustDir))
	if rep != nil {
		rep.Summary(out)
		if werr := writeJSONFile(reportPath, rep.WriteJSON); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}

	target := w.TargetHost() + "/mirror"
	receiptPath := filepath.Join(dir, "receipt.json")
	step("airlock import %s --to %s --policy %s --receipt %s", bundlePath, target, policyPath, receiptPath)
	imp, err := airlock.Import(ctx, bundlePath, target, airlock.WithPolicyFile(policyPath), airlock.WithTrustDir(trustDir))
	if err != nil {
		return err
	}
	if err := writeJSONFile(receiptPath, imp.WriteReceipt); err != nil {
		return err
	}
	for _, img := range imp.Images {
		fmt.Fprintf(out, "%s -> %s: %d blobs, %d manifests, %d referrers, %d tags\n", img.Source, img.Reference, img.Blobs, len(img.Manifests), len(img.Referrers), len(img.Tags))
	}

	again := filepath.Join(dir, "reimported.tar")
	mirrored := imp.Images[0].Reference
	step("the imported copy still verifies: export %s again and verify it offline", mirrored)
	if _, err := airlock.Export(ctx, again, []string{mirrored}, airlock.WithTUF(trust.Source{Name: TUFName, URL: w.TUF.URL, Root: w.TUFRoot})); err != nil {
		return err
	}
	rep2, err := airlock.Verify(ctx, again, airlock.WithPolicyFile(policyPath), airlock.WithTrustDir(trustDir))
	if rep2 != nil {
		rep2.Summary(out)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\ndone at %s: report %s, receipt %s, bundle %s\n", time.Now().UTC().Format(time.RFC3339), reportPath, receiptPath, bundlePath)
	return nil
}

func writeJSONFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
