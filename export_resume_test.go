package airlock_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-oci/airlock"
	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/demo"
	"github.com/airlock-oci/airlock/internal/testenv"
)

// A connection dropped halfway through a blob does not fail the export:
// the registry client resumes the stream (Range when the registry honours
// it, else a fresh GET that skips what was delivered) and the bundle
// writer's check covers the whole blob.
func TestExportResumesDroppedBlob(t *testing.T) {
	for _, honour := range []bool{true, false} {
		t.Run("Range honoured "+strconv.FormatBool(honour), func(t *testing.T) {
			f := newFixture(t, demo.Options{})
			u, err := url.Parse(f.w.Source.URL)
			if err != nil {
				t.Fatal(err)
			}
			rp := httputil.NewSingleHostReverseProxy(u)
			var mu sync.Mutex
			dropped := map[string]bool{}
			var resumed []string // Range headers of the requests after a drop
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/sha256:") {
					rp.ServeHTTP(w, r)
					return
				}
				mu.Lock()
				first := !dropped[r.URL.Path]
				dropped[r.URL.Path] = true
				if !first {
					resumed = append(resumed, r.Header.Get("Range"))
				}
				mu.Unlock()
				if !honour {
					r.Header.Del("Range")
				}
				if !first {
					rp.ServeHTTP(w, r)
					return
				}
				testenv.DropHalfway(t, w, f.w.Source.URL+r.URL.Path)
			}))
			t.Cleanup(srv.Close)
			out := filepath.Join(f.dir, "resumed.tar")
			if _, err := airlock.Export(context.Background(), out, []string{strings.TrimPrefix(srv.URL, "http://") + "/vendor/app:1.0"}, f.tuf(), fastRetry); err != nil {
				t.Fatal(err)
			}
			r, err := bundle.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.VerifyBlobs(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			var ranged int
			for _, rg := range resumed {
				if strings.HasPrefix(rg, "bytes=") && rg != "bytes=0-" {
					ranged++
				}
			}
			// Small blobs may have been read whole before the drop; the
			// layers were not.
			if ranged == 0 {
				t.Errorf("no stream was resumed from where it broke (Range headers %q)", resumed)
			}
		})
	}
}
