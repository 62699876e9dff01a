package main

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/trust"
)

func trustDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "trust-dir", Usage: "trust store `DIR` (default: airlock/trust under the user's config dir)", EnvVars: []string{"AIRLOCK_TRUST_DIR"}}
}

func openStore(c *cli.Context) (*trust.Store, error) {
	dir := c.String("trust-dir")
	if dir == "" {
		d, err := trust.DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return trust.OpenStore(dir)
}

// emptyStoreHint tells, after a verify or import that did not pass, that
// the trust store has no pinned root: the usual reason keyless signatures
// and attestations fail for a new user.
func emptyStoreHint(c *cli.Context, failed bool) {
	if !failed {
		return
	}
	st, err := openStore(c)
	if err != nil {
		return
	}
	if pins, err := st.List(); err == nil && len(pins) == 0 {
		fmt.Fprintf(c.App.ErrWriter, "airlock: the trust store %s is empty, so no keyless signature or attestation can be verified: pin a root with `airlock trust init` (Sigstore public good) or `airlock trust init --root ROOT.json --name NAME` (docs/runbook.md)\n", st.Dir())
	}
}

func trustCommand() *cli.Command {
	return &cli.Command{
		Name:  "trust",
		Usage: "manage the pinned TUF roots of the air-gapped side",
		Subcommands: []*cli.Command{
			{
				Name:  "init",
				Usage: "pin a TUF root: Sigstore's public-good root embedded in airlock, or --root FILE --name NAME",
				Flags: []cli.Flag{trustDirFlag(),
					&cli.StringFlag{Name: "root", Usage: "root.json `FILE` to pin (default: the embedded Sigstore public-good root)"},
					&cli.StringFlag{Name: "name", Usage: "`NAME` of the pin (required with --root; default sigstore)"},
				},
				Action: trustInit,
			},
			{
				Name:   "list",
				Usage:  "list pinned roots with versions, expiry and last accepted update",
				Flags:  []cli.Flag{trustDirFlag(), formatFlag(), oldOutputFlag()},
				Action: trustList,
			},
			{
				Name:      "show",
				Usage:     "show one pinned root",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{trustDirFlag(), formatFlag(), oldOutputFlag()},
				Action:    trustShow,
			},
			{
				Name:      "update",
				Usage:     "apply a bundle's TUF metadata to the trust store without importing anything",
				ArgsUsage: "BUNDLE",
				Flags: []cli.Flag{trustDirFlag(),
					&cli.DurationFlag{Name: "max-staleness", Usage: "accept expired timestamp/snapshot metadata up to this age (default 0: strict; see docs/trust.md)"},
				},
				Action: trustUpdate,
			},
		},
	}
}

// trustInit pins a root: the embedded public-good root, or --root FILE
// under --name.
func trustInit(c *cli.Context) error {
	st, err := openStore(c)
	if err != nil {
		return err
	}
	name, origin := c.String("name"), ""
	var root []byte
	if p := c.String("root"); p != "" {
		if name == "" {
			return fmt.Errorf("%w: --root needs --name", airlock.ErrUsage)
		}
		if root, err = os.ReadFile(p); err != nil {
			return fmt.Errorf("%w: --root: %v", airlock.ErrUsage, err)
		}
		origin = "file " + p
	} else {
		src, err := trust.PublicGood()
		if err != nil {
			return err
		}
		if name == "" {
			name = src.Name
		}
		root, origin = src.Root, "embedded Sigstore public-good root"
	}
	if err := st.Init(name, root, origin); err != nil {
		return err
	}
	pin, err := st.Show(name)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "pinned %s (%s)\n", name, origin)
	printPin(c.App.Writer, pin, time.Now())
	return nil
}

// openStoreFor opens the trust store for a command that prints pins in
// the --format it asks for.
func openStoreFor(c *cli.Context) (*trust.Store, string, error) {
	format, err := outputFormat(c)
	if err != nil {
		return nil, "", err
	}
	st, err := openStore(c)
	return st, format, err
}

// trustList prints every pin.
func trustList(c *cli.Context) error {
	st, format, err := openStoreFor(c)
	if err != nil {
		return err
	}
	pins, err := st.List()
	if err != nil {
		return err
	}
	if format == "json" {
		return writeJSON(c.App.Writer, pins)
	}
	if len(pins) == 0 {
		fmt.Fprintln(c.App.Writer, "no roots pinned: run `airlock trust init`")
	}
	for i := range pins {
		printPin(c.App.Writer, &pins[i], time.Now())
	}
	return nil
}

// trustShow prints one pin.
func trustShow(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("%w: trust show takes one NAME", airlock.ErrUsage)
	}
	st, format, err := openStoreFor(c)
	if err != nil {
		return err
	}
	pin, err := st.Show(c.Args().First())
	if err != nil {
		return err
	}
	if format == "json" {
		return writeJSON(c.App.Writer, pin)
	}
	printPin(c.App.Writer, pin, time.Now())
	return nil
}

// trustUpdate applies a bundle's TUF metadata to the store, printing
// what each source was accepted or refused for.
func trustUpdate(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("%w: trust update takes one BUNDLE", airlock.ErrUsage)
	}
	sopts, relaxed := stalenessOption(c)
	warnRelaxed(c, relaxed)
	res, err := airlock.UpdateTrust(c.Context, c.Args().First(), append(sopts,
		airlock.WithTrustDir(c.String("trust-dir")),
		airlock.WithLogger(logger(c.Context)))...)
	for _, s := range res {
		if s.Error != "" {
			fmt.Fprintf(c.App.Writer, "REFUSED  %s: %s\n", s.Name, s.Error)
			continue
		}
		fmt.Fprintf(c.App.Writer, "accepted %s (%s)\n", s.Name, s.Origin)
		for _, r := range s.Roles {
			fmt.Fprintf(c.App.Writer, "  %-10s v%-5d expires %s\n", r.Role, r.Version, r.Expires.UTC().Format(time.RFC3339))
		}
		for _, n := range s.Notes {
			fmt.Fprintf(c.App.Writer, "  note: %s\n", n)
		}
	}
	return err
}

// printPin prints a pin; roles expired at now are marked, with what to do.
func printPin(w interface{ Write([]byte) (int, error) }, p *trust.Pin, now time.Time) {
	fmt.Fprintf(w, "%s  (%s)\n", p.Name, p.Origin)
	expired := false
	for _, r := range p.Roles {
		mark := ""
		if !r.Expires.IsZero() && now.After(r.Expires) {
			mark, expired = "  EXPIRED", true
		}
		fmt.Fprintf(w, "  %-10s v%-5d expires %s%s\n", r.Name, r.Version, r.Expires.UTC().Format(time.RFC3339), mark)
	}
	if expired {
		fmt.Fprintf(w, "  note: expired roles are renewed by `airlock trust update BUNDLE` (or verify/import) with a bundle carrying newer TUF metadata\n")
	}
	if p.LastUpdate.IsZero() {
		fmt.Fprintf(w, "  last accepted update: never\n")
	} else {
		fmt.Fprintf(w, "  last accepted update: %s\n", p.LastUpdate.UTC().Format(time.RFC3339))
	}
}
