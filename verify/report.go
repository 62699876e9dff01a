package verify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/airlock-oci/airlock/internal/human"
)

// ReportSchema identifies version 1 of the report format (docs/report.md).
// Fields may be added within a version; none is removed or changes meaning.
const ReportSchema = "airlock.dev/report/v1"

// Verdicts, of the report and of each image.
const (
	// VerdictPass: every check passed (report), or every rule that applies
	// to the image is satisfied (image).
	VerdictPass = "pass"
	// VerdictPolicyFailed: the bundle is intact but at least one image does
	// not satisfy the policy (report), or this one does not (image).
	VerdictPolicyFailed = "policy-failed"
	// VerdictIntegrityFailed: the bundle is corrupt or was tampered with;
	// nothing in it can be relied on (report only).
	VerdictIntegrityFailed = "integrity-failed"
	// VerdictAllowedByDefault: no rule matches the image and the policy's
	// defaultAction is allow; it was not verified against anything (image only).
	VerdictAllowedByDefault = "allowed-by-default"
	// VerdictIncomplete: the checks did not finish (an import stopped on a
	// registry error before every blob was hashed); never a pass (report
	// only, exit code ExitError).
	VerdictIncomplete = "incomplete"
)

// Exit codes of `airlock verify` and `airlock import`, derived from the report.
const (
	ExitOK        = 0 // every image passed (or was allowed by defaultAction: allow)
	ExitPolicy    = 1 // the bundle is intact but the policy is not satisfied
	ExitIntegrity = 2 // the bundle is corrupt, tampered with or malformed
	ExitError     = 3 // usage or environment error: no report could be made
)

// Report is everything an auditor needs to know about one verification of a
// bundle. Its JSON form is the schema documented in docs/report.md. A
// Report is a plain value: not safe for concurrent mutation.
type Report struct {
	// Schema is ReportSchema.
	Schema string     `json:"schema"`
	Tool   Tool       `json:"tool"`
	Bundle BundleInfo `json:"bundle"`
	// VerifiedAt is when the verification ran (wall clock).
	VerifiedAt time.Time `json:"verifiedAt"`
	// Audit is set when the verification was asked to judge as of another
	// time (--at).
	Audit *AuditTime `json:"audit,omitempty"`
	// Policy identifies the policy applied.
	Policy    *PolicyInfo `json:"policy,omitempty"`
	Integrity Integrity   `json:"integrity"`
	// Parts describes the parts of a split bundle, and any repair.
	Parts *Parts `json:"parts,omitempty"`
	// BundleSignature is the bundle's own signature (chain of custody),
	// when the bundle carries one or the policy requires one. A required
	// signature that did not verify fails the bundle before any image is
	// judged (Images is then empty).
	BundleSignature *BundleSignature `json:"bundleSignature,omitempty"`
	// ExpectedAtTarget lists the blobs a delta bundle leaves out.
	ExpectedAtTarget *ExpectedAtTarget `json:"expectedAtTarget,omitempty"`
	Trust            []TrustSummary    `json:"trust"`
	Images           []ImageResult     `json:"images"`
	// Warnings that concern the whole run (an unsafe option was used...).
	Warnings []string `json:"warnings,omitempty"`
	// Verdict is pass, policy-failed or integrity-failed; Finish sets it.
	Verdict string `json:"verdict"`
}

// Tool names the program that made the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// BundleInfo identifies the bundle verified.
type BundleInfo struct {
	Path string `json:"path"`
	// Sha256 of the bundle file, hex, when it was computed.
	Sha256 string `json:"sha256,omitempty"`
}

// AuditTime records a verification judged as of a time other than now.
type AuditTime struct {
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"`
}

// PolicyInfo identifies the policy applied.
type PolicyInfo struct {
	// Source is the policy file, or "flags" for PolicyFromFlags.
	Source string `json:"source"`
	// Sha256 of the policy file, hex.
	Sha256        string `json:"sha256,omitempty"`
	DefaultAction Action `json:"defaultAction"`
}

// Integrity is the outcome of checking the bundle's own structure: every
// blob against its digest and size.
type Integrity struct {
	OK    bool   `json:"ok"`
	Blobs int    `json:"blobs"`
	Bytes int64  `json:"bytes"`
	Error string `json:"error,omitempty"`
}

// ImageResult is the verdict on one image.
type ImageResult struct {
	Reference string          `json:"reference"`
	Name      string          `json:"name"`
	Digest    string          `json:"digest"`
	Platforms []PlatformInput `json:"platforms,omitempty"`
	// Findings on every piece of evidence for the image, verified or not.
	Findings []Finding `json:"findings"`
	// Rules: one result per requirement of every rule that applies.
	Rules    []RuleResult `json:"rules"`
	Warnings []string     `json:"warnings,omitempty"`
	// Verdict is pass, policy-failed or allowed-by-default.
	Verdict string `json:"verdict"`
	// Targets are the references the image was pushed to (set by import).
	Targets []string `json:"targets,omitempty"`
}

// RuleResult is the outcome of one requirement of one policy rule.
type RuleResult struct {
	// Name of the policy rule ("defaultAction" when no rule matched).
	Name string `json:"name"`
	// Requirement: "signatures", "attestation <name>" or "default-action".
	Requirement string `json:"requirement"`
	// Match is the image glob of the rule that matched.
	Match     string `json:"match,omitempty"`
	Satisfied bool   `json:"satisfied"`
	// Reason explains the outcome for an auditor.
	Reason string `json:"reason"`
}

// ComputeVerdict derives the report's verdict from its contents (it does
// not read Verdict): integrity-failed when the bundle is not intact,
// policy-failed when any image has not passed (an image with no verdict
// has not passed), pass otherwise.
func (r *Report) ComputeVerdict() string {
	if !r.Integrity.OK {
		if r.Integrity.Error == "" {
			return VerdictIncomplete // not checked, not failed
		}
		return VerdictIntegrityFailed
	}
	if !r.BundleSignature.OK() {
		return VerdictPolicyFailed
	}
	for _, img := range r.Images {
		if img.Verdict != VerdictPass && img.Verdict != VerdictAllowedByDefault {
			return VerdictPolicyFailed
		}
	}
	return VerdictPass
}

// Finish sets Schema and Verdict. Call it once the report is complete.
func (r *Report) Finish() {
	r.Schema = ReportSchema
	r.Verdict = r.ComputeVerdict()
}

// ExitCode maps the report to the documented exit code: 0 pass, 1 policy
// not satisfied, 2 bundle corrupt or tampered with. (3, usage or
// environment error, is for failures that leave no report.) It is derived
// from the contents, like ComputeVerdict, so a hand-edited Verdict cannot
// turn a failure into success.
func (r *Report) ExitCode() int {
	switch r.ComputeVerdict() {
	case VerdictPass:
		return ExitOK
	case VerdictIntegrityFailed:
		return ExitIntegrity
	case VerdictIncomplete:
		return ExitError
	default:
		return ExitPolicy
	}
}

// WriteJSON writes the report as indented JSON. Empty lists are written as
// [] rather than null. The images are encoded and written one at a time,
// so a catalogue's report is never held in memory whole: the bytes are
// those json.Encoder with two-space indentation writes for the whole value.
func (r *Report) WriteJSON(w io.Writer) error {
	out := *r
	if out.Trust == nil {
		out.Trust = []TrustSummary{}
	}
	out.Images = []ImageResult{} // a placeholder, replaced by the images below
	head, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	// Top-level keys are the only ones indented by two spaces, and a
	// string holds no raw newline: the placeholder is found exactly.
	const placeholder = "\n  \"images\": []"
	at := bytes.Index(head, []byte(placeholder))
	if at < 0 {
		return fmt.Errorf("writing report: no images list in %.40q", head)
	}
	at += len(placeholder) - 1 // at the closing bracket
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(head[:at])
	for i := range r.Images {
		img := r.Images[i]
		if img.Findings == nil {
			img.Findings = []Finding{}
		}
		if img.Rules == nil {
			img.Rules = []RuleResult{}
		}
		b, err := json.MarshalIndent(&img, "    ", "  ")
		if err != nil {
			return fmt.Errorf("writing report: image %s: %w", img.Reference, err)
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(b)
	}
	if len(r.Images) > 0 {
		bw.WriteString("\n  ")
	}
	bw.Write(head[at:])
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// MaxReportSize caps a report read back by ParseReport.
const MaxReportSize = 256 << 20

// ParseReport reads a JSON report back, checking its schema. Unknown fields
// are accepted (later v1 versions may add some).
func ParseReport(data []byte) (*Report, error) {
	if len(data) > MaxReportSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidReport, len(data), MaxReportSize)
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidReport, err)
	}
	if r.Schema != ReportSchema {
		return nil, fmt.Errorf("%w: schema %q, want %q", ErrReportSchema, r.Schema, ReportSchema)
	}
	return &r, nil
}

// Summary writes the human summary for a terminal: the bundle, integrity
// and trust first, then one block per image with every rule and every
// finding explained on a line of its own, then the verdict and exit code.
// Images that passed alike (GroupMin or more with the same verdict,
// platforms, rule outcomes, signers and kinds of evidence, and no warnings)
// share one block that names each of them on a line; every other image has
// its own block.
// Text that came from the bundle (identities, reasons) is escaped so that
// it cannot drive the terminal.
func (r *Report) Summary(w io.Writer) {
	r.SummaryOutcome(w, "", r.ExitCode())
}

// SummaryOutcome writes the summary with a final line that states the
// command's real outcome: an import whose checks passed but whose push
// failed says so next to the verdict, with the exit code it ends with.
// outcome "" and code r.ExitCode() give Summary.
func (r *Report) SummaryOutcome(w io.Writer, outcome string, code int) {
	sw := &summaryWriter{w: w}
	verdict := r.ComputeVerdict()
	tool := strings.TrimSpace(r.Tool.Name + " " + r.Tool.Version)
	if tool == "" {
		tool = "airlock"
	}
	sw.line("%s verification report (%s)", tool, ReportSchema)
	bundle := r.Bundle.Path
	if r.Bundle.Sha256 != "" {
		bundle += " (sha256 " + r.Bundle.Sha256 + ")"
	}
	sw.line("  bundle:     %s", bundle)
	if !r.VerifiedAt.IsZero() {
		sw.line("  verified:   %s", r.VerifiedAt.UTC().Format(time.RFC3339))
	}
	if r.Audit != nil {
		note := ""
		if r.Audit.Note != "" {
			note = ": " + r.Audit.Note
		}
		sw.line("  audit time: %s (judged as of this time, not now)%s", r.Audit.At.UTC().Format(time.RFC3339), note)
	}
	if r.Policy != nil {
		p := r.Policy.Source
		if r.Policy.Sha256 != "" {
			p += " (sha256 " + r.Policy.Sha256 + ")"
		}
		sw.line("  policy:     %s, defaultAction %s", p, r.Policy.DefaultAction)
		if r.Policy.DefaultAction == ActionAllow {
			sw.line("  WARNING:    images no rule matches are allowed WITHOUT verification (defaultAction: allow)")
		}
	}
	if r.Integrity.OK {
		sw.line("  integrity:  ok: %d blobs, %s checked against their digests", r.Integrity.Blobs, human.Bytes(r.Integrity.Bytes))
	} else {
		if r.Integrity.Error == "" {
			sw.line("  integrity:  NOT CHECKED: the command stopped before every blob was hashed")
		} else {
			sw.line("  integrity:  FAILED after %d blobs, %s: %s", r.Integrity.Blobs, human.Bytes(r.Integrity.Bytes), r.Integrity.Error)
		}
	}
	r.partsSummary(sw)
	r.BundleSignature.summary(sw)
	r.deltaSummary(sw)
	for i, t := range r.Trust {
		label := "  trust:      "
		if i > 0 {
			label = "              "
		}
		state := "not used"
		if t.Used {
			state = "used"
		}
		if t.Error != "" {
			state = "REFUSED: " + t.Error
		}
		sw.line("%s%s [%s, %s] %s", label, t.Name, t.Kind, t.Origin, state)
		for _, role := range t.Roles {
			sw.line("                %s v%d expires %s", role.Role, role.Version, role.Expires.UTC().Format(time.RFC3339))
		}
		for _, n := range t.Notes {
			sw.line("                note: %s", n)
		}
	}
	if len(r.Trust) == 0 {
		sw.line("  trust:      none loaded")
	}
	for _, wmsg := range r.Warnings {
		sw.line("  WARNING:    %s", wmsg)
	}
	// Images of one shape (GroupMin or more) are described once; the others,
	// and every image that did not pass, each in full.
	for _, b := range human.Blocks(len(r.Images), GroupMin, func(i int) (string, bool) { return imageShape(&r.Images[i]) }) {
		if b.Group {
			groupSummary(sw, r.Images, b.Members)
		} else {
			r.Images[b.Members[0]].summary(sw)
		}
	}
	if len(r.Images) == 0 {
		sw.line("")
		sw.line("no images")
	}
	sw.line("")
	if outcome != "" {
		sw.line("verdict: %s; %s (exit code %d)", strings.ToUpper(verdict), outcome, code)
		return
	}
	sw.line("verdict: %s (exit code %d)", strings.ToUpper(verdict), code)
}

func (img *ImageResult) summary(sw *summaryWriter) {
	sw.line("")
	ref := img.Reference
	if ref == "" {
		ref = img.Name
	}
	sw.line("image %s", ref)
	sw.line("  digest:   %s", img.Digest)
	for _, p := range img.Platforms {
		sw.line("  platform: %s %s", p.Platform, p.Digest)
	}
	verdict := img.Verdict
	if verdict == "" {
		verdict = "not evaluated"
	}
	sw.line("  verdict:  %s", strings.ToUpper(verdict))
	for _, w := range img.Warnings {
		sw.line("  WARNING:  %s", w)
	}
	if len(img.Rules) > 0 {
		sw.line("  policy:")
	}
	for _, rr := range img.Rules {
		mark := "[FAIL]"
		if rr.Satisfied {
			mark = "[ ok ]"
		}
		sw.line("    %s %s / %s: %s", mark, rr.Name, rr.Requirement, rr.Reason)
	}
	if len(img.Findings) > 0 {
		sw.line("  evidence:")
	} else {
		sw.line("  evidence: none found")
	}
	for i := range img.Findings {
		sw.line("    %s", findingLine(&img.Findings[i]))
	}
	for _, t := range img.Targets {
		sw.line("  pushed to: %s", t)
	}
}

// findingLine explains one finding on one line.
func findingLine(f *Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s", f.Status, f.Kind)
	if f.PredicateType != "" {
		fmt.Fprintf(&b, " %s", f.PredicateType)
	}
	fmt.Fprintf(&b, " (manifest %s layer %d) on %s", abbrevDigest(f.Manifest), f.Layer, abbrevDigest(f.Subject))
	if f.Signer != nil {
		fmt.Fprintf(&b, "; signer %s", describeSigner(f.Signer))
	}
	if len(f.Covers) > 0 {
		short := make([]string, len(f.Covers))
		for i, c := range f.Covers {
			short[i] = abbrevDigest(c)
		}
		fmt.Fprintf(&b, "; covers %s", strings.Join(short, ", "))
	}
	for _, t := range f.TLog {
		fmt.Fprintf(&b, "; tlog %s index %d proof %s", abbrevHex(t.LogID), t.LogIndex, t.Proof)
		if t.EntryKind != "" {
			fmt.Fprintf(&b, " (%s)", t.EntryKind)
		}
		if !t.IntegratedTime.IsZero() {
			fmt.Fprintf(&b, " integrated %s", t.IntegratedTime.UTC().Format(time.RFC3339))
		}
	}
	for _, t := range f.Timestamps {
		fmt.Fprintf(&b, "; timestamp %s %s", t.Kind, t.Time.UTC().Format(time.RFC3339))
		if t.Authority != "" {
			fmt.Fprintf(&b, " by %s", t.Authority)
		}
	}
	if len(f.TrustMaterial) > 0 {
		fmt.Fprintf(&b, "; trusted via %s", strings.Join(f.TrustMaterial, ", "))
	}
	if f.Reason != "" {
		fmt.Fprintf(&b, "; %s", f.Reason)
	}
	return b.String()
}

func abbrevHex(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

// summaryWriter writes lines, escaping control and bidirectional
// formatting characters, and remembers the first write error (Summary has
// no error to return: a terminal that fails is not recoverable).
type summaryWriter struct {
	w   io.Writer
	err error
}

func (s *summaryWriter) line(format string, args ...any) {
	if s.err != nil {
		return
	}
	_, s.err = io.WriteString(s.w, sanitizeTerminal(fmt.Sprintf(format, args...))+"\n")
}

// sanitizeTerminal escapes characters that could move the cursor, clear
// the screen or reorder text (ANSI escapes, C1 controls, bidi overrides).
func sanitizeTerminal(s string) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	switch {
	case r == unicode.ReplacementChar:
		return false
	case unicode.IsControl(r):
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	}
	return false
}
