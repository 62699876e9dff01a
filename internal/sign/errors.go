package sign

import "errors"

// ErrSign is the root of every error this package returns.
var ErrSign = errors.New("sign")

var (
	// ErrNoLog is returned when a transparency log entry is asked for but the
	// signer has no VirtualSigstore to act as the log.
	ErrNoLog = errors.New("sign: no transparency log configured")
	// ErrInput is returned for unusable inputs (bad digest, empty statement).
	ErrInput = errors.New("sign: invalid input")
)
