// Command hashblobs is the yardstick of `make bench`: a plain Go program
// that reads and hashes (sha256) every blob file of an extracted OCI layout
// on all cores, checking each against its name. airlock verify's target is
// at least 80% of its throughput.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hashblobs LAYOUT_DIR")
		os.Exit(2)
	}
	dir := filepath.Join(os.Args[1], "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	jobs := make(chan string)
	var mu sync.Mutex
	var total int64
	var bad []string
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			for name := range jobs {
				f, err := os.Open(filepath.Join(dir, name))
				if err != nil {
					panic(err)
				}
				h := sha256.New()
				n, err := io.CopyBuffer(h, f, buf)
				f.Close()
				if err != nil {
					panic(err)
				}
				mu.Lock()
				total += n
				if hex.EncodeToString(h.Sum(nil)) != name {
					bad = append(bad, name)
				}
				mu.Unlock()
			}
		}()
	}
	for _, e := range entries {
		jobs <- e.Name()
	}
	close(jobs)
	wg.Wait()
	el := time.Since(start)
	if len(bad) > 0 {
		fmt.Fprintf(os.Stderr, "digest mismatch: %v\n", bad)
		os.Exit(1)
	}
	fmt.Printf("%d blobs, %d bytes in %.3fs: %.0f MB/s\n", len(entries), total, el.Seconds(), float64(total)/el.Seconds()/1e6)
}
