package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/airlock-oci/airlock/artifact"
)

type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.pass}), nil
}

func TestAuth(t *testing.T) {
	for _, scheme := range []string{"basic", "bearer"} {
		t.Run(scheme, func(t *testing.T) {
			ctx := context.Background()
			reg := newTestRegistry(t, true)
			f := setupMulti(t, reg)
			sig := reg.pushCosignSig(f.repo, f.amd.Digest)
			var mu sync.Mutex
			var scopes []string
			reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path == "/token" {
					u, p, ok := r.BasicAuth()
					if !ok || u != "alice" || p != "secret" {
						w.WriteHeader(http.StatusUnauthorized)
						return true
					}
					mu.Lock()
					scopes = append(scopes, r.URL.Query()["scope"]...)
					mu.Unlock()
					w.Header().Set("Content-Type", "application/json")
					w.Write([]byte(`{"token":"tok-123"}`))
					return true
				}
				if scheme == "basic" {
					if u, p, ok := r.BasicAuth(); ok && u == "alice" && p == "secret" {
						return false
					}
					w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				} else {
					if r.Header.Get("Authorization") == "Bearer tok-123" {
						return false
					}
					w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="test"`)
				}
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
				return true
			})
			d, err := testClient(WithKeychain(staticKeychain{"alice", "secret"})).Discover(ctx, f.repo.Tag("latest"), DiscoverOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(findAttached(d, f.amd.Digest, artifact.KindCosignSignature)) != 1 || findAttached(d, f.amd.Digest, artifact.KindCosignSignature)[0].Manifest.Digest != sig.Digest {
				t.Errorf("signature not found with credentials: %v", kinds(d))
			}
			mu.Lock()
			got := slices.Clone(scopes)
			mu.Unlock()
			if scheme == "bearer" && (len(got) == 0 || !strings.Contains(got[0], "repository:multi:pull")) {
				t.Errorf("token scopes = %v", got)
			}
			_, err = testClient(WithKeychain(staticKeychain{"alice", "wrong"})).Discover(ctx, f.repo.Tag("latest"), DiscoverOptions{})
			if !errors.Is(err, ErrUnauthorized) {
				t.Errorf("wrong credentials: %v", err)
			}
			_, err = testClient().Discover(ctx, f.repo.Tag("latest"), DiscoverOptions{})
			if !errors.Is(err, ErrUnauthorized) {
				t.Errorf("anonymous: %v", err)
			}
		})
	}
}

// TestBearerScopePerRepository: the registry is pinged once, yet every
// repository fetches a token of its own scope (a mount adds the source's
// pull scope), a token is only good for its own repository, and a
// repository the token server refuses is still an error.
func TestBearerScopePerRepository(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, false)
	refs := reg.catalogue(t, 4)
	denied := reg.repo("cat/denied")
	reg.writeImage(denied, "latest", randomImage(t, "linux", "amd64"))
	content := []byte("mounted")
	desc := reg.putBlob(refs[0].Context(), "application/octet-stream", content)
	reg.resetLog()
	var mu sync.Mutex
	var scopes [][]string
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			want := r.URL.Query()["scope"]
			if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "secret" || slices.ContainsFunc(want, func(s string) bool { return strings.Contains(s, "denied") }) {
				w.WriteHeader(http.StatusUnauthorized)
				return true
			}
			mu.Lock()
			scopes = append(scopes, want)
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"token":"tok ` + strings.Join(want, " ") + `"}`))
			return true
		}
		// A token is good for the repositories its scopes name.
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer tok "); ok && r.URL.Path != "/v2/" {
			for s := range strings.FieldsSeq(tok) {
				if repo := strings.Split(s, ":")[1]; strings.HasPrefix(r.URL.Path, "/v2/"+repo+"/") {
					return false
				}
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
		return true
	})
	c := testClient(WithKeychain(staticKeychain{"alice", "secret"}))
	for _, ref := range refs {
		if _, err := c.Resolve(ctx, ref); err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
	}
	if _, err := c.Resolve(ctx, denied.Tag("latest")); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("repository refused by the token server: %v, want ErrUnauthorized", err)
	}
	dst := reg.repo("mirror/one")
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }
	if _, err := c.PushBlob(ctx, dst, desc, open, refs[0].Context()); err != nil {
		t.Fatalf("push with mount: %v", err)
	}
	if got := reg.pings(); got != 1 {
		t.Errorf("pings = %d, want 1 for the whole registry", got)
	}
	mu.Lock()
	got := slices.Clone(scopes)
	mu.Unlock()
	var want [][]string
	for _, ref := range refs {
		want = append(want, []string{"repository:" + ref.Context().RepositoryStr() + ":pull"})
	}
	want = append(want, []string{"repository:cat/r0:pull", "repository:mirror/one:push,pull"})
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("token scopes:\n got %q\nwant %q", got, want)
	}
}
