package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/internal/testenv"
)

// TestRealRegistryResumesBlob drops the connection halfway through a blob
// served by a real distribution registry: the client resumes it with a
// Range request, which the registry answers with the rest (206).
func TestRealRegistryResumesBlob(t *testing.T) {
	if !testenv.Required() {
		t.Skip("slow (real registry): runs with AIRLOCK_E2E=1 (make test)")
	}
	reg := testenv.StartRegistry(t)
	u, err := url.Parse("http://" + reg.Host)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var gets []string // "Range -> status" of each blob GET
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && strings.Contains(resp.Request.URL.Path, "/blobs/sha256:") {
			mu.Lock()
			gets = append(gets, resp.Request.Header.Get("Range")+" -> "+resp.Status)
			mu.Unlock()
		}
		return nil
	}
	dropped := false
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		drop := !dropped && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
		dropped = dropped || drop
		mu.Unlock()
		if !drop {
			rp.ServeHTTP(w, r)
			return
		}
		testenv.DropHalfway(t, w, u.String()+r.URL.Path)
	}))
	t.Cleanup(proxy.Close)

	content := make([]byte, 4<<20)
	rand.Read(content)
	desc := blobDesc(content)
	desc.MediaType = types.OCILayer
	ctx := context.Background()
	host := strings.TrimPrefix(proxy.URL, "http://")
	c := testClient(WithInsecureRegistries(host, reg.Host))
	direct, err := name.NewRepository(reg.Host + "/resume/blob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PushBlob(ctx, direct, desc, opener(content)); err != nil {
		t.Fatal(err)
	}
	via, err := name.NewRepository(host + "/resume/blob")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.FetchBlob(ctx, via, desc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read %d of %d bytes: %v", len(got), len(content), err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gets) != 1 || !strings.HasPrefix(gets[0], "bytes=") || !strings.HasSuffix(gets[0], "206 Partial Content") {
		t.Errorf("blob GETs after the drop: %q, want one Range request answered 206", gets)
	}
}
