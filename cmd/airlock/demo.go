package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/airlock-oci/airlock/internal/demo"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run the whole round trip on a built-in example (no network, no setup)",
		Description: "Starts two in-process registries, a virtual Sigstore and a TUF repository, signs a\n" +
			"multi-arch image, then exports, inspects, verifies and imports it, and checks the\n" +
			"imported copy. It leaves its files (bundle, policy, report, receipt, trust store) in DIR.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "`DIR` for the demo's files (default: a new temporary directory)"},
		},
		Action: func(c *cli.Context) error {
			dir := c.String("dir")
			if dir == "" {
				d, err := os.MkdirTemp("", "airlock-demo-")
				if err != nil {
					return err
				}
				dir = d
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := demo.Run(c.Context, dir, c.App.Writer); err != nil {
				return fmt.Errorf("demo: %w (files in %s)", err, dir)
			}
			return nil
		},
	}
}
