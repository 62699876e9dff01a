package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func blobDesc(data []byte) v1.Descriptor {
	h, size, _ := v1.SHA256(bytes.NewReader(data))
	return v1.Descriptor{MediaType: "application/octet-stream", Size: size, Digest: h}
}

func opener(data []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

// headStatus asks the registry itself whether repo has the blob.
func headStatus(t *testing.T, tr *testRegistry, repo string, h v1.Hash) int {
	t.Helper()
	resp, err := http.Head(tr.srv.URL + "/v2/" + repo + "/blobs/" + h.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestStageBlob(t *testing.T) {
	ctx := context.Background()
	tr := newTestRegistry(t, false)
	c := testClient()
	repo := tr.repo("stage/app")
	data := bytes.Repeat([]byte("airlock"), 10000)
	desc := blobDesc(data)

	// Staged but not committed: the repository does not have the blob.
	st, err := c.StageBlob(ctx, repo, desc, opener(data))
	if err != nil {
		t.Fatal(err)
	}
	if st.Present() || headStatus(t, tr, "stage/app", desc.Digest) != http.StatusNotFound {
		t.Fatal("a staged blob is visible before Commit")
	}
	// Cancelled: still absent, and committing afterwards does nothing.
	if err := st.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx); err != nil || headStatus(t, tr, "stage/app", desc.Digest) != http.StatusNotFound {
		t.Fatalf("cancelled upload became a blob (commit err %v)", err)
	}
	if tr.count("DELETE /v2/stage/app/blobs/uploads/") != 1 {
		t.Errorf("no DELETE of the upload session was sent")
	}

	// Staged and committed: the blob is there with the right content.
	st, err = c.StageBlob(ctx, repo, desc, opener(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if headStatus(t, tr, "stage/app", desc.Digest) != http.StatusOK {
		t.Fatal("committed blob missing")
	}
	// Present already: nothing uploaded, nothing to commit.
	tr.resetLog()
	st, err = c.StageBlob(ctx, repo, desc, func() (io.ReadCloser, error) { return nil, errors.New("must not be opened") })
	if err != nil || !st.Present() {
		t.Fatalf("present blob: %v present=%v", err, st != nil && st.Present())
	}
	if tr.count("POST") != 0 || tr.count("PATCH") != 0 {
		t.Error("a present blob was uploaded again")
	}
}

// CheckBlob only asks (HEAD): nothing reaches the registry until Commit,
// which uploads the blob whole in two requests, checking the content as it
// streams; a cancelled check uploads nothing, and a present blob is never
// opened.
func TestCheckBlob(t *testing.T) {
	ctx := context.Background()
	tr := newTestRegistry(t, false)
	c := testClient()
	repo := tr.repo("check/app")
	data := bytes.Repeat([]byte("small"), 1000)
	desc := blobDesc(data)

	// Refused before any request: no way to read the blob, or a digest
	// that is not one.
	tr.resetLog()
	if _, err := c.CheckBlob(ctx, repo, desc, nil); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("nil open: %v, want ErrInvalidOption", err)
	}
	if _, err := c.CheckBlob(ctx, repo, v1.Descriptor{Size: 1, Digest: v1.Hash{Algorithm: "md5", Hex: "00"}}, opener(data)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("bad digest: %v, want ErrInvalidOption", err)
	}
	if got := tr.log(); len(got) != 0 {
		t.Errorf("refused checks sent %v", got)
	}

	st, err := c.CheckBlob(ctx, repo, desc, func() (io.ReadCloser, error) { return nil, errors.New("opened before Commit") })
	if err != nil || st.Present() {
		t.Fatalf("check: %v present=%v", err, st != nil && st.Present())
	}
	if tr.count("HEAD") != 1 || len(tr.log()) != 1 {
		t.Fatalf("check sent %v, want one HEAD", tr.log())
	}
	if err := st.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx); err != nil || headStatus(t, tr, "check/app", desc.Digest) != http.StatusNotFound {
		t.Fatalf("a cancelled check became a blob (commit err %v)", err)
	}

	// Content that is not what was checked is refused at Commit. (In a
	// repository of its own: the client may give up on that PUT before the
	// server has logged it, and the log below must not see it.)
	st, err = c.CheckBlob(ctx, tr.repo("check/wrong"), desc, opener(bytes.ToUpper(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx); err == nil || headStatus(t, tr, "check/wrong", desc.Digest) != http.StatusNotFound {
		t.Fatalf("wrong content committed (err %v)", err)
	}

	st, err = c.CheckBlob(ctx, repo, desc, opener(data))
	if err != nil {
		t.Fatal(err)
	}
	tr.resetLog()
	if err := st.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range tr.log() {
		if strings.Contains(r, " /v2/check/app/") {
			got = append(got, r)
		}
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "POST ") || !strings.HasPrefix(got[1], "PUT ") {
		t.Errorf("commit sent %v, want a POST and a PUT", got)
	}
	if headStatus(t, tr, "check/app", desc.Digest) != http.StatusOK {
		t.Fatal("committed blob missing")
	}
	st, err = c.CheckBlob(ctx, repo, desc, func() (io.ReadCloser, error) { return nil, errors.New("must not be opened") })
	if err != nil || !st.Present() || st.Commit(ctx) != nil {
		t.Fatalf("present blob: %v present=%v", err, st != nil && st.Present())
	}
}

// The registry checks the digest at Commit: content that changed after it
// was verified is refused, and the blob never appears.
func TestStageBlobWrongContentRefusedAtCommit(t *testing.T) {
	ctx := context.Background()
	tr := newTestRegistry(t, false)
	c := testClient()
	repo := tr.repo("stage/app")
	data := []byte("the verified bytes")
	desc := blobDesc(data)
	st, err := c.StageBlob(ctx, repo, desc, opener([]byte("THE VERIFIED BYTES")))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx); err == nil {
		t.Fatal("commit of content that does not match the digest succeeded")
	}
	if headStatus(t, tr, "stage/app", desc.Digest) != http.StatusNotFound {
		t.Fatal("wrong content became a blob")
	}
}

// Transient failures of the PATCH are retried with a new session; a
// permanent refusal is an error naming the blob and the answer.
func TestStageBlobFaults(t *testing.T) {
	ctx := context.Background()
	tr := newTestRegistry(t, false)
	c := testClient()
	repo := tr.repo("stage/app")
	data := []byte("some layer")
	desc := blobDesc(data)
	fails := 1
	tr.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch && fails > 0 {
			fails--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	st, err := c.StageBlob(ctx, repo, desc, opener(data))
	if err != nil {
		t.Fatalf("transient failure not retried: %v", err)
	}
	if err := st.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// A session whose data could not be sent is discarded, not left behind.
	tr.resetLog()
	tr.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch {
			http.Error(w, "disk full", http.StatusInternalServerError)
			return true
		}
		return false
	})
	failing := []byte("a layer that cannot be sent")
	if _, err := c.StageBlob(ctx, repo, blobDesc(failing), opener(failing)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if posts, deletes := tr.count("POST"), tr.count("DELETE"); posts == 0 || deletes != posts {
		t.Errorf("%d sessions opened, %d discarded", posts, deletes)
	}
	tr.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"read-only"}]}`, http.StatusForbidden)
			return true
		}
		return false
	})
	other := []byte("another layer")
	_, err = c.StageBlob(ctx, repo, blobDesc(other), opener(other))
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("err = %v, want ErrDenied", err)
	}
}

// slowReader hands out its content a little at a time.
type slowReader struct {
	data  []byte
	pause time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	n := copy(p[:min(len(p), 1024)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// The timeout bounds the wait for the registry's answer, not the sending
// of a blob: an upload that takes longer than it still succeeds.
func TestSlowUploadIsNotATimeout(t *testing.T) {
	ctx := context.Background()
	tr := newTestRegistry(t, false)
	c := testClient(WithTimeout(250*time.Millisecond), WithRetries(0))
	data := bytes.Repeat([]byte("slow"), 1024) // 4 KiB: 4 reads, 100ms apart
	slow := func(data []byte) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) {
			return io.NopCloser(&slowReader{data: data, pause: 100 * time.Millisecond}), nil
		}
	}
	if _, err := c.PushBlob(ctx, tr.repo("slow/app"), blobDesc(data), slow(data)); err != nil {
		t.Fatalf("push: %v", err)
	}
	data = bytes.Repeat([]byte("SLOW"), 1024) // registries share blobs across repositories
	st, err := c.StageBlob(ctx, tr.repo("slow/app"), blobDesc(data), slow(data))
	if err != nil {
		t.Fatalf("stage: %v", err)
	}
	if err := st.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
