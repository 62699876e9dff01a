package trust

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The real Sigstore public-good repository, as its mirror publishes it,
// copied byte for byte into testdata/ (see testdata/README.md).
func sigstoreFixture(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "testdata", "sigstore-tuf")
	if _, err := os.Stat(filepath.Join(dir, "metadata", "15.root.json")); err != nil {
		t.Fatalf("Sigstore TUF fixture missing from the repository: %v", err)
	}
	return dir
}

var fixtureDay = time.Date(2026, 8, 22, 12, 0, 0, 0, time.UTC)

const fixtureTrustedRoot = "targets/6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json"

func readFixture(t *testing.T, dir, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSigstoreFixture(t *testing.T) {
	offline(t)
	dir := sigstoreFixture(t)
	want := readFixture(t, dir, fixtureTrustedRoot)
	embedded, err := PublicGood()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(embedded.Root, readFixture(t, dir, "metadata/14.root.json")) {
		t.Log("embedded root is byte-identical to v14")
	}
	for _, tc := range []struct {
		name string
		root []byte
	}{
		{"from root v5", readFixture(t, dir, "metadata/5.root.json")},
		{"from the root sigstore-go embeds (v14, other whitespace)", embedded.Root},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if err := s.Init("sigstore", tc.root, "test"); err != nil {
				t.Fatal(err)
			}
			// As the import on 2026-08-22 would have seen it.
			res, err := s.Verify(DirFiles(dir), TimePolicy{Now: fixtureDay}, true)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.TrustedRoot, want) {
				t.Error("trusted_root.json differs from the production one")
			}
			if _, err := LoadTrustedRoot(res.TrustedRoot); err != nil {
				t.Error(err)
			}
			if len(res.Targets["registry.npmjs.org/keys.json"]) == 0 {
				t.Errorf("delegated target missing; targets %v", keys(res.Targets))
			}
			if r := res.Roles[0]; r.Name != "root" || r.Version != 15 {
				t.Errorf("root = %+v", r)
			}
			if r := res.Roles[1]; r.Name != "timestamp" || r.Version != 762 {
				t.Errorf("timestamp = %+v", r)
			}

			// Today (the real clock) it is refused: root v15 expired 2026-11-20.
			for _, st := range []time.Duration{0, 7 * day, 365 * day} {
				_, err = s.Verify(DirFiles(dir), TimePolicy{Now: time.Now(), MaxStaleness: st}, false)
				if !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "root v15 expired 2026-11-20T13:58:18Z") {
					t.Errorf("real clock, staleness %s: err = %v", st, err)
				}
			}
			// An audit as of 2026-08-22 reproduces the verification.
			res, err = s.Verify(DirFiles(dir), TimePolicy{Now: time.Now(), At: fixtureDay}, false)
			if err != nil || !res.Audit || !bytes.Equal(res.TrustedRoot, want) {
				t.Errorf("audit: %v", err)
			}
			// Six days after the timestamp expired, a 7 d window accepts it and says so.
			res, err = s.Verify(DirFiles(dir), TimePolicy{Now: time.Date(2026, 9, 3, 19, 25, 56, 0, time.UTC), MaxStaleness: 7 * day}, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Notes) != 1 || !strings.HasPrefix(res.Notes[0], "timestamp v762 expired 6d ago") {
				t.Errorf("notes = %q", res.Notes)
			}
		})
	}
}

// copyTree copies the fixture so that a test can break it.
func copyTree(t *testing.T, src string) string {
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestSigstoreFixtureBroken(t *testing.T) {
	offline(t)
	dir := sigstoreFixture(t)
	tests := []struct {
		name   string
		break_ func(t *testing.T, d string)
		want   []error
		msg    string
	}{
		{
			name:   "one root version removed",
			break_: func(t *testing.T, d string) { os.Remove(filepath.Join(d, "metadata", "10.root.json")) },
			want:   []error{ErrVerification, ErrNotFound},
			msg:    "root v10 is missing",
		},
		{
			name: "one byte of trusted_root.json changed",
			break_: func(t *testing.T, d string) {
				p := filepath.Join(d, filepath.FromSlash(fixtureTrustedRoot))
				b := readFixture(t, d, fixtureTrustedRoot)
				i := bytes.Index(b, []byte("rekor.sigstore.dev"))
				b[i] = 'R'
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: []error{ErrVerification},
			msg:  `target "trusted_root.json"`,
		},
		{
			name:   "snapshot removed",
			break_: func(t *testing.T, d string) { os.Remove(filepath.Join(d, "metadata", "165.snapshot.json")) },
			want:   []error{ErrVerification, ErrNotFound},
			msg:    "metadata/165.snapshot.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyTree(t, dir)
			tt.break_(t, d)
			s := newStore(t)
			if err := s.Init("sigstore", readFixture(t, dir, "metadata/5.root.json"), "test"); err != nil {
				t.Fatal(err)
			}
			_, err := s.Verify(DirFiles(d), TimePolicy{Now: fixtureDay}, true)
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want %v", err, w)
				}
			}
			if !strings.Contains(errString(err), tt.msg) {
				t.Errorf("err = %v, want it to say %q", err, tt.msg)
			}
		})
	}
}

// TestSigstoreFixtureCapture serves the fixture the way Sigstore's CDN does
// and captures it from root v5, as the connected side did on 2026-08-22.
func TestSigstoreFixtureCapture(t *testing.T) {
	dir := sigstoreFixture(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		if !strings.HasPrefix(p, "targets/") {
			p = "metadata/" + p
		}
		http.ServeFile(w, r, filepath.Join(dir, filepath.FromSlash(p)))
	}))
	defer srv.Close()
	c, err := Capture(context.Background(), Source{Name: "sigstore", URL: srv.URL, Root: readFixture(t, dir, "metadata/5.root.json")},
		WithHTTPClient(srv.Client()), WithUnsafeCaptureTime(fixtureDay), WithTargets("registry.npmjs.org/keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range c.Files {
		got = append(got, f.Path)
		if !bytes.Equal(f.Data, readFixture(t, dir, f.Path)) {
			t.Errorf("%s differs from the fixture", f.Path)
		}
	}
	if got[0] != "metadata/5.root.json" || got[10] != "metadata/15.root.json" || got[11] != "metadata/timestamp.json" {
		t.Errorf("files = %q", got)
	}
	wantTargets := []string{"signing_config.json", "signing_config.v0.2.json", "signing_config_rekor_v2.v0.2.json", "trusted_root.json", "registry.npmjs.org/keys.json"}
	if strings.Join(c.Targets, ",") != strings.Join(wantTargets, ",") {
		t.Errorf("targets = %q", c.Targets)
	}
	s := newStore(t)
	if err := s.Init("sigstore", readFixture(t, dir, "metadata/5.root.json"), "test"); err != nil {
		t.Fatal(err)
	}
	res, err := s.Verify(c.MemFiles(), TimePolicy{Now: fixtureDay}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.TrustedRoot, readFixture(t, dir, fixtureTrustedRoot)) {
		t.Error("trusted_root.json differs")
	}
}
