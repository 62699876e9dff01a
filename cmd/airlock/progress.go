package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/internal/human"
)

// maxInFlightShown caps the image names on the "in flight" line.
const maxInFlightShown = 3

// progress draws, on a terminal only, one overall bar per phase (discover,
// fetch, verify, push): images done of all, blobs, bytes, rate and time
// left, with the images in flight on a line below. A thousand images make
// one bar, not a thousand. Elsewhere it is silent. update may be called
// from several goroutines.
type progress struct {
	barMu  sync.Mutex
	mu     sync.Mutex
	p      *mpb.Progress
	phases map[string]*phaseBar
	images int // images expected, for the discover bar (0: unknown)
}

// phaseBar aggregates one phase's events. Export sends per-image events
// (cumulative per image); verify and push send events for the whole run
// (Image "").
type phaseBar struct {
	phase  string
	bar    *mpb.Bar // set and used under progress.barMu
	over   bool     // discover: ended
	images map[string]*imageProgress
	order  []string // images in the order their first event came
	whole  airlock.Progress
	seen   int // discover: images seen
	// Sums over images.
	done, total           int64
	blobsDone, blobsTotal int
	imagesDone            int
}

type imageProgress struct {
	ev       airlock.Progress
	complete bool
}

func newProgress(w io.Writer, want bool) *progress {
	f, ok := w.(*os.File)
	if !want || !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return newTerminalProgress(mpb.WithOutput(w))
}

// newTerminalProgress draws with the given mpb options (tests pass a fake
// console writer).
func newTerminalProgress(opts ...mpb.ContainerOption) *progress {
	opts = append([]mpb.ContainerOption{mpb.WithWidth(24)}, opts...)
	return &progress{p: mpb.New(opts...), phases: map[string]*phaseBar{}}
}

// expectImages tells the discover bar how many images are coming.
func (pr *progress) expectImages(n int) {
	pr.mu.Lock()
	pr.images = n
	pr.mu.Unlock()
}

func (pr *progress) update(ev airlock.Progress) {
	if pr.p == nil {
		return
	}
	// barMu orders the bar updates; mu guards the sums, which the
	// decorators read while mpb renders (so mu is never held while calling
	// into mpb).
	pr.barMu.Lock()
	defer pr.barMu.Unlock()
	var ops []func()
	pr.mu.Lock()
	if ev.Phase != "discover" {
		// Discovery is over once anything else happens.
		if d := pr.phases["discover"]; d != nil && !d.over {
			d.over = true
			ops = append(ops, func() { d.bar.SetTotal(-1, true) })
		}
	}
	ph := pr.phases[ev.Phase]
	if ph == nil && (ev.Phase == "discover" || ev.Total > 0 || ev.BlobsTotal > 0 || ev.Image != "") {
		ph = &phaseBar{phase: ev.Phase, images: map[string]*imageProgress{}}
		pr.phases[ev.Phase] = ph
		ops = append(ops, func() { ph.bar = pr.addBar(ph) })
	}
	switch {
	case ph == nil: // nothing to measure yet (trust capture)
	case ev.Phase == "discover":
		ph.seen++
		total, cur := int64(max(pr.images, ph.seen)), int64(ph.seen)
		ops = append(ops, func() { ph.bar.SetTotal(total, false); ph.bar.SetCurrent(cur) })
	default:
		if ev.Image == "" {
			ph.done, ph.total = ev.Done, ev.Total
			ph.blobsDone, ph.blobsTotal = ev.BlobsDone, ev.BlobsTotal
		} else {
			ph.add(ev)
		}
		done, total, fin := ph.done, ph.total, ph.finished()
		ops = append(ops, func() {
			if total > 0 {
				ph.bar.SetTotal(total, false)
			}
			ph.bar.SetCurrent(done)
			if fin {
				ph.bar.SetTotal(done, true)
			}
		})
	}
	pr.mu.Unlock()
	for _, op := range ops {
		op()
	}
}

// add folds one image's cumulative event into the sums.
func (ph *phaseBar) add(ev airlock.Progress) {
	ip := ph.images[ev.Image]
	if ip == nil {
		ip = &imageProgress{}
		ph.images[ev.Image] = ip
		ph.order = append(ph.order, ev.Image)
	}
	ph.done += ev.Done - ip.ev.Done
	ph.total += ev.Total - ip.ev.Total
	ph.blobsDone += ev.BlobsDone - ip.ev.BlobsDone
	ph.blobsTotal += ev.BlobsTotal - ip.ev.BlobsTotal
	ip.ev = ev
	complete := ev.Done >= ev.Total && ev.BlobsDone >= ev.BlobsTotal
	if complete != ip.complete {
		if complete {
			ph.imagesDone++
		} else {
			ph.imagesDone--
		}
		ip.complete = complete
	}
}

func (ph *phaseBar) finished() bool {
	if len(ph.images) > 0 {
		return ph.imagesDone == len(ph.images)
	}
	return ph.total > 0 && ph.done >= ph.total && ph.blobsDone >= ph.blobsTotal
}

// counts is the text after the bar: images, blobs, bytes.
func (ph *phaseBar) counts() string {
	var parts []string
	if len(ph.images) > 0 {
		parts = append(parts, fmt.Sprintf("%d/%d images", ph.imagesDone, len(ph.images)))
	}
	if ph.blobsTotal > 0 {
		parts = append(parts, fmt.Sprintf("%d/%d blobs", ph.blobsDone, ph.blobsTotal))
	}
	parts = append(parts, human.Bytes(ph.done)+" / "+human.Bytes(ph.total))
	return strings.Join(parts, "  ")
}

// inFlight names the images started and not finished, oldest first.
func (ph *phaseBar) inFlight() string {
	var names []string
	n := 0
	for _, img := range ph.order {
		ip := ph.images[img]
		if ip.complete || (ip.ev.Done == 0 && ip.ev.BlobsDone == 0) {
			continue
		}
		n++
		if len(names) < maxInFlightShown {
			names = append(names, img)
		}
	}
	if n == 0 {
		return ""
	}
	s := "  in flight: " + strings.Join(names, ", ")
	if n > len(names) {
		s += fmt.Sprintf(" (+%d more)", n-len(names))
	}
	return s
}

// addBar adds the phase's bar (pr.mu not held: mpb may render at once).
func (pr *progress) addBar(ph *phaseBar) *mpb.Bar {
	phase := ph.phase
	locked := func(f func() string) decor.Decorator {
		return decor.Any(func(decor.Statistics) string {
			pr.mu.Lock()
			defer pr.mu.Unlock()
			return f()
		})
	}
	var opts []mpb.BarOption
	if phase == "discover" {
		opts = []mpb.BarOption{
			mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-8s", phase))),
			mpb.AppendDecorators(decor.CountersNoUnit("%d/%d images"), decor.Name("  "), decor.Elapsed(decor.ET_STYLE_GO)),
		}
	} else {
		opts = []mpb.BarOption{
			mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-8s", phase))),
			mpb.AppendDecorators(locked(ph.counts), decor.Name("  "),
				decor.AverageSpeed(decor.SizeB1024(0), "% .1f"), decor.Name("  ETA "),
				decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO), "done")),
			mpb.BarBtmExtender(mpb.BarFillerFunc(func(w io.Writer, _ decor.Statistics) error {
				pr.mu.Lock()
				line := ph.inFlight()
				pr.mu.Unlock()
				_, err := io.WriteString(w, line+"\n")
				return err
			})),
		}
	}
	return pr.p.AddBar(0, opts...)
}

func (pr *progress) wait() {
	if pr.p == nil {
		return
	}
	pr.barMu.Lock()
	pr.mu.Lock()
	var bars []*mpb.Bar
	for _, ph := range pr.phases {
		bars = append(bars, ph.bar)
	}
	pr.mu.Unlock()
	for _, b := range bars {
		if !b.Completed() {
			b.Abort(false)
		}
	}
	pr.barMu.Unlock()
	pr.p.Wait()
}
