package main

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/internal/human"
	"github.com/airlock-oci/airlock/trust"
)

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "pull images with their signatures, attestations, SBOMs and trust roots into one bundle",
		ArgsUsage: "IMAGE...",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "bundle `FILE` to write (a tar of an OCI image layout)", Required: true},
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "read image references from `LIST`, one per line (# comments)"},
			&cli.StringSliceFlag{Name: "platform", Usage: "keep only these platforms of multi-arch images (`OS/ARCH[/VARIANT]`, repeatable or comma-separated); default all"},
			&cli.StringSliceFlag{Name: "signatures-from", Usage: "also look for signatures in `REPO` (cosign's COSIGN_REPOSITORY)"},
			&cli.StringSliceFlag{Name: "tuf-url", Usage: "capture the TUF repository at `URL` (pair with --tuf-root); replaces the public-good default"},
			&cli.StringSliceFlag{Name: "tuf-root", Usage: "pinned root.json `FILE` for the matching --tuf-url"},
			&cli.StringSliceFlag{Name: "tuf-name", Usage: "`NAME` for the matching --tuf-url (default: its host)"},
			&cli.BoolFlag{Name: "tuf-public-good", Usage: "also capture Sigstore's public-good TUF repository when --tuf-url is given"},
			&cli.BoolFlag{Name: "no-tuf", Usage: "capture no TUF repository"},
			&cli.StringSliceFlag{Name: "trusted-root", Usage: "carry a trusted_root.json `FILE` (never trusted on the far side by itself); with keyless signing, the signature is also checked against it before it is stored"},
			&cli.StringSliceFlag{Name: "key", Usage: "carry a public key `FILE` (never trusted on the far side by itself)"},
			&cli.BoolFlag{Name: "referrers-tags", Usage: "also name each subject's referrers fallback index (sha256-<hex>) in index.json, for regctl; containerd's ctr import then fails (docs/bundle-format.md)"},
			&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "parallel downloads of large blobs (blobs of at most 1 MiB: four times as many beside them)"},
			formatFlag(),
		}, append(transferExportFlags(), registryFlags()...)...),
		Action: func(c *cli.Context) error {
			// Every mistake is refused here, before anything is downloaded.
			out, err := bundleOutput(c.String("output"))
			if err != nil {
				return err
			}
			refs := c.Args().Slice()
			if f := c.String("file"); f != "" {
				more, err := readList(f)
				if err != nil {
					return err
				}
				refs = append(refs, more...)
			}
			if len(refs) == 0 {
				return fmt.Errorf("%w: name at least one image, or --file", airlock.ErrUsage)
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			opts := []airlock.Option{
				airlock.WithLogger(logger(c.Context)),
				airlock.WithConcurrency(c.Int("concurrency")),
				airlock.WithPlatforms(c.StringSlice("platform")...),
				airlock.WithSignaturesFrom(c.StringSlice("signatures-from")...),
			}
			if c.Bool("referrers-tags") {
				opts = append(opts, airlock.WithReferrersTags())
			}
			ropts, err := registryOptions(c)
			if err != nil {
				return err
			}
			opts = append(opts, ropts...)
			topts, err := transferExportOptions(c)
			if err != nil {
				return err
			}
			opts = append(opts, topts...)
			tufOpts, err := tufOptions(c)
			if err != nil {
				return err
			}
			opts = append(opts, tufOpts...)
			for _, p := range c.StringSlice("trusted-root") {
				opts = append(opts, airlock.WithCarriedTrustedRoot(p))
			}
			for _, p := range c.StringSlice("key") {
				opts = append(opts, airlock.WithCarriedKey(p))
			}
			prog := newProgress(c.App.ErrWriter, format == "text" && !c.Bool("quiet"))
			prog.expectImages(len(refs))
			opts = append(opts, airlock.WithProgress(prog.update))
			ctx, cancel := withTimeout(c)
			defer cancel()
			res, err := airlock.Export(ctx, out, refs, opts...)
			prog.wait()
			if err != nil {
				return timeoutErr(ctx, err)
			}
			if format == "json" {
				return writeJSON(c.App.Writer, res)
			}
			printExport(c.App.Writer, res)
			return nil
		},
	}
}

// bundleOutput checks -o before any download: a file name whose directory
// exists, not a directory, not stdout, not an output format.
func bundleOutput(p string) (string, error) {
	switch p {
	case "-":
		return "", fmt.Errorf("%w: -o -: the bundle cannot go to stdout (it is written under a temporary name and renamed); name a FILE", airlock.ErrUsage)
	case "text", "json":
		return "", fmt.Errorf("%w: -o %s names the bundle FILE; for a %s summary use --format %s", airlock.ErrUsage, p, p, p)
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return "", fmt.Errorf("%w: -o %s is a directory; name the bundle FILE, e.g. -o %s", airlock.ErrUsage, p, filepath.Join(p, "bundle.tar"))
	}
	dir := filepath.Dir(p)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: -o %s: directory %s does not exist", airlock.ErrUsage, p, dir)
	}
	return p, nil
}

func tufOptions(c *cli.Context) ([]airlock.Option, error) {
	if c.Bool("no-tuf") {
		if len(c.StringSlice("tuf-url")) > 0 || c.Bool("tuf-public-good") {
			return nil, fmt.Errorf("%w: --no-tuf contradicts --tuf-url/--tuf-public-good", airlock.ErrUsage)
		}
		return []airlock.Option{airlock.WithoutTUF()}, nil
	}
	urls, roots, names := c.StringSlice("tuf-url"), c.StringSlice("tuf-root"), c.StringSlice("tuf-name")
	if len(urls) != len(roots) {
		return nil, fmt.Errorf("%w: every --tuf-url needs a --tuf-root (got %d URLs, %d roots)", airlock.ErrUsage, len(urls), len(roots))
	}
	if len(names) > len(urls) {
		return nil, fmt.Errorf("%w: more --tuf-name than --tuf-url", airlock.ErrUsage)
	}
	var srcs []trust.Source
	if c.Bool("tuf-public-good") {
		pg, err := trust.PublicGood()
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, pg)
	}
	for i, u := range urls {
		root, err := os.ReadFile(roots[i])
		if err != nil {
			return nil, fmt.Errorf("%w: --tuf-root: %v", airlock.ErrUsage, err)
		}
		n := hostOf(u)
		if i < len(names) {
			n = names[i]
		}
		srcs = append(srcs, trust.Source{Name: n, URL: u, Root: root})
	}
	if len(srcs) == 0 {
		return nil, nil // the library's default: public good
	}
	return []airlock.Option{airlock.WithTUF(srcs...)}, nil
}

// hostOf names a TUF source by its URL's host when --tuf-name is not given.
func hostOf(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return u
}

// readList reads image references, one per line; blank lines and # comments are skipped.
func readList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --file: %v", airlock.ErrUsage, err)
	}
	defer f.Close()
	var refs []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("%w: %s:%d: one image reference per line, got %q", airlock.ErrUsage, path, n, line)
		}
		refs = append(refs, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return refs, nil
}

func printExport(w io.Writer, res *airlock.ExportResult) {
	fmt.Fprintf(w, "wrote %s (%s): %d images, %d blobs, %s\n", res.Bundle, human.Bytes(res.Bytes), len(res.Images), res.Blobs, human.Bytes(res.BlobBytes))
	printExportTransfer(w, res.Transfer)
	// Images alike (same platforms, same counts of attached artifacts) are
	// described once; the others, and every filtered one, in full.
	for _, b := range human.Blocks(len(res.Images), groupMin, func(i int) (string, bool) { return exportShape(&res.Images[i]) }) {
		if b.Group {
			printExportGroup(w, res.Images, b.Members)
			continue
		}
		img := res.Images[b.Members[0]]
		fmt.Fprintf(w, "  %s\n    digest    %s\n    platforms %s\n", img.Reference, img.Digest, strings.Join(img.Platforms, ", "))
		fmt.Fprintf(w, "    attached  %s\n", attachedString(img.Artifacts))
		if img.Filter != nil {
			fmt.Fprintf(w, "    NOTE      %s\n", img.Filter.Note)
		}
	}
	for _, t := range res.Trust {
		fmt.Fprintf(w, "  trust %s (%s): %d files", t.Name, t.Kind, t.Files)
		for _, r := range t.Roles {
			fmt.Fprintf(w, ", %s v%d", r.Role, r.Version)
		}
		fmt.Fprintln(w)
	}
}

// exportShape is what alike exported images share: platforms and the count
// of each kind of attached artifact. Filtered images are never grouped
// (their notes are their own).
func exportShape(img *airlock.ExportedImage) (string, bool) {
	if img.Filter != nil {
		return "", false
	}
	return strings.Join(img.Platforms, ", ") + "\n" + attachedString(img.Artifacts), true
}

// printExportGroup describes alike images on one line. Their references and
// digests are in the bundle (airlock inspect) and the JSON summary; only
// images with nothing attached are named, since each needs a look (the
// runbook: ask the publisher, or --signatures-from).
func printExportGroup(w io.Writer, images []airlock.ExportedImage, members []int) {
	first := &images[members[0]]
	fmt.Fprintf(w, "  %d images: exported, platforms %s, attached %s", len(members), strings.Join(first.Platforms, ", "), attachedString(first.Artifacts))
	if len(first.Artifacts) > 0 {
		fmt.Fprintf(w, " each\n    (each image's reference and digest: airlock inspect BUNDLE, or --format json)\n")
		return
	}
	fmt.Fprintln(w)
	for _, i := range members {
		fmt.Fprintf(w, "    %s  %s\n", images[i].Reference, images[i].Digest)
	}
}

// attachedString counts an image's attached artifacts by kind.
func attachedString(arts map[string]int) string {
	if len(arts) == 0 {
		return "none found"
	}
	return countsString(arts)
}
