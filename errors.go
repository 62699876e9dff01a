package airlock

import (
	"errors"
	"fmt"
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
