package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/airlock-oci/airlock"
)

// Flags and output for signed, split bundles (docs/cli.md).

func transferExportFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "sign-key", Usage: "sign the bundle with this cosign private key `FILE` (password from COSIGN_PASSWORD, or asked on a terminal)"},
		&cli.StringFlag{Name: "split-size", Usage: "write the bundle as parts of `SIZE` (bytes, or with KB, MB, GB, KiB, MiB, GiB) named -o.000, -o.001, ... and -o.parts.json"},
		&cli.StringSliceFlag{Name: "since", Usage: "leave out image blobs that this import receipt `FILE` (import --receipt), or an earlier bundle, says the target holds (repeatable; also an earlier bundle's inventory)"},
		&cli.IntFlag{Name: "parity", Usage: "with --split-size: add `N` Reed–Solomon parity parts (-o.p00, ...) so that N lost or damaged parts can be rebuilt"},
	}
}

// transferExportOptions turns --sign-key, --split-size and --parity into options.
func transferExportOptions(c *cli.Context) ([]airlock.Option, error) {
	var opts []airlock.Option
	if s := c.StringSlice("since"); len(s) > 0 {
		opts = append(opts, airlock.WithSince(s...))
	}
	if k := c.String("sign-key"); k != "" {
		opts = append(opts, airlock.WithSignKey(k, cosignPassword(c.App.ErrWriter)))
	}
	switch s := c.String("split-size"); {
	case s != "":
		n, err := parseSize(s)
		if err != nil {
			return nil, fmt.Errorf("%w: --split-size: %v", airlock.ErrUsage, err)
		}
		opts = append(opts, airlock.WithSplit(n, c.Int("parity")))
	case c.Int("parity") != 0:
		return nil, fmt.Errorf("%w: --parity needs --split-size", airlock.ErrUsage)
	}
	return opts, nil
}

// cosignPassword reads the key password as cosign does: COSIGN_PASSWORD
// when it is set (even empty), else asked on the terminal.
func cosignPassword(prompt io.Writer) func() ([]byte, error) {
	return func() ([]byte, error) {
		if pw, ok := os.LookupEnv("COSIGN_PASSWORD"); ok {
			return []byte(pw), nil
		}
		fd := int(os.Stdin.Fd())
		if !term.IsTerminal(fd) {
			return nil, fmt.Errorf("the key is encrypted: set COSIGN_PASSWORD")
		}
		fmt.Fprint(prompt, "Enter password for private key: ")
		pw, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		return pw, err
	}
}

// parseSize reads "4GiB", "700MB", "65536".
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (e.g. 4GiB, 700MB, 65536)", s)
	}
	return n * mult, nil
}

// bundleKeyOptions turns --bundle-key into an option.
func bundleKeyOptions(c *cli.Context) []airlock.Option {
	var opts []airlock.Option
	for _, k := range c.StringSlice("bundle-key") {
		opts = append(opts, airlock.WithBundleKey(k))
	}
	return opts
}

func printInspectedTransfer(w io.Writer, ins *airlock.Inspection) {
	if p := ins.Parts; p != nil {
		fmt.Fprintf(w, "parts: %s: %d data parts, %d parity parts\n", p.Path, p.DataParts, p.ParityParts)
		for _, d := range p.Damaged {
			fmt.Fprintf(w, "  damaged  %s (%s)\n", d.Name, d.Reason)
		}
		if len(p.Repaired) > 0 {
			fmt.Fprintf(w, "  REPAIRED from parity: %s\n", strings.Join(p.Repaired, ", "))
		}
	}
	s := ins.Signature
	if s == nil {
		fmt.Fprintf(w, "bundle signature: none\n")
		return
	}
	fmt.Fprintf(w, "bundle signature: %s (not verified here: airlock verify checks it)\n", s.Manifest)
	if s.KeyHint != "" {
		fmt.Fprintf(w, "  key id   %s\n", s.KeyHint)
	}
	if s.Certificate {
		fmt.Fprintf(w, "  keyless  (certificate)\n")
	}
	if p := s.Predicate; p != nil {
		fmt.Fprintf(w, "  claims   signed %s by %s %s for %d sources\n", p.Time.UTC().Format("2006-01-02T15:04:05Z"), p.Exporter.Name, p.Exporter.Version, len(p.Sources))
	}
	if s.Error != "" {
		fmt.Fprintf(w, "  ERROR    %s\n", s.Error)
	}
}

func printExportTransfer(w io.Writer, t *airlock.ExportedTransfer) {
	if t == nil {
		return
	}
	if t.Parts > 0 {
		fmt.Fprintf(w, "  parts     %d data + %d parity, listed in %s\n", t.Parts, t.ParityParts, t.PartsFile)
	}
	if t.Signed {
		fmt.Fprintf(w, "  signed    key id %s\n", t.KeyID)
	}
	if t.Omitted > 0 {
		fmt.Fprintf(w, "  delta     %d blobs (%s) left out: the target holds them\n", t.Omitted, humanBytes(t.OmittedBytes))
	}
}
