package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-oci/airlock"
)

// registryFlags are shared by commands that talk to registries (export,
// import). Spellings follow skopeo/podman (--authfile, --creds), cosign
// (--registry-cacert, --allow-insecure-registry) and crane (--insecure).
func registryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "insecure-registry", Usage: "use plain HTTP for `HOST:PORT` (loopback registries)"},
		&cli.StringFlag{Name: "authfile", Usage: "registry credentials from this docker config.json-style `FILE` (before the docker config and credential helpers)", EnvVars: []string{"REGISTRY_AUTH_FILE"}},
		&cli.StringFlag{Name: "creds", Usage: "registry credentials `USER:PASS`, sent to every registry this command contacts"},
		&cli.StringSliceFlag{Name: "registry-cacert", Usage: "trust the CA certificates in this PEM `FILE` for registry TLS (besides the system's)"},
		&cli.BoolFlag{Name: "allow-insecure-registry", Aliases: []string{"insecure"}, Usage: "UNSAFE: accept any TLS certificate from registries"},
		&cli.DurationFlag{Name: "timeout", Usage: "give up after this long, e.g. 30m (default: no limit)"},
	}
}

func registryOptions(c *cli.Context) ([]airlock.Option, error) {
	var opts []airlock.Option
	if hosts := c.StringSlice("insecure-registry"); len(hosts) > 0 {
		opts = append(opts, airlock.WithInsecureRegistries(hosts...))
	}
	kc, err := keychain(c.String("creds"), c.String("authfile"))
	if err != nil {
		return nil, err
	}
	if kc != nil {
		opts = append(opts, airlock.WithKeychain(kc))
	}
	if cas := c.StringSlice("registry-cacert"); len(cas) > 0 {
		opts = append(opts, airlock.WithRegistryCA(cas...))
	}
	if c.Bool("allow-insecure-registry") {
		fmt.Fprintln(c.App.ErrWriter, "airlock: WARNING: --allow-insecure-registry: registry TLS certificates are NOT checked; anyone on the path can impersonate the registry and read the credentials sent to it")
		opts = append(opts, airlock.WithRegistryTLSSkipVerifyUnsafe())
	}
	if c.Duration("timeout") < 0 {
		return nil, fmt.Errorf("%w: --timeout must not be negative", airlock.ErrUsage)
	}
	return opts, nil
}

// withTimeout bounds the command by --timeout, when given; the error it
// causes names the flag.
func withTimeout(c *cli.Context) (context.Context, context.CancelFunc) {
	if d := c.Duration("timeout"); d > 0 {
		return context.WithTimeoutCause(c.Context, d, fmt.Errorf("--timeout %v reached", d))
	}
	return context.WithCancel(c.Context)
}

// timeoutErr says that --timeout stopped the command, when it did.
func timeoutErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (%v)", err, context.Cause(ctx))
	}
	return err
}

// The CLI's conventions (docs/cli.md, "Conventions"): --format selects what
// stdout carries (text or json) in every command that prints a result;
// -o/--output names the one file a command produces (export's bundle) and
// nothing else; other files are named by what they hold (--report,
// --receipt).

// formatFlag is --format, the same in every command.
func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Value: "text", Usage: "what stdout carries: text or json"}
}

// oldOutputFlag keeps the former "-o json" spelling of commands that write
// no file, only to refuse it with the new name.
func oldOutputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Hidden: true}
}

// outputFormat reads --format (and refuses the old -o FORMAT spelling).
func outputFormat(c *cli.Context) (string, error) {
	if c.IsSet("output") && c.Command.Name != "export" {
		return "", fmt.Errorf("%w: -o/--output is no longer the output format: use --format %s (-o only names the bundle export writes)", airlock.ErrUsage, c.String("output"))
	}
	s := c.String("format")
	switch s {
	case "text", "json":
	default:
		return "", fmt.Errorf("%w: --format %q: want text or json", airlock.ErrUsage, s)
	}
	if s == "json" && c.Bool("quiet") {
		return "", fmt.Errorf("%w: --quiet and --format json contradict (--quiet prints no result)", airlock.ErrUsage)
	}
	return s, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func countsString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}
