package main

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

const accessLog = `time="2026-11-28T12:13:36Z" level=info msg="listening on 127.0.0.1:5000"
127.0.0.1 - - [28/Nov/2026:12:13:36 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "airlock"
127.0.0.1 - - [28/Nov/2026:12:13:36 +0000] "GET /v2/cat/app7/manifests/v1 HTTP/1.1" 200 715 "" "airlock"
127.0.0.1 - - [28/Nov/2026:12:13:36 +0000] "GET /v2/cat/app7/blobs/sha256:bf51 HTTP/1.1" 200 461 "" "airlock"
127.0.0.1 - - [28/Nov/2026:12:13:36 +0000] "GET /v2/cat/app7/manifests/sha256-a5e3.sbom HTTP/1.1" 404 170 "" "airlock"
127.0.0.1 - - [28/Nov/2026:12:13:36 +0000] "GET /v2/cat/app7/blobs/sha256:dead HTTP/1.1" 404 157 "" "airlock"
127.0.0.1 - - [28/Nov/2026:12:13:36 +0000] "HEAD /v2/cat/app7/blobs/sha256:bf51 HTTP/1.1" 200 0 "" "airlock"
127.0.0.1 - - [28/Nov/2026:12:13:36 +0000] "GET /v2/cat/app8/blobs/sha256:0a6f HTTP/1.1" 200 186 "" "airlock"
`

func TestRequests(t *testing.T) {
	all, err := requests(strings.NewReader(accessLog), false)
	if err != nil {
		t.Fatal(err)
	}
	// The ping (GET /v2/) is left out.
	want := []string{"/v2/cat/app7/manifests/v1", "/v2/cat/app7/blobs/sha256:bf51", "/v2/cat/app7/manifests/sha256-a5e3.sbom",
		"/v2/cat/app7/blobs/sha256:dead", "/v2/cat/app8/blobs/sha256:0a6f"}
	if !slices.Equal(all, want) {
		t.Errorf("all GETs = %q, want %q", all, want)
	}
	blobs, err := requests(strings.NewReader(accessLog), true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/v2/cat/app7/blobs/sha256:bf51", "/v2/cat/app8/blobs/sha256:0a6f"}; !slices.Equal(blobs, want) {
		t.Errorf("blob GETs = %q, want %q", blobs, want)
	}
}

func TestRunSendsEveryRequestOnce(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path]++
		mu.Unlock()
		w.Write([]byte("body"))
	}))
	defer srv.Close()
	paths := []string{"/v2/a", "/v2/b", "/v2/c", "/v2/d", "/v2/e"}
	if _, err := run(srv.URL, paths, 2); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if got[p] != 1 {
			t.Errorf("%s sent %d times, want once (all: %v)", p, got[p], got)
		}
	}
	srv.Close()
	if _, err := run(srv.URL, paths, 2); err == nil {
		t.Error("a registry that is gone: no error")
	}
}
