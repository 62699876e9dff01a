package airlock

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrUsage is a caller mistake: bad arguments or options.
	ErrUsage = errors.New("usage")
	// ErrPolicy means the bundle is intact but the policy is not satisfied.
	ErrPolicy = errors.New("policy not satisfied")
	// ErrExport wraps failures of an export.
	ErrExport = errors.New("export failed")
	// ErrImport wraps failures of an import.
	ErrImport = errors.New("import failed")
	// ErrTUFCapture (with ErrExport) means a TUF repository an export was
	// to carry could not be captured; WithoutTUF exports without one.
	ErrTUFCapture = errors.New("capturing TUF repository")
	// ErrNoTUF (an ErrTrust) means UpdateTrust was given a bundle that
	// carries no TUF repository: nothing to apply.
	ErrNoTUF = fmt.Errorf("%w: the bundle carries no TUF repository", ErrTrust)
)

// OptionError is an option the caller gave that cannot be used: a value
// that does not load or parse, or options that exclude each other. It is
// an ErrUsage. Option and With name options in the library's terms (the
// Option function, the argument, or the options struct field:
// "WithTrustedRoot", "target", "Keyless.SigningConfig"), so a command-line
// front end can render them as its own flags (see Render); the library's
// own message never names a flag.
type OptionError struct {
	Option string   // the option at fault
	Value  string   // the value given, when it helps (a path, a reference)
	With   []string // the options it excludes, for a conflict
	Err    error    // what is wrong with the value (nil for a conflict)
}

func (e *OptionError) Error() string { return "usage: " + e.Render(nil) }

func (e *OptionError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrUsage}
	}
	return []error{ErrUsage, e.Err}
}

// Render says what is wrong with option names passed through name (nil:
// the library's names), without the "usage: " prefix.
func (e *OptionError) Render(name func(string) string) string {
	if name == nil {
		name = func(s string) string { return s }
	}
	switch {
	case len(e.With) == 1:
		return name(e.Option) + " and " + name(e.With[0]) + " exclude each other"
	case len(e.With) > 1:
		others := make([]string, len(e.With))
		for i, w := range e.With {
			others[i] = name(w)
		}
		return name(e.Option) + " excludes " + strings.Join(others[:len(others)-1], ", ") + " and " + others[len(others)-1]
	case e.Value != "":
		return fmt.Sprintf("%s %s: %v", name(e.Option), e.Value, e.Err)
	}
	return fmt.Sprintf("%s: %v", name(e.Option), e.Err)
}
