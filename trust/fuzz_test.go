package trust

import (
	"bytes"
	"maps"
	"testing"
	"time"
)

func FuzzLoadPublicKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("nope"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := LoadPublicKey(data)
		if (k == nil) == (err == nil) {
			t.Fatalf("key %v with err %v", k, err)
		}
	})
}

func FuzzLoadTrustedRoot(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`))
	f.Add([]byte(`{"tlogs":[{"publicKey":{"rawBytes":"AA=="}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := LoadTrustedRoot(data)
		if (tr == nil) == (err == nil) {
			t.Fatalf("root %v with err %v", tr, err)
		}
	})
}

// FuzzVerify replaces one file of a good bundle with fuzzed bytes: Verify
// must not panic, and whatever it accepts must be the genuine trusted root.
func FuzzVerify(f *testing.F) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newRepo(f, t0)
	r.delegate("npm", "npm/*")
	r.addTargetTo("npm", "npm/keys.json", []byte(`{}`))
	r.publish()
	s, err := OpenStore(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Init("corp", r.rootBytes(1), "fuzz"); err != nil {
		f.Fatal(err)
	}
	good := r.bundle()
	var paths []string
	for p := range good {
		paths = append(paths, p)
	}
	// Deterministic order for the index.
	sortStrings(paths)
	genuine := good[mustTargetPathB(f, r, "trusted_root.json")]
	for i, p := range paths {
		f.Add(uint8(i), good[p])
		f.Add(uint8(i), []byte("{}"))
	}
	f.Add(uint8(0), []byte(`{"signed":{"_type":"root","version":2},"signatures":[]}`))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		b := maps.Clone(good)
		b[paths[int(which)%len(paths)]] = data
		res, err := s.Verify(b, TimePolicy{Now: t0.Add(time.Hour)}, false)
		if err == nil && !bytes.Equal(res.TrustedRoot, genuine) {
			t.Fatalf("accepted a trusted root that is not the genuine one")
		}
	})
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func mustTargetPathB(tb testing.TB, r *testRepo, name string) string {
	p, err := targetPath(r.targets.Signed.Targets[name], true)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
