package verify

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-oci/airlock/internal/human"
)

// PredicateBundle is the predicate type of the in-toto statement a bundle
// signature signs (docs/bundle-format.md, "Bundle signature").
const PredicateBundle = "https://airlock.dev/bundle-signature/v1"

// BundlePredicate is the predicate of a bundle signature's statement. Its
// subjects are "index.json" (the bundle's index without the signature's
// own entry) and "inventory.json" (the inventory document).
type BundlePredicate struct {
	Exporter BundleExporter `json:"exporter"`
	// Time is the exporter's clock when it signed.
	Time time.Time `json:"time"`
	// Sources are the image references the export was asked for.
	Sources []string `json:"sources"`
}

// BundleExporter names the tool that signed.
type BundleExporter struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Bundle signature outcomes (BundleSignature.Status).
const (
	BundleSigVerified = "verified"     // verified, covers this bundle, signer accepted (or none required)
	BundleSigMissing  = "missing"      // the bundle carries no signature
	BundleSigFailed   = "failed"       // present but invalid, or not about this bundle
	BundleSigRejected = "not-accepted" // valid, but by a signer the policy does not list
)

// BundleSignature is the report's record of the bundle's own signature.
type BundleSignature struct {
	// Required is set when the policy's bundle section lists signers.
	Required bool   `json:"required"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
	// Signer who signed, when the signature verified.
	Signer *Signer `json:"signer,omitempty"`
	// SignedAt is the exporter's clock as signed; Timestamps are the
	// observer times (log, TSA) the verification relied on, if any.
	SignedAt   time.Time       `json:"signedAt,omitzero"`
	Exporter   *BundleExporter `json:"exporter,omitempty"`
	Sources    []string        `json:"sources,omitempty"`
	Timestamps []Timestamp     `json:"timestamps,omitempty"`
	TLog       []TLogProof     `json:"tlog,omitempty"`
	// Manifest is the digest of the signature's artifact manifest.
	Manifest string `json:"manifest,omitempty"`
	// Parts is the outcome for the parts manifest's signature of a split
	// bundle: verified, missing or failed (with the reason).
	Parts string `json:"parts,omitempty"`
}

// OK reports whether the bundle signature does not stop the bundle.
func (b *BundleSignature) OK() bool {
	return b == nil || !b.Required || (b.Status == BundleSigVerified && (b.Parts == "" || b.Parts == BundleSigVerified))
}

// bundleDoc is the policy file's top-level bundle: section.
type bundleDoc struct {
	Signers []Identity `json:"signers"`
}

func (d *bundleDoc) build(p *Policy) error {
	if d == nil {
		return nil
	}
	if len(d.Signers) == 0 {
		return fmt.Errorf("bundle.signers: %w: the bundle section needs at least one signer", ErrMissingField)
	}
	ids := slices.Clone(d.Signers)
	if err := compileIdentities(ids, "bundle.signers"); err != nil {
		return err
	}
	p.BundleSigners = ids
	return nil
}

// WithBundleSigners returns a copy of p that also requires the bundle to
// be signed by one of ids (the quick flag --bundle-key).
func (p *Policy) WithBundleSigners(ids ...Identity) (*Policy, error) {
	ids = slices.Clone(ids)
	if err := compileIdentities(ids, "bundle.signers"); err != nil {
		return nil, err
	}
	c := *p
	c.BundleSigners = append(slices.Clone(p.BundleSigners), ids...)
	return &c, nil
}

// CheckBundleSignature judges a bundle's signature: f is what CheckBundle
// found for the Sigstore bundle against the bundle's signed index digest;
// inventoryDigest is the inventory document's digest, which the statement
// must also name. present is false when the bundle carries no signature.
// The result is Required when the policy lists bundle signers; it is then
// verified only if a listed signer signed.
//
// CheckBundleSignature is pure and safe for concurrent use.
func (p *Policy) CheckBundleSignature(present bool, f Finding, inventoryDigest string) *BundleSignature {
	res := &BundleSignature{Required: len(p.BundleSigners) > 0, Manifest: f.Manifest}
	if !present {
		res.Status = BundleSigMissing
		res.Reason = "the bundle carries no bundle signature"
		return res
	}
	if f.Status != StatusVerified || f.Signer == nil {
		res.Status = BundleSigFailed
		res.Reason = f.Reason
		if res.Reason == "" {
			res.Reason = "signature status " + string(f.Status)
		}
		return res
	}
	var st struct {
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(f.Statement, &st); err != nil || st.PredicateType != PredicateBundle {
		res.Status = BundleSigFailed
		res.Reason = fmt.Sprintf("the signed statement has predicate type %q, want %q", st.PredicateType, PredicateBundle)
		return res
	}
	if !slices.Contains(f.Covers, inventoryDigest) {
		res.Status = BundleSigFailed
		res.Reason = fmt.Sprintf("the signed statement names %v, not this bundle's inventory %s", f.Covers, inventoryDigest)
		return res
	}
	var pred BundlePredicate
	if err := json.Unmarshal(st.Predicate, &pred); err != nil {
		res.Status = BundleSigFailed
		res.Reason = fmt.Sprintf("the signed predicate does not parse: %v", err)
		return res
	}
	res.Signer, res.SignedAt, res.Exporter, res.Sources = f.Signer, pred.Time, &pred.Exporter, pred.Sources
	res.Timestamps, res.TLog = f.Timestamps, f.TLog
	// A keyless signature's notes say what vouched for its time and why
	// it counted (no CT log in the trusted root, a TSA or the log's time).
	res.Reason = f.Reason
	if !res.Required {
		res.Status = BundleSigVerified
		return res
	}
	for _, id := range p.BundleSigners {
		if id.Matches(*f.Signer) {
			res.Status = BundleSigVerified
			return res
		}
	}
	res.Status = BundleSigRejected
	names := make([]string, len(p.BundleSigners))
	for i, id := range p.BundleSigners {
		names[i] = id.String()
	}
	res.Reason = fmt.Sprintf("signed by %s, which is not among the accepted bundle signers: %s", describeSigner(f.Signer), strings.Join(names, "; "))
	return res
}

// CheckPartsSignature records the outcome of the parts manifest's
// signature: f is what CheckBundle found against Parts.SignedDigest (nil
// when the manifest has no signature). A required bundle signature makes a
// missing or invalid parts signature fail too; a valid one must come from
// the same signer as the bundle's.
func (b *BundleSignature) CheckPartsSignature(f *Finding) {
	switch {
	case f == nil:
		b.Parts = BundleSigMissing
	case f.Status != StatusVerified || f.Signer == nil:
		b.Parts = BundleSigFailed
		b.Reason = addNote(b.Reason, "parts manifest signature: "+f.Reason)
	case b.Signer == nil || signerID(f.Signer) != signerID(b.Signer):
		b.Parts = BundleSigFailed
		b.Reason = addNote(b.Reason, "parts manifest signed by "+describeSigner(f.Signer)+", not by the bundle's signer")
	default:
		b.Parts = BundleSigVerified
	}
}

// Parts is the report's record of a split bundle's parts (docs/bundle-format.md).
type Parts struct {
	// Manifest is the parts manifest's file.
	Manifest    string `json:"manifest"`
	DataParts   int    `json:"dataParts"`
	ParityParts int    `json:"parityParts"`
	// Damaged lists the parts that were missing or corrupt, with why.
	Damaged []DamagedPart `json:"damaged,omitempty"`
	// Repaired lists the data parts rebuilt from parity.
	Repaired []string `json:"repaired,omitempty"`
}

// DamagedPart is one missing or corrupt part.
type DamagedPart struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

func (r *Report) partsSummary(sw *summaryWriter) {
	p := r.Parts
	if p == nil {
		return
	}
	sw.line("  parts:      %s: %d data parts, %d parity parts", p.Manifest, p.DataParts, p.ParityParts)
	for _, d := range p.Damaged {
		sw.line("                damaged: %s (%s)", d.Name, d.Reason)
	}
	if len(p.Repaired) > 0 {
		sw.line("                REPAIRED from parity: %s", strings.Join(p.Repaired, ", "))
	}
}

func (b *BundleSignature) summary(sw *summaryWriter) {
	if b == nil {
		return
	}
	req := "not required by the policy"
	if b.Required {
		req = "required by the policy"
	}
	state := strings.ToUpper(b.Status)
	if b.Status == BundleSigVerified {
		state = "verified"
	}
	sw.line("  signed by:  %s (%s)", state, req)
	if b.Signer != nil {
		sw.line("                signer %s", describeSigner(b.Signer))
	}
	if !b.SignedAt.IsZero() {
		exp := ""
		if b.Exporter != nil {
			exp = " by " + b.Exporter.Name + " " + b.Exporter.Version
		}
		sw.line("                signed %s%s (the exporter's clock), %s sources", b.SignedAt.UTC().Format(time.RFC3339), exp, strconv.Itoa(len(b.Sources)))
	}
	for _, t := range b.Timestamps {
		sw.line("                %s timestamp %s", t.Kind, t.Time.UTC().Format(time.RFC3339))
	}
	if b.Parts != "" {
		sw.line("                parts manifest signature: %s", b.Parts)
	}
	if b.Reason != "" {
		sw.line("                %s", b.Reason)
	}
}

// ExpectedAtTarget lists the blobs a delta bundle leaves out: verify
// cannot check them; import checks the target holds each one.
type ExpectedAtTarget struct {
	Count int            `json:"count"`
	Bytes int64          `json:"bytes"`
	Note  string         `json:"note,omitempty"`
	Blobs []ExpectedBlob `json:"blobs"`
}

// ExpectedBlob is one omitted blob and the receipt or bundle that said the
// target holds it.
type ExpectedBlob struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	Source string `json:"source"`
}

func (r *Report) deltaSummary(sw *summaryWriter) {
	if e := r.ExpectedAtTarget; e != nil {
		sw.line("  delta:      %d blobs (%s) expected at the target, not carried", e.Count, human.Bytes(e.Bytes))
	}
}
