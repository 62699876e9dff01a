package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/airlock-oci/airlock"
)

// keychain builds the registry credentials of --creds and --authfile, tried
// in that order before the docker config and credential helpers. It
// returns nil when neither is given (the library's default applies).
func keychain(creds, authfile string) (authn.Keychain, error) {
	var chain []authn.Keychain
	if creds != "" {
		user, pass, ok := strings.Cut(creds, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%w: --creds: want USER:PASS", airlock.ErrUsage)
		}
		chain = append(chain, staticKeychain{authn.FromConfig(authn.AuthConfig{Username: user, Password: pass})})
	}
	if authfile != "" {
		k, err := readAuthFile(authfile)
		if err != nil {
			return nil, err
		}
		chain = append(chain, k)
	}
	if len(chain) == 0 {
		return nil, nil
	}
	return authn.NewMultiKeychain(append(chain, authn.DefaultKeychain)...), nil
}

type staticKeychain struct{ auth authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

// fileKeychain reads the "auths" of a docker config.json (the format of
// skopeo's and podman's --authfile). Credential helpers named in it are not
// run.
type fileKeychain map[string]authn.AuthConfig

func readAuthFile(path string) (fileKeychain, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --authfile: %v", airlock.ErrUsage, err)
	}
	var f struct {
		Auths map[string]authn.AuthConfig `json:"auths"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: --authfile %s: not a docker config.json: %v", airlock.ErrUsage, path, err)
	}
	k := fileKeychain{}
	for host, a := range f.Auths {
		k[normalizeAuthKey(host)] = a
	}
	return k, nil
}

// normalizeAuthKey turns "https://index.docker.io/v1/" or
// "https://registry.example.com" into the registry host.
func normalizeAuthKey(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	if s == "docker.io" || s == "registry-1.docker.io" {
		s = "index.docker.io"
	}
	return s
}

func (k fileKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if a, ok := k[normalizeAuthKey(r.RegistryStr())]; ok {
		return authn.FromConfig(a), nil
	}
	return authn.Anonymous, nil
}
