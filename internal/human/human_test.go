package human

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPlatform(t *testing.T) {
	for _, tc := range []struct {
		p    v1.Platform
		want string
	}{
		{v1.Platform{OS: "linux", Architecture: "amd64"}, "linux/amd64"},
		{v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, "linux/arm64/v8"},
	} {
		if got := Platform(tc.p); got != tc.want {
			t.Errorf("Platform(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}
