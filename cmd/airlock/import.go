package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/internal/human"
)

func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "verify a bundle, then push what passed (signatures included) into a registry",
		ArgsUsage: "BUNDLE",
		Flags: append(append(verifyFlags(),
			&cli.StringFlag{Name: "to", Required: true, Usage: "target `REGISTRY[/PREFIX]`; docker.io/library/nginx:1.27 lands at REGISTRY/PREFIX/docker.io/library/nginx:1.27"},
			&cli.BoolFlag{Name: "keep-host", Hidden: true, Usage: "the default now: the source registry host is kept under the prefix"},
			&cli.BoolFlag{Name: "drop-host", Usage: "UNSAFE: drop the source registry host (REGISTRY/PREFIX/library/nginx:1.27); images of different registries with the same path, which the policy may judge by different rules, then land at the same target reference and can take each other's tags"},
			&cli.BoolFlag{Name: "only-verified", Usage: "import the images that passed and report the others, instead of refusing the whole bundle"},
			&cli.BoolFlag{Name: "force", Usage: "move tags that already point at a different digest"},
			&cli.BoolFlag{Name: "dry-run", Usage: "verify and print what would be pushed where; push nothing (a delta's left-out blobs are checked at the target, reading only)"},
			&cli.StringFlag{Name: "receipt", Usage: "write what the target now holds (digests per reference) to `FILE`"},
			&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "parallel uploads of blobs over 1 MiB (small blobs, manifests and tag reads: four times as many)"},
			formatFlag(), oldOutputFlag(),
		), registryFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("%w: import takes one BUNDLE", airlock.ErrUsage)
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			opts, err := verifyOptions(c)
			if err != nil {
				return err
			}
			ropts, err := registryOptions(c)
			if err != nil {
				return err
			}
			opts = append(opts, ropts...)
			opts = append(opts, airlock.WithConcurrency(c.Int("concurrency")))
			if c.Bool("drop-host") {
				if c.Bool("keep-host") {
					return fmt.Errorf("%w: --drop-host and --keep-host contradict each other", airlock.ErrUsage)
				}
				fmt.Fprintln(c.App.ErrWriter, "WARNING: --drop-host: the source registry host is not part of the target path; images from different registries with the same path land at the same target reference")
				opts = append(opts, airlock.WithDropSourceHostUnsafe())
			}
			if c.Bool("only-verified") {
				opts = append(opts, airlock.WithOnlyVerified())
			}
			if c.Bool("force") {
				opts = append(opts, airlock.WithForce())
			}
			if c.Bool("dry-run") {
				opts = append(opts, airlock.WithDryRun())
			}
			prog := newProgress(c.App.ErrWriter, format == "text" && !c.Bool("quiet"))
			opts = append(opts, airlock.WithProgress(prog.update))
			ctx, cancel := withTimeout(c)
			defer cancel()
			res, ierr := airlock.Import(ctx, c.Args().First(), c.String("to"), opts...)
			prog.wait()
			ierr = timeoutErr(ctx, ierr)
			if res == nil {
				return ierr
			}
			// The report is written for every import, whatever the outcome.
			if res.Report != nil {
				if res.Report.Schema == "" {
					// The import stopped before the library finished the
					// report: finish it, so its verdict is written.
					res.Report.Finish()
				}
				if err := writeReport(c, res.Report); err != nil {
					return err
				}
			}
			if format == "json" {
				// The receipt: what the target now holds (or would, for a dry run).
				if err := writeJSON(c.App.Writer, res); err != nil {
					return err
				}
			} else {
				printImport(c.App.Writer, res)
				if res.Report != nil {
					// The last line states the real outcome and exit code.
					if code := exitCode(ierr); code != res.Report.ExitCode() {
						res.Report.SummaryOutcome(c.App.Writer, "import FAILED: "+importFailure(ierr), code)
					} else {
						res.Report.Summary(c.App.Writer)
					}
				}
			}
			emptyStoreHint(c, ierr != nil)
			if p := c.String("receipt"); p != "" && !res.DryRun {
				if err := writeFileAtomic(p, res.WriteReceipt); err != nil {
					return err
				}
			}
			return ierr
		},
	}
}

func printImport(w io.Writer, res *airlock.ImportResult) {
	verb := "pushed"
	if res.DryRun {
		verb = "would push"
		fmt.Fprintf(w, "\nDRY RUN: nothing was pushed\n")
	}
	// Images imported alike (same outcome, same counts of manifests and
	// referrers, every tag new or already there) are described once; the
	// others (skipped, a tag moved or not moved) in full.
	for _, b := range human.Blocks(len(res.Images), groupMin, func(i int) (string, bool) { return importShape(res, &res.Images[i]) }) {
		if b.Group {
			printImportGroup(w, res, b.Members)
			continue
		}
		img := res.Images[b.Members[0]]
		if img.Skipped != "" {
			fmt.Fprintf(w, "\n%s: %s\n", img.Source, img.Skipped)
			continue
		}
		fmt.Fprintf(w, "\n%s -> %s\n", img.Source, img.Reference)
		switch {
		case res.DryRun:
			fmt.Fprintf(w, "  %s %d blobs (%s), %d manifests, %d referrers\n", verb, img.Blobs, human.Bytes(img.Bytes), len(img.Manifests), len(img.Referrers))
		case img.Present == img.Blobs:
			fmt.Fprintf(w, "  all %d blobs (%s) already there; %d manifests, %d referrers in place\n", img.Blobs, human.Bytes(img.Bytes), len(img.Manifests), len(img.Referrers))
		default:
			fmt.Fprintf(w, "  %s %d of %d blobs (%d already there, %s in all), %d manifests, %d referrers\n", verb, img.Blobs-img.Present, img.Blobs, img.Present, human.Bytes(img.Bytes), len(img.Manifests), len(img.Referrers))
		}
		for _, t := range img.Tags {
			note := ""
			if n := tagNote(t.Outcome); n != "" {
				note = "  (" + n + ")"
			}
			fmt.Fprintf(w, "  tag %-76s %s%s\n", t.Tag, short(t.Digest), note)
		}
	}
}

// tagNote says what an import did with a tag, for the summary ("" for a
// new tag).
func tagNote(outcome string) string {
	switch outcome {
	case "present":
		return "already there"
	case "forced":
		return "moved (--force)"
	case "conflict":
		return "not moved: points at another digest (use --force)"
	}
	return ""
}

// importOutcome is what the import did with an image's blobs, in words.
func importOutcome(res *airlock.ImportResult, img *airlock.ImportedImage) string {
	switch {
	case res.DryRun:
		return "would push"
	case img.Present == img.Blobs:
		return "already there"
	}
	return "pushed"
}

// importTagStates names the state of each of an image's tags ("new",
// "already there"), sorted, and reports false for a tag that was moved or
// left pointing elsewhere: such an image is listed on its own.
func importTagStates(img *airlock.ImportedImage) ([]string, bool) {
	states := make([]string, 0, len(img.Tags))
	for _, t := range img.Tags {
		switch t.Outcome {
		case "new":
			states = append(states, "new")
		case "present":
			states = append(states, tagNote(t.Outcome))
		default:
			return nil, false
		}
	}
	slices.Sort(states)
	return states, true
}

// importShape is what images imported alike share; skipped images and
// those with a moved or conflicting tag are never grouped.
func importShape(res *airlock.ImportResult, img *airlock.ImportedImage) (string, bool) {
	if img.Skipped != "" {
		return "", false
	}
	states, ok := importTagStates(img)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%s\n%d manifests\n%d referrers\ntags %s", importOutcome(res, img), len(img.Manifests), len(img.Referrers), strings.Join(states, ", ")), true
}

// printImportGroup describes images imported alike in three lines; each
// image's target is in the verification summary that follows and in the
// receipt.
func printImportGroup(w io.Writer, res *airlock.ImportResult, members []int) {
	first := &res.Images[members[0]]
	states, _ := importTagStates(first)
	var tags string
	switch len(states) {
	case 0:
		tags = "no tags"
	case 1:
		tags = "tag " + states[0]
	default:
		tags = "tags " + countsString(countStrings(states)) + " each"
	}
	fmt.Fprintf(w, "\n%d images: %s, %d manifests and %d referrers each, %s\n", len(members), importOutcome(res, first), len(first.Manifests), len(first.Referrers), tags)
	var blobs, present int
	var size int64
	for _, i := range members {
		blobs += res.Images[i].Blobs
		present += res.Images[i].Present
		size += res.Images[i].Bytes
	}
	if res.DryRun {
		fmt.Fprintf(w, "  blobs, counted per image: %d, %s\n", blobs, human.Bytes(size))
	} else {
		fmt.Fprintf(w, "  blobs, counted per image: %d pushed, %d already there, %s\n", blobs-present, present, human.Bytes(size))
	}
	fmt.Fprintf(w, "  (each image's target: in the summary below, and the receipt: --receipt FILE or --format json)\n")
}

// countStrings counts equal strings.
func countStrings(ss []string) map[string]int {
	m := map[string]int{}
	for _, s := range ss {
		m[s]++
	}
	return m
}

// importFailure says briefly why an import failed after its checks: the
// full error follows on stderr.
func importFailure(err error) string {
	if errors.Is(err, airlock.ErrTagConflict) {
		return "a tag points at a different digest in the target (--force moves it)"
	}
	return "see the error below"
}
