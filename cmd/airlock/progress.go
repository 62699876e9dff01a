package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/airlock-oci/airlock"
)

// progress draws one bar per image (bytes and blobs) on a terminal and is
// silent otherwise. update may be called from several goroutines.
type progress struct {
	mu    sync.Mutex
	p     *mpb.Progress
	bars  map[string]*mpb.Bar
	blobs map[string]string // "3/7 blobs" per bar
}

func newProgress(w io.Writer, want bool) *progress {
	f, ok := w.(*os.File)
	if !want || !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return &progress{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(32)), bars: map[string]*mpb.Bar{}, blobs: map[string]string{}}
}

func (pr *progress) update(ev airlock.Progress) {
	if pr.p == nil || ev.Total <= 0 {
		return
	}
	key := ev.Phase + " " + ev.Image
	if ev.Image == "" {
		key = ev.Phase
	}
	pr.mu.Lock()
	if ev.BlobsTotal > 0 {
		pr.blobs[key] = fmt.Sprintf("  %d/%d blobs", ev.BlobsDone, ev.BlobsTotal)
	}
	bar, ok := pr.bars[key]
	if !ok {
		blobs := func(decor.Statistics) string {
			pr.mu.Lock()
			defer pr.mu.Unlock()
			return pr.blobs[key]
		}
		bar = pr.p.AddBar(ev.Total,
			mpb.PrependDecorators(decor.Name(key, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f"), decor.Any(blobs)),
			mpb.BarRemoveOnComplete(),
		)
		pr.bars[key] = bar
	}
	pr.mu.Unlock()
	bar.SetTotal(ev.Total, false)
	bar.SetCurrent(ev.Done)
	if ev.Done >= ev.Total && ev.BlobsDone >= ev.BlobsTotal {
		bar.SetTotal(ev.Total, true)
	}
}

func (pr *progress) wait() {
	if pr.p == nil {
		return
	}
	pr.mu.Lock()
	for _, b := range pr.bars {
		if !b.Completed() {
			b.Abort(false)
		}
	}
	pr.mu.Unlock()
	pr.p.Wait()
}
