package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8"

	"github.com/airlock-oci/airlock"
)

// fakeTerm is a terminal for mpb: it records every frame mpb renders (the
// rows written between two Flush calls) and how many lines mpb says it drew.
type fakeTerm struct {
	mu     sync.Mutex
	cur    bytes.Buffer
	frames []string
	lines  []int
}

var _ mpb.ConsoleWriter = (*fakeTerm)(nil)

func (f *fakeTerm) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur.Write(p)
}

func (f *fakeTerm) ReadFrom(r io.Reader) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur.ReadFrom(r)
}

func (f *fakeTerm) IsTerminal() bool               { return true }
func (f *fakeTerm) GetTermSize() (int, int, error) { return 160, 60, nil }
func (f *fakeTerm) Flush(lines int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames = append(f.frames, f.cur.String())
	f.lines = append(f.lines, lines)
	f.cur.Reset()
	return nil
}

// A thousand images make one overall bar with the images in flight, never a
// bar per image: every frame is a few lines, names at most a few images, and
// the last one counts all of them done.
func TestProgressOneBarForThousandImages(t *testing.T) {
	term := &fakeTerm{}
	refresh := make(chan any)
	pr := newTerminalProgress(mpb.WithConsoleWriter(term), mpb.WithManualRefresh(refresh))
	const n = 1000
	pr.expectImages(n)
	ref := func(i int) string { return fmt.Sprintf("registry.example/cat/app%04d:v1", i) }
	for i := range n {
		pr.update(airlock.Progress{Phase: "discover", Image: ref(i)})
	}
	// Export's announcement: every image's totals before any byte.
	for i := range n {
		pr.update(airlock.Progress{Phase: "fetch", Image: ref(i), Total: 3000, BlobsTotal: 3})
	}
	// render draws one frame and waits until it is flushed, so the frame
	// shows the state at this point.
	render := func() {
		term.mu.Lock()
		before := len(term.frames)
		term.mu.Unlock()
		refresh <- struct{}{}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			term.mu.Lock()
			drawn := len(term.frames) > before
			term.mu.Unlock()
			if drawn {
				return
			}
		}
		t.Fatal("mpb rendered no frame within 10s")
	}
	render()
	// Images transfer four at a time, blob by blob.
	for i := 0; i < n; i += 4 {
		for b := 1; b <= 3; b++ {
			for j := i; j < i+4 && j < n; j++ {
				pr.update(airlock.Progress{Phase: "fetch", Image: ref(j), Done: int64(b * 1000), Total: 3000, BlobsDone: b, BlobsTotal: 3})
			}
			if i == 500 && b == 1 {
				render()
			}
		}
	}
	// Then verify and push report for the whole run.
	pr.update(airlock.Progress{Phase: "push", Done: 1 << 20, Total: 2 << 20})
	render()
	pr.update(airlock.Progress{Phase: "push", Done: 2 << 20, Total: 2 << 20})
	pr.wait()

	term.mu.Lock()
	defer term.mu.Unlock()
	if len(term.frames) < 3 {
		t.Fatalf("rendered %d frames, want at least 3", len(term.frames))
	}
	var mid string
	for i, fr := range term.frames {
		// discover (1 line), fetch (bar + in-flight line), push (bar + line).
		if term.lines[i] > 5 {
			t.Errorf("frame %d has %d lines, want at most 5 (one bar per phase):\n%s", i, term.lines[i], fr)
		}
		names := strings.Count(fr, "registry.example/cat/app")
		if names > maxInFlightShown {
			t.Errorf("frame %d names %d images, want at most %d:\n%s", i, names, maxInFlightShown, fr)
		}
		if strings.Contains(fr, "in flight:") {
			mid = fr
		}
	}
	if mid == "" {
		t.Fatalf("no frame shows the images in flight:\n%s", strings.Join(term.frames, "\n----\n"))
	}
	for _, want := range []string{"500/1000 images", "1504/3000 blobs", "in flight: registry.example/cat/app0500:v1", "(+1 more)"} {
		if !strings.Contains(mid, want) {
			t.Errorf("frame in the middle of the fetch lacks %q:\n%s", want, mid)
		}
	}
	last := term.frames[len(term.frames)-1]
	for _, want := range []string{"1000/1000 images", "3000/3000 blobs", "2.9 MiB / 2.9 MiB", "push", "2.0 MiB / 2.0 MiB"} {
		if !strings.Contains(last, want) {
			t.Errorf("last frame lacks %q:\n%s", want, last)
		}
	}
	if strings.Contains(last, "in flight: registry") {
		t.Errorf("last frame still shows images in flight:\n%s", last)
	}
}

// Off a terminal the progress is silent and costs nothing.
func TestProgressSilentOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	pr := newProgress(&buf, true)
	pr.expectImages(2)
	pr.update(airlock.Progress{Phase: "fetch", Image: "a", Done: 1, Total: 2, BlobsDone: 1, BlobsTotal: 2})
	pr.wait()
	if buf.Len() != 0 {
		t.Fatalf("wrote %q to a non-terminal", buf.String())
	}
}
