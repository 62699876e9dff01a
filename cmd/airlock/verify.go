package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/verify"
)

// verifyFlags are shared by verify and import: both run the same checks.
func verifyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "policy", Aliases: []string{"p"}, Usage: "policy `FILE` (docs/policy.md)"},
		&cli.StringFlag{Name: "key", Usage: "quick policy: every image must be signed by this public key `FILE`"},
		&cli.StringFlag{Name: "certificate-identity", Usage: "quick policy: keyless signer subject (exact)"},
		&cli.StringFlag{Name: "certificate-identity-regexp", Usage: "quick policy: keyless signer subject (anchored regular expression)"},
		&cli.StringFlag{Name: "certificate-oidc-issuer", Usage: "quick policy: keyless signer OIDC issuer (exact)"},
		&cli.StringFlag{Name: "certificate-oidc-issuer-regexp", Usage: "quick policy: keyless signer OIDC issuer (anchored regular expression)"},
		&cli.StringFlag{Name: "type", Usage: "quick policy: require a verified attestation of this predicate `TYPE` by the signer instead of a signature, as cosign verify-attestation --type (custom, slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, link, vuln, openvex, or a URI)"},
		&cli.StringSliceFlag{Name: "trusted-root", Usage: "trust this trusted_root.json `FILE` (operator-configured; named as such in the report)"},
		trustDirFlag(),
		&cli.DurationFlag{Name: "max-staleness", Usage: "accept expired TUF timestamp/snapshot up to this age (default 0: strict; Sigstore: see docs/trust.md)"},
		&cli.StringFlag{Name: "sct", Value: "auto", Usage: "certificate transparency SCTs: auto (required when the trusted root lists CT logs), required, waived"},
		&cli.StringSliceFlag{Name: "bundle-key", Usage: "require the bundle itself to be signed by this public key `FILE` (adds to the policy's bundle: signers)"},
		&cli.StringFlag{Name: "report", Usage: "write the JSON report (docs/report.md) to `FILE`"},
	}
}

// verifyOptions turns the shared flags into library options.
func verifyOptions(c *cli.Context) ([]airlock.Option, error) {
	opts := []airlock.Option{
		airlock.WithLogger(logger(c.Context)),
		airlock.WithTrustDir(c.String("trust-dir")),
	}
	flags := verify.Flags{
		Key:                         c.String("key"),
		CertificateIdentity:         c.String("certificate-identity"),
		CertificateIdentityRegexp:   c.String("certificate-identity-regexp"),
		CertificateOIDCIssuer:       c.String("certificate-oidc-issuer"),
		CertificateOIDCIssuerRegexp: c.String("certificate-oidc-issuer-regexp"),
		Type:                        c.String("type"),
	}
	quick := flags != (verify.Flags{})
	switch p := c.String("policy"); {
	case p != "" && quick:
		return nil, fmt.Errorf("%w: --policy excludes --key, --certificate-* and --type (put signers and attestations in the policy file)", airlock.ErrUsage)
	case p != "":
		opts = append(opts, airlock.WithPolicyFile(p))
	case quick:
		pol, err := verify.PolicyFromFlags(flags)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", airlock.ErrUsage, err)
		}
		opts = append(opts, airlock.WithPolicy(pol, "flags"))
	default:
		return nil, fmt.Errorf("%w: give --policy FILE, or --key FILE, or --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp]", airlock.ErrUsage)
	}
	for _, p := range c.StringSlice("trusted-root") {
		opts = append(opts, airlock.WithTrustedRoot(p))
	}
	opts = append(opts, bundleKeyOptions(c)...)
	var relaxed []string
	switch c.String("sct") {
	case "auto":
	case "required":
		opts = append(opts, airlock.WithRequireSCT())
	case "waived":
		opts = append(opts, airlock.WithoutSCTUnsafe())
		relaxed = append(relaxed, "--sct waived accepts Fulcio certificates without certificate transparency")
	default:
		return nil, fmt.Errorf("%w: --sct %q: want auto, required or waived", airlock.ErrUsage, c.String("sct"))
	}
	sopts, srelaxed := stalenessOption(c)
	opts = append(opts, sopts...)
	warnRelaxed(c, append(srelaxed, relaxed...))
	return opts, nil
}

// stalenessOption turns --max-staleness into the library's unsafe option,
// and says what it relaxes (nothing for the strict default).
func stalenessOption(c *cli.Context) ([]airlock.Option, []string) {
	d := c.Duration("max-staleness")
	switch {
	case d == 0:
		return nil, nil
	case d < 0: // refused by the library
		return []airlock.Option{airlock.WithMaxStalenessUnsafe(d)}, nil
	}
	return []airlock.Option{airlock.WithMaxStalenessUnsafe(d)},
		[]string{fmt.Sprintf("--max-staleness %s accepts expired TUF timestamp/snapshot metadata", d)}
}

// warnRelaxed prints one line on stderr when a run relaxes a check; the
// report records each relaxation where it applied.
func warnRelaxed(c *cli.Context, relaxed []string) {
	if len(relaxed) > 0 {
		fmt.Fprintf(c.App.ErrWriter, "WARNING: relaxed checks: %s\n", strings.Join(relaxed, "; "))
	}
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check a bundle fully offline: integrity, TUF trust roots, signatures, attestations and policy",
		ArgsUsage: "BUNDLE",
		Flags: append(verifyFlags(),
			&cli.StringFlag{Name: "at", Usage: "reproduce a past verification as of `TIME` (RFC 3339) for an audit; reported as such"},
			formatFlag(), oldOutputFlag(),
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("%w: verify takes one BUNDLE", airlock.ErrUsage)
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			opts, err := verifyOptions(c)
			if err != nil {
				return err
			}
			if at := c.String("at"); at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return fmt.Errorf("%w: --at %q: want RFC 3339, e.g. 2026-08-22T00:00:00Z", airlock.ErrUsage, at)
				}
				fmt.Fprintf(c.App.ErrWriter, "airlock: AUDIT MODE: judging as of %s, not the real clock; this verdict is not valid for an import\n", t.UTC().Format(time.RFC3339))
				opts = append(opts, airlock.WithAt(t))
			}
			rep, verr := airlock.Verify(c.Context, c.Args().First(), opts...)
			if rep == nil {
				return verr
			}
			if err := writeReport(c, rep); err != nil {
				return err
			}
			if format == "json" {
				if err := rep.WriteJSON(c.App.Writer); err != nil {
					return err
				}
			} else {
				rep.Summary(c.App.Writer)
			}
			emptyStoreHint(c, verr != nil)
			return verr
		},
	}
}

// writeReport writes --report FILE when asked.
func writeReport(c *cli.Context, rep *verify.Report) error {
	p := c.String("report")
	if p == "" {
		return nil
	}
	return writeFileAtomic(p, func(w io.Writer) error { return rep.WriteJSON(w) })
}

// writeFileAtomic writes through a temporary file renamed into place.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".airlock-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
