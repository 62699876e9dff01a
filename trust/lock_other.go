//go:build !unix

package trust

// lockDir is a no-op where flock is not available: one process at a time.
func lockDir(dir string) (func(), error) { return func() {}, nil }
