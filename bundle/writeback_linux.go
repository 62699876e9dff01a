package bundle

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing a finished range of f to
// disk now, without waiting for it (sync_file_range SYNC_FILE_RANGE_WRITE),
// so that the fsync before the rename finds little left to write instead
// of the whole archive. Best effort: an error only means the fsync does
// all the work.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
