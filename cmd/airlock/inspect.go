package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/human"
	"github.com/airlock-oci/airlock/verify"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "list what a bundle carries: images, platforms, sizes, what vouches for each, trust material",
		ArgsUsage: "BUNDLE",
		Flags: []cli.Flag{
			formatFlag(), oldOutputFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("%w: inspect takes one BUNDLE", airlock.ErrUsage)
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			ins, err := airlock.Inspect(c.Args().First(), airlock.WithLogger(logger(c.Context)))
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(c.App.Writer, ins)
			}
			printInspection(c.App.Writer, ins)
			return nil
		},
	}
}

// groupMin is the number of alike images from which a summary (inspect,
// export, import) describes them once: the report's threshold.
const groupMin = verify.GroupMin

func printInspection(w io.Writer, ins *airlock.Inspection) {
	fmt.Fprintf(w, "bundle %s: %d blobs, %s (exported by %s %s at %s; informational)\n", ins.Bundle, ins.Blobs, human.Bytes(ins.Bytes),
		ins.Exporter.Name, ins.Exporter.Version, ins.Exporter.Time.UTC().Format(time.RFC3339))
	printInspectedTransfer(w, ins)
	// Images alike (same platforms, same kinds of evidence found the same
	// way on the same parts) are described once; the others one by one.
	for _, b := range human.Blocks(len(ins.Images), groupMin, func(i int) (string, bool) { return inspectShape(&ins.Images[i]) }) {
		if b.Group {
			printInspectGroup(w, ins.Images, b.Members)
			continue
		}
		img := ins.Images[b.Members[0]]
		fmt.Fprintf(w, "\n%s\n", img.Reference)
		fmt.Fprintf(w, "  digest     %s (%s)\n", img.Digest, human.Bytes(img.TotalSize))
		if img.SourceDigest != "" {
			fmt.Fprintf(w, "  source     %s\n", img.SourceDigest)
		}
		for _, p := range img.Platforms {
			fmt.Fprintf(w, "  platform   %-16s %s\n", p.Platform, p.Digest)
		}
		if img.Filter != nil {
			fmt.Fprintf(w, "  NOTE       %s\n", img.Filter.Note)
		}
		v := img.Vouching
		fmt.Fprintf(w, "  signatures %d\n", v.Signatures)
		for _, p := range airlock.SortedKeys(v.Attestations) {
			fmt.Fprintf(w, "  attestation %dx %s\n", v.Attestations[p], p)
		}
		fmt.Fprintf(w, "  sboms      %d\n", v.SBOMs)
		for _, t := range airlock.SortedKeys(v.Other) {
			fmt.Fprintf(w, "  other      %dx %s\n", v.Other[t], t)
		}
		for _, a := range img.Artifacts {
			extra := ""
			if len(a.PredicateTypes) > 0 {
				extra = " " + strings.Join(a.PredicateTypes, ",")
			}
			if a.Tag != "" {
				extra += " (tag " + a.Tag + ")"
			}
			fmt.Fprintf(w, "    - %-20s %s on %s via %s%s\n", a.Kind, short(a.Digest), short(a.Subject), a.FoundBy, extra)
		}
	}
	if len(ins.Trust) == 0 {
		fmt.Fprintf(w, "\ntrust material: none carried\n")
	}
	for _, t := range ins.Trust {
		fmt.Fprintf(w, "\ntrust %s (%s)", t.Name, t.Kind)
		if t.URL != "" {
			fmt.Fprintf(w, " from %s", t.URL)
		}
		fmt.Fprintf(w, ": %d files\n", len(t.Files))
		for _, r := range t.Roles {
			fmt.Fprintf(w, "  %-10s v%-5d expires %s\n", r.Role, r.Version, r.Expires.UTC().Format(time.RFC3339))
		}
	}
}

// inspectShape is what alike images share: platforms, vouching counts and
// each artifact's kind, predicate types, how it was found and what part of
// the image it is attached to. Filtered images are never grouped (their
// notes are their own).
func inspectShape(img *airlock.InspectedImage) (string, bool) {
	if img.Filter != nil || img.SourceDigest != "" {
		return "", false
	}
	var b strings.Builder
	for _, p := range img.Platforms {
		fmt.Fprintf(&b, "platform %s\n", p.Platform)
	}
	v := img.Vouching
	fmt.Fprintf(&b, "signatures %d sboms %d\n", v.Signatures, v.SBOMs)
	for _, p := range airlock.SortedKeys(v.Attestations) {
		fmt.Fprintf(&b, "attestation %d %s\n", v.Attestations[p], p)
	}
	for _, t := range airlock.SortedKeys(v.Other) {
		fmt.Fprintf(&b, "other %d %s\n", v.Other[t], t)
	}
	arts := make([]string, len(img.Artifacts))
	for i, a := range img.Artifacts {
		arts[i] = artifactShape(img, a)
	}
	sort.Strings(arts)
	b.WriteString(strings.Join(arts, "\n"))
	return b.String(), true
}

// artifactShape describes an artifact without its digests.
func artifactShape(img *airlock.InspectedImage, a bundle.Artifact) string {
	on := "an artifact"
	if a.Subject == img.Digest {
		on = "the image"
	}
	for _, p := range img.Platforms {
		if a.Subject == p.Digest && a.Subject != img.Digest {
			on = "platform " + p.Platform
		}
	}
	s := fmt.Sprintf("%-20s on %s via %s", a.Kind, on, a.FoundBy)
	if len(a.PredicateTypes) > 0 {
		s += " " + strings.Join(a.PredicateTypes, ",")
	}
	return s
}

func printInspectGroup(w io.Writer, images []airlock.InspectedImage, members []int) {
	first := &images[members[0]]
	var plats []string
	for _, p := range first.Platforms {
		plats = append(plats, p.Platform)
	}
	fmt.Fprintf(w, "\n%d images alike\n", len(members))
	fmt.Fprintf(w, "  platforms  %s\n", strings.Join(plats, ", "))
	v := first.Vouching
	fmt.Fprintf(w, "  signatures %d each\n", v.Signatures)
	for _, p := range airlock.SortedKeys(v.Attestations) {
		fmt.Fprintf(w, "  attestation %dx %s each\n", v.Attestations[p], p)
	}
	fmt.Fprintf(w, "  sboms      %d each\n", v.SBOMs)
	for _, t := range airlock.SortedKeys(v.Other) {
		fmt.Fprintf(w, "  other      %dx %s each\n", v.Other[t], t)
	}
	arts := make([]string, len(first.Artifacts))
	for i, a := range first.Artifacts {
		arts[i] = artifactShape(first, a)
	}
	sort.Strings(arts)
	for _, a := range arts {
		fmt.Fprintf(w, "    - %s\n", a)
	}
	for _, i := range members {
		img := &images[i]
		fmt.Fprintf(w, "  %s  %s (%s)\n", img.Reference, img.Digest, human.Bytes(img.TotalSize))
	}
}

// short abbreviates a digest for tables.
func short(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
