package bundle

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// benchFixture is a generated bundle of about 400 MiB (4 x 64 MiB,
// 32 x 4 MiB, 256 x 64 KiB blobs) and the same blobs as plain files.
type benchFixture struct {
	dir    string
	bundle string
	files  []string
	descs  []v1.Descriptor
	total  int64
	err    error
}

var (
	benchOnce sync.Once
	bench     benchFixture
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

func benchData(b *testing.B) *benchFixture {
	benchOnce.Do(func() { bench.err = bench.generate() })
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return &bench
}

func (f *benchFixture) generate() error {
	dir, err := os.MkdirTemp("", "airlock-bench-")
	if err != nil {
		return err
	}
	f.dir = dir
	blobDir := filepath.Join(dir, "blobs")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(42))
	var descs []v1.Descriptor
	paths := map[v1.Hash]string{}
	for _, spec := range []struct {
		n    int
		size int64
	}{{4, 64 << 20}, {32, 4 << 20}, {256, 64 << 10}} {
		for i := 0; i < spec.n; i++ {
			tmp := filepath.Join(blobDir, "tmp")
			fh, err := os.Create(tmp)
			if err != nil {
				return err
			}
			h := sha256.New()
			bw := bufio.NewWriterSize(io.MultiWriter(fh, h), 1<<20)
			if _, err := io.CopyN(bw, rng, spec.size); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			fh.Close()
			d := v1.Descriptor{MediaType: types.OCILayer, Size: spec.size, Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}}
			p := filepath.Join(blobDir, d.Digest.Hex)
			if err := os.Rename(tmp, p); err != nil {
				return err
			}
			descs = append(descs, d)
			f.descs = append(f.descs, d)
			paths[d.Digest] = p
			f.files = append(f.files, p)
			f.total += spec.size
		}
	}
	f.bundle = filepath.Join(dir, "bench.tar")
	w, err := Create(f.bundle)
	if err != nil {
		return err
	}
	for _, d := range descs {
		if err := w.Reserve(d); err != nil {
			return err
		}
	}
	return w.Commit(context.Background(), func(_ context.Context, d v1.Descriptor) (io.ReadCloser, error) {
		return os.Open(paths[d.Digest])
	})
}

func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkVerifyBlobs hashes every blob of a ~400 MiB bundle. Compare its
// MB/s with BenchmarkHashFilesBaseline (target: at least 80%).
func BenchmarkVerifyBlobs(b *testing.B) {
	f := benchData(b)
	r, err := Open(f.bundle)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.SetBytes(f.total)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := r.VerifyBlobs(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(peakRSSMiB(), "peakRSS-MiB")
}

// BenchmarkHashFilesBaseline is the plain program VerifyBlobs is measured
// against: hash every blob file of the layout on all cores.
func BenchmarkHashFilesBaseline(b *testing.B) {
	f := benchData(b)
	b.SetBytes(f.total)
	b.ResetTimer()
	for b.Loop() {
		var g errgroup.Group
		g.SetLimit(runtime.GOMAXPROCS(0))
		for _, p := range f.files {
			g.Go(func() error {
				fh, err := os.Open(p)
				if err != nil {
					return err
				}
				defer fh.Close()
				h := sha256.New()
				if _, err := io.CopyBuffer(h, readerOnly{fh}, make([]byte, 1<<20)); err != nil {
					return err
				}
				if hex.EncodeToString(h.Sum(nil)) != filepath.Base(p) {
					return fmt.Errorf("%s: digest mismatch", p)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommit streams the ~400 MiB of blob files into a new bundle
// (four workers, sha256 checked while writing).
func BenchmarkCommit(b *testing.B) {
	f := benchData(b)
	dst := filepath.Join(b.TempDir(), "out.tar")
	fetch := func(_ context.Context, d v1.Descriptor) (io.ReadCloser, error) {
		return os.Open(filepath.Join(f.dir, "blobs", d.Digest.Hex))
	}
	b.SetBytes(f.total)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w, err := Create(dst)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range f.descs {
			if err := w.Reserve(d); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(context.Background(), fetch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(peakRSSMiB(), "peakRSS-MiB")
}

// BenchmarkCommitSplit is BenchmarkCommit writing 8 parts and 2 parity parts.
func BenchmarkCommitSplit(b *testing.B) {
	f := benchData(b)
	dst := filepath.Join(b.TempDir(), "out.tar")
	fetch := func(_ context.Context, d v1.Descriptor) (io.ReadCloser, error) {
		return os.Open(filepath.Join(f.dir, "blobs", d.Digest.Hex))
	}
	b.SetBytes(f.total)
	b.ResetTimer()
	for b.Loop() {
		w, err := Create(dst, WithSplit(f.total/8+MinPartSize, 2))
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range f.descs {
			if err := w.Reserve(d); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(context.Background(), fetch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(peakRSSMiB(), "peakRSS-MiB")
}
