package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/content"
	"github.com/airlock-oci/airlock/internal/registry"
)

// Staging is a plan's blobs staged on the target and not committed: one
// upload session per large blob, held open until Commit or Cancel, and
// for each small one the answer whether the target has it. Each blob is
// staged once per import, in the repository of the first image (in plan
// order) that needs it; the others mount it from there once it is
// committed.
type Staging struct {
	byDigest map[v1.Hash]*staged
	order    []v1.Hash
	// Blobs and Bytes count every blob of the bundle.
	Blobs int
	Bytes int64
	// Verified is set when every blob of the bundle was hashed and matched
	// its digest (also when an upload failed).
	Verified bool
	// integrity is why the bundle failed its digest checks, if it did.
	integrity error
	// shared counts, per image, the blobs staged in another image's
	// repository that the target already had in this image's own.
	mu     sync.Mutex
	shared map[*Image]int
}

func (s *Staging) sharedPresent(im *Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared == nil {
		s.shared = map[*Image]int{}
	}
	s.shared[im]++
}

// staged is one blob staged in the repository of the first image that
// needs it (kept small: a catalogue stages tens of thousands of blobs).
type staged struct {
	im   *Image
	size int64
	st   *registry.Staged // nil until its upload session holds the blob
}

func newStaging(p *Plan) *Staging {
	s := &Staging{byDigest: map[v1.Hash]*staged{}}
	for _, im := range p.Images {
		for _, b := range im.Blobs {
			if _, dup := s.byDigest[b.Digest]; !dup {
				s.byDigest[b.Digest] = &staged{im: im, size: b.Size}
				s.order = append(s.order, b.Digest)
			}
		}
	}
	return s
}

// Integrity is the bundle's integrity failure (a blob that does not match
// its digest), or nil when every blob of the bundle matched.
func (s *Staging) Integrity() error { return s.integrity }

// Cancel discards every upload session still open. It is best effort and
// runs even when ctx is done.
func (s *Staging) Cancel(ctx context.Context) {
	cctx := context.WithoutCancel(ctx)
	for _, b := range s.byDigest {
		if b.st != nil {
			b.st.Cancel(cctx)
		}
	}
}

// Present counts the blobs of im the target already had in im's own
// repository (nothing was uploaded or mounted for them): those staged there,
// and, once Commit has run, those another image staged.
func (s *Staging) Present(im *Image) int {
	s.mu.Lock()
	n := s.shared[im]
	s.mu.Unlock()
	for _, b := range im.Blobs {
		if sb := s.byDigest[b.Digest]; sb != nil && sb.st != nil && sb.st.Present() && sb.im.Repo.Name() == im.Repo.Name() {
			n++
		}
	}
	return n
}

// Stage checks every blob of the bundle against its digest while it
// stages the plan's blobs on the target, each blob once per import. A
// large blob is hashed as it streams into its upload session, each byte
// read once; a small one (up to SmallBlob) is only asked for (HEAD) and,
// if the target lacks it, uploaded whole by Commit, hashed again as it
// goes: for small blobs a registry's cost is its requests, and this saves
// one per blob. Every other blob (those of images not selected,
// manifests, signatures, small blobs, and blobs the target already had) is
// hashed by the bundle reader. It
// returns the staging also when it fails, so the caller can cancel it. An
// integrity failure is reported by Staging.Integrity, not returned: the
// uploads it stopped are not the story.
func (e *Executor) Stage(ctx context.Context, p *Plan) (*Staging, error) {
	s := newStaging(p)
	all := e.Bundle.Blobs()
	var others []v1.Hash
	for _, h := range all {
		n, _ := e.Bundle.Stat(h)
		s.Bytes += n
		if s.byDigest[h] == nil {
			others = append(others, h)
		}
	}
	s.Blobs = len(all)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	st := &stager{e: e, s: s, stop: stop, hashed: map[v1.Hash]bool{}}
	restDone := make(chan error, 1)
	go func() { restDone <- st.verify(ctx, sctx, others) }()
	uerr := st.upload(sctx)
	if err := <-restDone; err != nil {
		return s, err
	}
	// Blobs not read whole while staging (the target already had them, it
	// answered before reading everything, or the staging failed): hash them
	// now, so the verdict on the bundle is whole in every case.
	var unread []v1.Hash
	for _, d := range s.order {
		if !st.hashed[d] {
			unread = append(unread, d)
		}
	}
	if len(st.bad) == 0 && len(unread) > 0 {
		if err := st.verify(ctx, sctx, unread); err != nil {
			return s, err
		}
	}
	if len(st.bad) > 0 {
		s.integrity = fmt.Errorf("verifying blobs of %s: %w", e.Bundle.Path(), errors.Join(st.bad...))
		return s, nil
	}
	s.Verified = true
	return s, uerr
}

// stager is one run of Stage.
type stager struct {
	e    *Executor
	s    *Staging
	stop context.CancelFunc // stops every upload: the bundle is bad

	mu     sync.Mutex
	bad    []error          // integrity failures, each once
	hashed map[v1.Hash]bool // staged blobs read whole and matching
	pushed int64            // bytes staged so far
}

// failIntegrity records a blob that does not match its digest and stops
// every upload at once.
func (st *stager) failIntegrity(err error) {
	st.mu.Lock()
	if !slices.ContainsFunc(st.bad, func(e error) bool { return e.Error() == err.Error() }) {
		st.bad = append(st.bad, err) // a retried upload finds the same mismatch again
	}
	st.mu.Unlock()
	st.stop()
}

// verify hashes blobs through the bundle reader. Only the caller's ctx
// ending is returned; a mismatch is recorded.
func (st *stager) verify(ctx, sctx context.Context, hs []v1.Hash) error {
	if err := st.e.Bundle.VerifySome(sctx, hs, nil); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if sctx.Err() == nil || errors.Is(err, bundle.ErrInvalidBundle) {
			st.failIntegrity(err)
		}
	}
	return nil
}

// upload stages every blob of the staging (large and small ones in their
// own lanes, see Executor.eachBlob).
func (st *stager) upload(ctx context.Context) error {
	return st.e.eachBlob(ctx, st.s, st.stageOne)
}

func (st *stager) stageOne(ctx context.Context, d v1.Hash) error {
	b := st.s.byDigest[d]
	size, _ := st.e.Bundle.Stat(d)
	desc := v1.Descriptor{MediaType: "application/octet-stream", Size: size, Digest: d}
	var up *registry.Staged
	var err error
	if size <= SmallBlob {
		// Only asked for now, uploaded whole by Commit (CheckBlob); hashed
		// here with the blobs nothing streamed.
		up, err = st.e.Client.CheckBlob(ctx, b.im.Repo, desc, st.e.raw(d))
	} else {
		up, err = st.e.Client.StageBlob(ctx, b.im.Repo, desc, st.opener(d, size))
	}
	if err != nil {
		return fmt.Errorf("%s -> %s: blob %s: %w", b.im.Source, b.im.Repo, d, err)
	}
	st.mu.Lock()
	b.st = up
	st.pushed += size
	done := st.pushed
	st.mu.Unlock()
	st.e.progress(done, st.s.Bytes)
	return nil
}

// readAhead is how much of a large blob one read from the bundle takes:
// net/http sends a body 32 KiB at a time, and reading the file in 1 MiB
// pieces saves most of the read calls (a tenth of import's CPU on large
// blobs).
const readAhead = 1 << 20

// opener opens a blob's raw bytes in the bundle, hashed as they stream to
// the registry; a retried upload opens a new reader.
func (st *stager) opener(d v1.Hash, size int64) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		rc, err := st.e.Bundle.UnsafeRawBlob(d)
		if err != nil {
			return nil, err
		}
		vr := content.NewVerifyReader(bufio.NewReaderSize(rc, readAhead), "blob "+d.String(), d, size).
			Wrap(bundle.ErrDigestMismatch, bundle.ErrDigestMismatch).
			OnDone(func(err error) {
				if err != nil {
					st.failIntegrity(err)
					return
				}
				st.mu.Lock()
				st.hashed[d] = true
				st.mu.Unlock()
			})
		return struct {
			io.Reader
			io.Closer
		}{vr, rc}, nil
	}
}
