package airlock_test

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-oci/airlock"
)

// TestKeylessOptionErrors: the library refuses a key and keyless
// signing together, in either order, and a keyless configuration it could
// not honour, before contacting anything.
func TestKeylessOptionErrors(t *testing.T) {
	dir := t.TempDir()
	key, _ := cosignKeyPair(t, dir, "exporter", "pw")
	token := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256"}`)) + ".e30.c2ln"
	k := airlock.Keyless{IDToken: token, FulcioURL: "https://fulcio.example", RekorURL: "https://rekor.example"}
	out := filepath.Join(dir, "b.tar")
	for name, tc := range map[string]struct {
		opts []airlock.Option
		want string
	}{
		"key then keyless": {[]airlock.Option{airlock.WithSignKey(key, password("pw")), airlock.WithKeyless(k)}, "exclude each other"},
		"keyless then key": {[]airlock.Option{airlock.WithKeyless(k), airlock.WithSignKey(key, password("pw"))}, "exclude each other"},
		"no token":         {[]airlock.Option{airlock.WithKeyless(airlock.Keyless{FulcioURL: k.FulcioURL, RekorURL: k.RekorURL})}, "no identity token"},
		"not a JWT":        {[]airlock.Option{airlock.WithKeyless(airlock.Keyless{IDToken: "abc", FulcioURL: k.FulcioURL, RekorURL: k.RekorURL})}, "not a JWT"},
		"no log":           {[]airlock.Option{airlock.WithKeyless(airlock.Keyless{IDToken: token, FulcioURL: k.FulcioURL})}, "no transparency log"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := airlock.Export(context.Background(), out, []string{"127.0.0.1:1/a:v1"}, tc.opts...)
			if !errors.Is(err, airlock.ErrUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a usage error saying %q", err, tc.want)
			}
		})
	}
}
