package verify

import (
	"fmt"
	"slices"
	"strings"
)

// GroupMin is the number of images of the same shape from which Summary
// describes them once instead of one block each: at catalogue sizes a
// thousand identical blocks hide the few images that differ.
const GroupMin = 5

// imageShape is what must be equal for images to be summarised together:
// the verdict, the platforms, every rule's outcome and every finding but
// for the digests and times that are each image's own. Images that did not
// pass or carry warnings have no shape: they are always listed in full.
func imageShape(img *ImageResult) (string, bool) {
	if (img.Verdict != VerdictPass && img.Verdict != VerdictAllowedByDefault) || len(img.Warnings) > 0 {
		return "", false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "verdict %s\n", img.Verdict)
	for _, p := range img.Platforms {
		fmt.Fprintf(&b, "platform %s\n", p.Platform)
	}
	for _, r := range img.Rules {
		fmt.Fprintf(&b, "rule %q %q %q %t\n", r.Name, r.Requirement, r.Match, r.Satisfied)
	}
	lines := make([]string, len(img.Findings))
	for i := range img.Findings {
		lines[i] = "finding " + findingShape(&img.Findings[i])
	}
	slices.Sort(lines)
	b.WriteString(strings.Join(lines, "\n"))
	return b.String(), true
}

// findingShape describes a finding without what is the image's own
// (manifest, subject, covered digests, log indexes and times, reasons,
// which name them).
func findingShape(f *Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s", f.Status, f.Kind)
	if f.PredicateType != "" {
		fmt.Fprintf(&b, " %s", f.PredicateType)
	}
	if f.Signer != nil {
		fmt.Fprintf(&b, "; signer %s", describeSigner(f.Signer))
	}
	for _, t := range f.TLog {
		fmt.Fprintf(&b, "; tlog %s proof %s", abbrevHex(t.LogID), t.Proof)
		if t.EntryKind != "" {
			fmt.Fprintf(&b, " (%s)", t.EntryKind)
		}
	}
	for _, t := range f.Timestamps {
		fmt.Fprintf(&b, "; timestamp %s", t.Kind)
		if t.Authority != "" {
			fmt.Fprintf(&b, " by %s", t.Authority)
		}
	}
	if len(f.TrustMaterial) > 0 {
		fmt.Fprintf(&b, "; trusted via %s", strings.Join(f.TrustMaterial, ", "))
	}
	return b.String()
}

// groupSummary describes images of one shape once, then names each.
func groupSummary(sw *summaryWriter, images []ImageResult, members []int) {
	first := &images[members[0]]
	var signers []string
	for i := range first.Findings {
		f := &first.Findings[i]
		if f.Status == StatusVerified && f.Signer != nil {
			if d := describeSigner(f.Signer); !slices.Contains(signers, d) {
				signers = append(signers, d)
			}
		}
	}
	head := fmt.Sprintf("%d images: %s", len(members), strings.ToUpper(first.Verdict))
	if len(signers) > 0 {
		head += ", signed by " + strings.Join(signers, " and ")
	}
	sw.line("")
	sw.line("%s", head)
	var plats []string
	for _, p := range first.Platforms {
		plats = append(plats, p.Platform)
	}
	if len(plats) > 0 {
		sw.line("  platforms: %s", strings.Join(plats, ", "))
	}
	if len(first.Rules) > 0 {
		sw.line("  policy (each image):")
	}
	for _, rr := range first.Rules {
		mark := "[FAIL]"
		if rr.Satisfied {
			mark = "[ ok ]"
		}
		sw.line("    %s %s / %s", mark, rr.Name, rr.Requirement)
	}
	if len(first.Findings) > 0 {
		sw.line("  evidence (each image):")
	} else {
		sw.line("  evidence: none found")
	}
	lines := make([]string, len(first.Findings))
	for i := range first.Findings {
		lines[i] = findingShape(&first.Findings[i])
	}
	slices.Sort(lines)
	for _, l := range lines {
		sw.line("    %s", l)
	}
	sw.line("  images (reason texts per image are in the JSON report):")
	for _, i := range members {
		img := &images[i]
		ref := img.Reference
		if ref == "" {
			ref = img.Name
		}
		line := fmt.Sprintf("    %s %s", ref, img.Digest)
		if len(img.Targets) > 0 {
			line += " -> " + strings.Join(img.Targets, ", ")
		}
		sw.line("%s", line)
	}
}
