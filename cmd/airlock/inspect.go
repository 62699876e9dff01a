package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-oci/airlock"
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

func printInspection(w io.Writer, ins *airlock.Inspection) {
	fmt.Fprintf(w, "bundle %s: %d blobs, %s (exported by %s %s at %s; informational)\n", ins.Bundle, ins.Blobs, humanBytes(ins.Bytes),
		ins.Exporter.Name, ins.Exporter.Version, ins.Exporter.Time.UTC().Format(time.RFC3339))
	printInspectedTransfer(w, ins)
	for _, img := range ins.Images {
		fmt.Fprintf(w, "\n%s\n", img.Reference)
		fmt.Fprintf(w, "  digest     %s (%s)\n", img.Digest, humanBytes(img.TotalSize))
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

// short abbreviates a digest for tables.
func short(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
