package transfer

import (
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/registry"
)

// Executor carries a plan out against a target registry, reading the
// bundle. Its steps, in order: Settle (read the target's tags), Stage
// (upload every carried blob into sessions held open while the bundle is
// hashed), EnsureOmitted (a delta bundle's left-out blobs), and, only when
// every check of the caller's passed, Commit. An Executor holds no state
// between calls; it is safe for concurrent use if its Progress is.
type Executor struct {
	Client *registry.Client
	Bundle *bundle.Reader
	// Jobs bounds the uploads, commits, tag reads and image pushes in
	// flight; below 1 it is 4.
	Jobs int
	// Progress, when set, receives the bytes staged so far and the total
	// bytes of the bundle. It may be called from several goroutines at
	// once.
	Progress func(done, total int64)
}

func (e *Executor) jobs() int {
	if e.Jobs < 1 {
		return 4
	}
	return e.Jobs
}

func (e *Executor) progress(done, total int64) {
	if e.Progress != nil {
		e.Progress(done, total)
	}
}
