package registry

import (
	"context"
	"errors"
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
