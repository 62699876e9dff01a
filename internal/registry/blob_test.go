package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A blob stream that breaks is resumed by the client itself, under its
// retry policy, whether or not the registry honours Range; the digest is
// checked over the whole stream as delivered.
func TestFetchBlobResumes(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	tests := []struct {
		name      string
		drops     int  // answers cut halfway through
		honour    bool // serve Range requests with 206
		refuse    bool // answer Range requests with 416
		tamper    bool // the resumed answer has other bytes
		want      error
		wantGets  int
		wantRange bool
	}{
		{"Range honoured", 1, true, false, false, nil, 2, true},
		{"Range ignored: skip what was delivered", 1, false, false, false, nil, 2, true},
		{"Range refused: ask again without", 1, false, true, false, nil, 3, true},
		{"two drops", 2, true, false, false, nil, 3, true},
		{"resumed with other bytes", 1, true, false, true, ErrDigestMismatch, 2, true},
		{"always dropped", 100, true, false, false, ErrUnavailable, 3, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			reg := newTestRegistry(t, true)
			repo := reg.repo("resume")
			desc := reg.putBlob(repo, types.OCILayer, content)
			var mu sync.Mutex
			var ranges []string
			var partial int
			reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
					return false
				}
				mu.Lock()
				ranges = append(ranges, r.Header.Get("Range"))
				n := len(ranges)
				mu.Unlock()
				body := content
				if tc.tamper && n > 1 {
					body = bytes.Clone(content)
					body[len(body)-10] ^= 1
				}
				if tc.refuse && r.Header.Get("Range") != "" {
					w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
					return true
				}
				if n <= tc.drops {
					// Announce everything, send half, drop the connection.
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
					w.WriteHeader(http.StatusOK)
					w.Write(body[:len(body)/2])
					w.(http.Flusher).Flush()
					if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
						conn.Close()
					}
					return true
				}
				if tc.honour {
					rec := httptest.NewRecorder()
					http.ServeContent(rec, r, "", time.Time{}, bytes.NewReader(body))
					if rec.Code == http.StatusPartialContent {
						mu.Lock()
						partial++
						mu.Unlock()
					}
					for k, v := range rec.Header() {
						w.Header()[k] = v
					}
					w.WriteHeader(rec.Code)
					w.Write(rec.Body.Bytes())
					return true
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.Write(body) // Range ignored: 200 with all of it
				return true
			})
			rc, err := testClient().FetchBlob(ctx, repo, desc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if tc.want == nil {
				if err != nil || !bytes.Equal(got, content) {
					t.Fatalf("read %d of %d bytes: %v", len(got), len(content), err)
				}
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(ranges) != tc.wantGets {
				t.Errorf("%d GETs (Range %q), want %d", len(ranges), ranges, tc.wantGets)
			}
			if ranges[0] != "" {
				t.Errorf("first GET asked for Range %q", ranges[0])
			}
			for i, rg := range ranges[1:] {
				if tc.refuse && i == 1 {
					if rg != "" {
						t.Errorf("asked for Range %q again after a 416", rg)
					}
					continue
				}
				if !strings.HasPrefix(rg, "bytes=") || rg == "bytes=0-" {
					t.Errorf("a resumption asked for Range %q, want the bytes after those delivered", rg)
				}
			}
			if tc.honour && tc.want == nil && partial != 1 {
				t.Errorf("%d partial answers, want 1", partial)
			}
		})
	}
}

// A registry that answers a Range request with a range other than the one
// asked for is an error, not content to splice in.
func TestFetchBlobWrongContentRange(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, true)
	repo := reg.repo("resume")
	content := bytes.Repeat([]byte("x"), 256<<10)
	desc := reg.putBlob(repo, types.OCILayer, content)
	var n int
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			return false
		}
		if n++; n == 1 {
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			w.Write(content[:1000])
			w.(http.Flusher).Flush()
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return true
		}
		w.Header().Set("Content-Range", "bytes 0-"+strconv.Itoa(len(content)-1)+"/"+strconv.Itoa(len(content)))
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(content)
		return true
	})
	rc, err := testClient().FetchBlobUnsafeUnhashed(ctx, repo, desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "Content-Range") {
		t.Errorf("err = %v, want the wrong Content-Range refused", err)
	}
}
