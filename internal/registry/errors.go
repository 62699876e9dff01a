package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors. Wrapped errors say what failed and where; test with errors.Is.
var (
	// ErrRegistry is the root of every error answered by a registry (or a
	// registry that did not answer).
	ErrRegistry = errors.New("registry error")
	// ErrNotFound: the registry answered 404 for a manifest, tag or blob.
	ErrNotFound = fmt.Errorf("%w: not found", ErrRegistry)
	// ErrUnauthorized: the registry answered 401 (credentials missing or rejected).
	ErrUnauthorized = fmt.Errorf("%w: unauthorized", ErrRegistry)
	// ErrDenied: the registry answered 403.
	ErrDenied = fmt.Errorf("%w: access denied", ErrRegistry)
	// ErrRateLimited: the registry kept answering 429 after every retry.
	ErrRateLimited = fmt.Errorf("%w: rate limited", ErrRegistry)
	// ErrUnavailable: 5xx answers, timeouts or dropped connections after every retry.
	ErrUnavailable = fmt.Errorf("%w: unavailable", ErrRegistry)

	// ErrInvalidManifest: a manifest could not be used (bad JSON, wrong schema, unknown type).
	ErrInvalidManifest = errors.New("invalid manifest")
	// ErrManifestTooLarge: a manifest is larger than MaxManifestSize.
	ErrManifestTooLarge = fmt.Errorf("%w: larger than %d bytes", ErrInvalidManifest, MaxManifestSize)
	// ErrDigestMismatch: content does not hash to the digest it was asked for
	// (or announced), or its size differs from the descriptor.
	ErrDigestMismatch = errors.New("content does not match its digest")
	// ErrPlatformNotFound: a platform filter matched nothing.
	ErrPlatformNotFound = errors.New("no manifest matches the requested platforms")
	// ErrInvalidOption: a Client option or an argument was invalid.
	ErrInvalidOption = errors.New("invalid option")
)

// StatusError is a registry's answer with an unexpected HTTP status. It wraps
// ErrRegistry and, depending on the status, ErrNotFound, ErrUnauthorized,
// ErrDenied, ErrRateLimited or ErrUnavailable.
type StatusError struct {
	Method     string
	URL        string // without query string
	StatusCode int
	// Message is the registry's error body (OCI error codes and messages when
	// it sent them), trimmed.
	Message string
	// Attempts is how many times the request was sent.
	Attempts int
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap returns the sentinel matching the status.
func (e *StatusError) Unwrap() error {
	switch {
	case e.StatusCode == http.StatusNotFound:
		return ErrNotFound
	case e.StatusCode == http.StatusUnauthorized:
		return ErrUnauthorized
	case e.StatusCode == http.StatusForbidden:
		return ErrDenied
	case e.StatusCode == http.StatusTooManyRequests:
		return ErrRateLimited
	case e.StatusCode >= 500 || e.StatusCode == http.StatusRequestTimeout:
		return ErrUnavailable
	default:
		return ErrRegistry
	}
}

// netError marks a failure to talk to the registry at all (connection reset,
// timeout, truncated body); it is retried and, in the end, reported as ErrUnavailable.
type netError struct {
	op       string
	err      error
	attempts int
}

func (e *netError) Error() string {
	s := fmt.Sprintf("%s: %v", e.op, e.err)
	if e.attempts > 1 {
		s += fmt.Sprintf(" (after %d attempts)", e.attempts)
	}
	return s
}

func (e *netError) Unwrap() []error { return []error{ErrUnavailable, e.err} }
