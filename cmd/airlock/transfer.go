package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/internal/human"
)

// Flags and output for signed, split bundles (docs/cli.md).

func transferExportFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "sign-key", Usage: "sign the bundle with this cosign private key `FILE` (password from COSIGN_PASSWORD, or asked on a terminal)"},
		&cli.StringFlag{Name: "identity-token", Usage: "sign the bundle keylessly with this OIDC identity `TOKEN`, or a file holding it (default: SIGSTORE_ID_TOKEN); needs --signing-config or --fulcio-url and --rekor-url"},
		&cli.StringFlag{Name: "signing-config", Usage: "keyless: the Sigstore signing config `FILE` naming Fulcio, Rekor (v1 or v2) and the timestamp authority"},
		&cli.StringFlag{Name: "fulcio-url", Usage: "keyless: the Fulcio `URL` (instead of --signing-config)"},
		&cli.StringFlag{Name: "rekor-url", Usage: "keyless: the Rekor v1 `URL` to log the signature in (instead of --signing-config)"},
		&cli.StringFlag{Name: "timestamp-server-url", Usage: "keyless: the RFC 3161 timestamp authority `URL` (instead of --signing-config)"},
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
	keyless, err := keylessOptions(c)
	if err != nil {
		return nil, err
	}
	if k := c.String("sign-key"); k != "" {
		if keyless != nil {
			return nil, fmt.Errorf("%w: --sign-key and keyless signing (--identity-token, --signing-config, --fulcio-url, --rekor-url, --timestamp-server-url) exclude each other", airlock.ErrUsage)
		}
		opts = append(opts, airlock.WithSignKey(k, cosignPassword(c.App.ErrWriter)))
	}
	if keyless != nil {
		opts = append(opts, keyless)
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

// keylessFlags ask for keyless signing; SIGSTORE_ID_TOKEN alone does not.
var keylessFlags = []string{"identity-token", "signing-config", "fulcio-url", "rekor-url", "timestamp-server-url"}

// keylessOptions turns the keyless flags into an option (nil when none is
// given). The token is read as cosign reads it: --identity-token is the
// token itself when it looks like a JWT, else a file holding it; without
// the flag, SIGSTORE_ID_TOKEN.
func keylessOptions(c *cli.Context) (airlock.Option, error) {
	asked := false
	for _, f := range keylessFlags {
		asked = asked || c.IsSet(f)
	}
	if !asked {
		return nil, nil
	}
	tok := c.String("identity-token")
	switch {
	case tok == "":
		tok = os.Getenv("SIGSTORE_ID_TOKEN")
	case !looksLikeJWT(tok):
		raw, err := readSmallFile(tok, 64<<10)
		if err != nil {
			if strings.Count(tok, ".") == 2 {
				// Likely a damaged token: do not echo a credential.
				return nil, fmt.Errorf("%w: --identity-token (%d characters) is neither a JWT nor a readable file", airlock.ErrUsage, len(tok))
			}
			return nil, fmt.Errorf("%w: --identity-token is neither a JWT nor a readable file: %v", airlock.ErrUsage, err)
		}
		tok = strings.TrimSpace(string(raw))
	}
	return airlock.WithKeyless(airlock.Keyless{
		IDToken:       tok,
		SigningConfig: c.String("signing-config"),
		FulcioURL:     c.String("fulcio-url"),
		RekorURL:      c.String("rekor-url"),
		TSAURL:        c.String("timestamp-server-url"),
		TrustedRoots:  c.StringSlice("trusted-root"),
	}), nil
}

// looksLikeJWT reports whether s has a JWT's shape: three dot-separated
// base64url parts, the first a JSON header.
func looksLikeJWT(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	return err == nil && json.Valid(hdr)
}

// readSmallFile reads a file of at most max bytes.
func readSmallFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(raw)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return raw, nil
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
	switch {
	case t.Keyless != nil:
		k := t.Keyless
		fmt.Fprintf(w, "  signed    keyless as %s (issuer %s), certificate from %s\n", k.Identity, k.Issuer, k.Fulcio)
		for _, l := range k.Logs {
			fmt.Fprintf(w, "            logged in %s\n", l)
		}
		for _, u := range k.TSAs {
			fmt.Fprintf(w, "            timestamped by %s\n", u)
		}
		if k.Checked {
			fmt.Fprintf(w, "            checked against --trusted-root before it was stored\n")
		}
	case t.Signed:
		fmt.Fprintf(w, "  signed    key id %s\n", t.KeyID)
	}
	if t.Omitted > 0 {
		fmt.Fprintf(w, "  delta     %d blobs (%s) left out: the target holds them\n", t.Omitted, human.Bytes(t.OmittedBytes))
	}
}
