package main

import (
	"errors"
	"fmt"
	"io"

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
			&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "parallel blob uploads"},
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
	for _, img := range res.Images {
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
			if t.Note != "" {
				note = "  (" + t.Note + ")"
			}
			fmt.Fprintf(w, "  tag %-76s %s%s\n", t.Tag, short(t.Digest), note)
		}
	}
}

// importFailure says briefly why an import failed after its checks: the
// full error follows on stderr.
func importFailure(err error) string {
	if errors.Is(err, airlock.ErrTagConflict) {
		return "a tag points at a different digest in the target (--force moves it)"
	}
	return "see the error below"
}
