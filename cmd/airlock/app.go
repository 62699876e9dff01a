package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/airlock-oci/airlock"
)

// newApp builds the command-line application. It writes only to stdout and
// stderr so tests can run it in-process.
func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:    "airlock",
		Usage:   "carry container images across air gaps with everything that vouches for them",
		Version: airlock.Version,
		Description: "On the connected side, export images with their signatures, attestations, SBOMs and\n" +
			"the TUF-verified trust roots into one OCI layout archive. On the air-gapped side,\n" +
			"verify it fully offline against your policy and import what passed.\n\n" +
			"Exit codes: 0 ok, 1 policy not satisfied, 2 bundle corrupt or tampered, 3 usage,\n" +
			"environment or registry error.",
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// Exit codes are decided in run, never inside the library.
		ExitErrHandler: func(*cli.Context, error) {},
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "debug", Usage: "log what airlock does to stderr (anywhere on the line)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no result and no progress; errors still go to stderr and the exit code says the outcome (anywhere on the line)"},
		},
		Before: func(c *cli.Context) error {
			if c.Bool("quiet") {
				c.App.Writer = io.Discard
			}
			if c.Bool("debug") {
				c.Context = withLogger(c.Context, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
			}
			return nil
		},
		Commands: []*cli.Command{
			{
				Name:  "version",
				Usage: "print airlock's version (same as --version)",
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return fmt.Errorf("%w: version takes no arguments", airlock.ErrUsage)
					}
					cli.ShowVersion(c)
					return nil
				},
			},
			exportCommand(),
			inspectCommand(),
			verifyCommand(),
			importCommand(),
			trustCommand(),
			demoCommand(),
		},
	}
}

// run runs the application and maps the outcome to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, interspersed(app, args))
	if err != nil {
		reportErr(stderr, err)
	}
	return exitCode(err)
}

type loggerKey struct{}

func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// logger returns the logger set by --debug, or one that discards.
func logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
