package airlock

import "errors"

var (
	// ErrUsage is a caller mistake: bad arguments or options.
	ErrUsage = errors.New("usage")
	// ErrPolicy means the bundle is intact but the policy is not satisfied.
	ErrPolicy = errors.New("policy not satisfied")
	// ErrExport wraps failures of an export.
	ErrExport = errors.New("export failed")
	// ErrImport wraps failures of an import.
	ErrImport = errors.New("import failed")
)
