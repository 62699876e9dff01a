package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/verify"
)

// Exit codes, documented in docs/cli.md. They are part of the interface:
// scripts and admission pipelines branch on them.
const (
	exitOK        = verify.ExitOK        // everything asked for was done and every check passed
	exitPolicy    = verify.ExitPolicy    // the bundle is intact but the policy is not satisfied
	exitIntegrity = verify.ExitIntegrity // the bundle is corrupt, tampered with or malformed
	exitError     = verify.ExitError     // usage error, environment error, registry or network failure
)

// exitCoder is returned by commands that decide their own exit code (verify
// and import derive it from the report).
type exitCoder interface{ ExitCode() int }

// exitCode maps an error to the documented exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ec exitCoder
	switch {
	case errors.As(err, &ec):
		return ec.ExitCode()
	case errors.Is(err, bundle.ErrInvalidBundle):
		return exitIntegrity
	case errors.Is(err, airlock.ErrPolicy), errors.Is(err, airlock.ErrTrust):
		return exitPolicy
	}
	return exitError
}

// reportErr prints err the way every command does, naming options by
// their flags.
func reportErr(w io.Writer, err error) {
	msg := err.Error()
	var oe *airlock.OptionError
	if errors.As(err, &oe) {
		msg = strings.Replace(msg, oe.Render(nil), oe.Render(flagName), 1)
	}
	fmt.Fprintf(w, "airlock: %s%s\n", msg, flagHint(err))
}

// flagNames renders the library's option names (airlock.OptionError) as
// this command line's flags. TestFlagNamesCoverOptionErrors keeps it
// complete.
var flagNames = map[string]string{
	"target":                 "--to",
	"WithAt":                 "--at",
	"WithBundleKey":          "--bundle-key",
	"WithCarriedKey":         "--key",
	"WithCarriedTrustedRoot": "--trusted-root",
	"WithKeyless":            "keyless signing",
	"WithSignKey":            "--sign-key",
	"WithSignaturesFrom":     "--signatures-from",
	"WithSince":              "--since",
	"WithTrustedRoot":        "--trusted-root",
	"Keyless.IDToken":        "--identity-token (or SIGSTORE_ID_TOKEN)",
	"Keyless.SigningConfig":  "--signing-config",
	"Keyless.FulcioURL":      "--fulcio-url",
	"Keyless.RekorURL":       "--rekor-url",
	"Keyless.TSAURL":         "--timestamp-server-url",
	"Keyless.TrustedRoots":   "--trusted-root",
}

func flagName(option string) string {
	if f, ok := flagNames[option]; ok {
		return f
	}
	return option
}

// flagHint names the flag that changes the outcome of a library error: the
// library describes its situation, the CLI knows its flags.
func flagHint(err error) string {
	switch {
	case errors.Is(err, airlock.ErrTagConflict):
		return " (use --force)"
	case errors.Is(err, airlock.ErrTUFCapture):
		return " (use --no-tuf to export without it)"
	case errors.Is(err, airlock.ErrNoTUF):
		return "; an export with --no-tuf, or with only --trusted-root/--key, carries none: export with the default TUF capture or --tuf-url to carry one"
	}
	return ""
}
