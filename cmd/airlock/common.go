package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-oci/airlock"
)

// registryFlags are shared by commands that talk to registries.
func registryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "insecure-registry", Usage: "use plain HTTP for `HOST:PORT` (loopback registries)"},
	}
}

func registryOptions(c *cli.Context) []airlock.Option {
	if hosts := c.StringSlice("insecure-registry"); len(hosts) > 0 {
		return []airlock.Option{airlock.WithInsecureRegistries(hosts...)}
	}
	return nil
}

func outputFormat(s string) (string, error) {
	switch s {
	case "text", "json":
		return s, nil
	}
	return "", fmt.Errorf("%w: output format %q: want text or json", airlock.ErrUsage, s)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
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
