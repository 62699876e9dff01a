package trust

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them
// (test with errors.Is) and says what failed and where.
var (
	// ErrUntrusted: a bundle's TUF source matches no pin (or several): it
	// is not trusted and its trust material must not be used. Not in itself
	// a defect of the bundle: it may carry sources the operator never pinned.
	ErrUntrusted = errors.New("untrusted TUF source")
	// ErrVerification: a TUF source that matches a pin does not verify (bad
	// signature, threshold not met, hash or length mismatch, broken root
	// chain, missing file). The bundle must be refused.
	ErrVerification = errors.New("TUF verification failed")
	// ErrRollback: the bundle carries an older version of a role than the
	// last one accepted for the pin.
	ErrRollback = errors.New("TUF rollback")
	// ErrExpired: a role's metadata is expired at the reference time.
	ErrExpired = errors.New("TUF metadata expired")
	// ErrNoPin: the named pin does not exist in the trust store.
	ErrNoPin = errors.New("no such trust pin")
	// ErrNotFound: a file is missing (from a bundle or a repository).
	ErrNotFound = errors.New("file not found")
	// ErrTooLarge: a file exceeds its size limit.
	ErrTooLarge = errors.New("file too large")
	// ErrInvalid: malformed input (a root, a key, a pin name, a policy).
	ErrInvalid = errors.New("invalid input")
	// ErrExists: Init would overwrite an existing pin, or pin a root that
	// another pin already holds.
	ErrExists = errors.New("trust pin already exists")
	// ErrLocked: another process holds the trust store.
	ErrLocked = errors.New("trust store locked")
	// ErrFetch: capturing a repository failed on the network side.
	ErrFetch = errors.New("fetching TUF repository")
)
