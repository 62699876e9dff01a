package transfer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func laneStaging(sizes ...int64) *Staging {
	s := &Staging{byDigest: map[v1.Hash]*staged{}}
	for i, size := range sizes {
		d := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%064x", i)}
		s.byDigest[d] = &staged{size: size}
		s.order = append(s.order, d)
	}
	return s
}

// With Jobs 1 and a large blob first in order, the small blobs still all
// run while the large one is in flight: they have their own lane.
func TestEachBlobSmallBesideLarge(t *testing.T) {
	s := laneStaging(SmallBlob+1, 10, 20, 30, 40, SmallBlob)
	e := &Executor{Jobs: 1}
	large := s.order[0]
	var smallDone sync.WaitGroup
	smallDone.Add(len(s.order) - 1)
	err := e.eachBlob(context.Background(), s, func(ctx context.Context, d v1.Hash) error {
		if d != large {
			smallDone.Done()
			return nil
		}
		ok := make(chan struct{})
		go func() { smallDone.Wait(); close(ok) }()
		select {
		case <-ok:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the small blobs waited for the large one")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Large blobs stay within Jobs, small ones within four times Jobs; every
// blob runs once.
func TestEachBlobLimits(t *testing.T) {
	sizes := make([]int64, 0, 60)
	for i := range 60 {
		if i%3 == 0 {
			sizes = append(sizes, SmallBlob+int64(i))
		} else {
			sizes = append(sizes, int64(i))
		}
	}
	s := laneStaging(sizes...)
	e := &Executor{Jobs: 2}
	var inLarge, inSmall, maxLarge, maxSmall atomic.Int32
	var mu sync.Mutex
	seen := map[v1.Hash]int{}
	peak := func(cur *atomic.Int32, max *atomic.Int32) {
		for {
			m := max.Load()
			c := cur.Load()
			if c <= m || max.CompareAndSwap(m, c) {
				return
			}
		}
	}
	err := e.eachBlob(context.Background(), s, func(ctx context.Context, d v1.Hash) error {
		cur, max := &inSmall, &maxSmall
		if s.byDigest[d].size > SmallBlob {
			cur, max = &inLarge, &maxLarge
		}
		cur.Add(1)
		peak(cur, max)
		time.Sleep(2 * time.Millisecond)
		cur.Add(-1)
		mu.Lock()
		seen[d]++
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(s.order) {
		t.Fatalf("%d blobs ran, want %d", len(seen), len(s.order))
	}
	for d, n := range seen {
		if n != 1 {
			t.Errorf("blob %s ran %d times", d, n)
		}
	}
	if got := maxLarge.Load(); got > 2 {
		t.Errorf("%d large blobs at once, limit 2", got)
	}
	if got := maxSmall.Load(); got > 8 {
		t.Errorf("%d small blobs at once, limit 8", got)
	}
}

// The first error stops both lanes: no blob starts after it.
func TestEachBlobStopsOnError(t *testing.T) {
	sizes := make([]int64, 200)
	s := laneStaging(sizes...)
	e := &Executor{Jobs: 1}
	var ran atomic.Int32
	boom := errors.New("boom")
	err := e.eachBlob(context.Background(), s, func(ctx context.Context, d v1.Hash) error {
		if ran.Add(1) == 1 {
			return boom
		}
		time.Sleep(time.Millisecond)
		return ctx.Err()
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if n := ran.Load(); n >= 200 {
		t.Errorf("all %d blobs ran after the first failed", n)
	}
}
