package bundle

import (
	"errors"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	hex := strings.Repeat("a", 64)
	cases := []struct {
		in, want, repo string
	}{
		{"nginx", "docker.io/library/nginx", "docker.io/library/nginx"},
		{"nginx:1.27", "docker.io/library/nginx:1.27", "docker.io/library/nginx"},
		{"vendor/app:1.0", "docker.io/vendor/app:1.0", "docker.io/vendor/app"},
		{"docker.io/app:1.0", "docker.io/library/app:1.0", "docker.io/library/app"},
		{"index.docker.io/library/nginx:1.27", "docker.io/library/nginx:1.27", "docker.io/library/nginx"},
		{"registry-1.docker.io/library/nginx", "docker.io/library/nginx", "docker.io/library/nginx"},
		{"Registry.Example/team/app:v1", "registry.example/team/app:v1", "registry.example/team/app"},
		{"registry.example:443/team/app", "registry.example/team/app", "registry.example/team/app"},
		{"registry.example:5000/team/app", "registry.example:5000/team/app", "registry.example:5000/team/app"},
		{"localhost/app", "localhost/app", "localhost/app"},
		{"localhost:5000/a/b/c@sha256:" + hex, "localhost:5000/a/b/c@sha256:" + hex, "localhost:5000/a/b/c"},
		{"ghcr.io/org/app:1@sha256:" + hex, "ghcr.io/org/app:1@sha256:" + hex, "ghcr.io/org/app"},
		{"[::1]:5000/app", "[::1]:5000/app", "[::1]:5000/app"},
		{"a.b/x__y/z-1.2_3", "a.b/x__y/z-1.2_3", "a.b/x__y/z-1.2_3"},
	}
	for _, c := range cases {
		n, err := ParseName(c.in)
		if err != nil {
			t.Errorf("ParseName(%q): %v", c.in, err)
			continue
		}
		if n.String() != c.want || n.Repository() != c.repo {
			t.Errorf("ParseName(%q) = %s (%s), want %s (%s)", c.in, n, n.Repository(), c.want, c.repo)
		}
		again, err := ParseName(n.String())
		if err != nil || again != n {
			t.Errorf("ParseName(%q) is not canonical: %v %v", n, again, err)
		}
	}
	for _, bad := range []string{
		"", "registry.example/vendor/../app", "registry.example/vendor/./app", "registry.example/vendor//app",
		"registry.example/vendor/app/", "/app", "registry.example/", "registry.example/Vendor/app",
		"registry.example/app:", "registry.example/app:../../x", "registry.example/app:" + strings.Repeat("t", 129),
		"registry.example/app@sha256:abc", "registry.example/app@md5:" + hex, "registry.example/a b", "registry.example/app?x",
		"registry.example:/app", "registry.example:port/app", "-bad.example/app", "registry.example/" + strings.Repeat("a", 260),
		"[::1/app", "registry.example/app\\x",
	} {
		if n, err := ParseName(bad); !errors.Is(err, ErrInvalidName) || !errors.Is(err, ErrInvalidBundle) {
			t.Errorf("ParseName(%q) = %v, %v; want ErrInvalidName", bad, n, err)
		}
	}
}

// FuzzParseName: never panics, and what it accepts is canonical (parsing
// the result again gives the same name) and only of grammar characters.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{"nginx", "docker.io/app:1.0", "Index.Docker.IO/library/nginx:1.27", "localhost:5000/a/b@sha256:" + strings.Repeat("0", 64),
		"a/../b", "a//b", "a/b/", "[::1]:5000/x:y", "registry.example:443/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s)
		if err != nil {
			return
		}
		again, err := ParseName(n.String())
		if err != nil || again != n {
			t.Fatalf("%q -> %s -> %v, %v", s, n, again, err)
		}
		for _, c := range strings.Split(n.Path, "/") {
			if c == "" || c == "." || c == ".." {
				t.Fatalf("%q -> path %q", s, n.Path)
			}
		}
	})
}
