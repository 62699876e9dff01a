package trust

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func paths(c *Captured) []string {
	var out []string
	for _, f := range c.Files {
		out = append(out, f.Path)
	}
	return out
}

func TestCaptureVerifyRoundTrip(t *testing.T) {
	r := newRepo(t, t0)
	r.delegate("npm", "npm/*")
	r.addTargetTo("npm", "npm/keys.json", []byte(`{"k":1}`))
	r.rotateRoot(func(*metadata.RootType) {}, r.keys["root"])
	r.publish()
	srv, _ := r.serve(t)

	c, err := Capture(context.Background(), Source{Name: "corp", URL: srv.URL, Root: r.rootBytes(1)},
		WithHTTPClient(srv.Client()), WithTargets("npm/keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"metadata/1.root.json", "metadata/2.root.json", "metadata/timestamp.json",
		"metadata/2.snapshot.json", "metadata/2.targets.json", "metadata/1.npm.json",
		mustTargetPath(t, r, "signing_config.v0.2.json"), mustTargetPath(t, r, "trusted_root.json"),
		mustTargetPath(t, r, "npm/keys.json"),
	}
	if got := paths(c); !slices.Equal(got, want) {
		t.Errorf("captured files\n got %q\nwant %q", got, want)
	}
	for _, f := range c.Files {
		if !bytes.Equal(f.Data, r.files[f.Path]) {
			t.Errorf("%s differs from the repository", f.Path)
		}
	}
	if !slices.Equal(c.Targets, []string{"signing_config.v0.2.json", "trusted_root.json", "npm/keys.json"}) {
		t.Errorf("targets = %q", c.Targets)
	}
	if len(c.Roles) != 5 || c.Roles[0] != (Role{"root", 2, r.root.Signed.Expires.UTC()}) || c.Roles[4].Name != "npm" {
		t.Errorf("roles = %+v", c.Roles)
	}

	// Across the gap: nothing but the captured files and the pin.
	s := newStore(t)
	r.pin(t, s, "corp")
	before := dials.Load()
	res, err := s.Verify(c.MemFiles(), TimePolicy{Now: time.Now()}, true)
	if err != nil {
		t.Fatal(err)
	}
	if dials.Load() != before {
		t.Error("Verify dialled")
	}
	if !bytes.Equal(res.TrustedRoot, r.files[mustTargetPath(t, r, "trusted_root.json")]) || string(res.Targets["npm/keys.json"]) != `{"k":1}` {
		t.Errorf("result targets %v", keys(res.Targets))
	}
	if _, ok := res.Targets["unrelated.txt"]; ok {
		t.Error("a target that was not captured appeared")
	}
}

func TestCaptureOlderRoots(t *testing.T) {
	r := newRepo(t, t0)
	r.rotateRoot(func(*metadata.RootType) {}, r.keys["root"])
	r.rotateRoot(func(*metadata.RootType) {}, r.keys["root"])
	r.publish()
	srv, _ := r.serve(t)
	// Captured from v2, the bundle still serves a far side pinned at v1.
	var logs bytes.Buffer
	c, err := Capture(context.Background(), Source{Name: "corp", URL: srv.URL + "/", Root: r.rootBytes(2)}, WithHTTPClient(srv.Client()),
		WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "captured TUF repository") {
		t.Errorf("log = %q", logs.String())
	}
	got := paths(c)
	if !slices.Equal(got[:3], []string{"metadata/1.root.json", "metadata/2.root.json", "metadata/3.root.json"}) {
		t.Errorf("roots = %q", got)
	}
	s := newStore(t)
	r.pin(t, s, "corp")
	if _, err := s.Verify(c.MemFiles(), TimePolicy{Now: time.Now()}, false); err != nil {
		t.Error(err)
	}
}

func TestCaptureRefused(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, r *testRepo) (Source, []CaptureOption)
		want   error
		msg    string
	}{
		{
			name: "tampered target",
			mutate: func(t *testing.T, r *testRepo) (Source, []CaptureOption) {
				r.files[mustTargetPath(t, r, "trusted_root.json")] = []byte(`{"evil":true}`)
				return Source{Root: r.rootBytes(1)}, nil
			},
			want: ErrVerification, msg: `target "trusted_root.json"`,
		},
		{
			name: "expired timestamp",
			mutate: func(t *testing.T, r *testRepo) (Source, []CaptureOption) {
				return Source{Root: r.rootBytes(1)}, []CaptureOption{WithUnsafeCaptureTime(t0.Add(8 * day))}
			},
			want: ErrExpired,
		},
		{
			name: "unknown target",
			mutate: func(t *testing.T, r *testRepo) (Source, []CaptureOption) {
				return Source{Root: r.rootBytes(1)}, []CaptureOption{WithTargets("nope.json")}
			},
			want: ErrNotFound, msg: "nope.json",
		},
		{
			name: "target name escaping the tree",
			mutate: func(t *testing.T, r *testRepo) (Source, []CaptureOption) {
				return Source{Root: r.rootBytes(1)}, []CaptureOption{WithTargets("../x")}
			},
			want: ErrInvalid,
		},
		{
			name: "root of another repository",
			mutate: func(t *testing.T, r *testRepo) (Source, []CaptureOption) {
				return Source{Root: newRepo(t, t0).rootBytes(1)}, nil
			},
			want: ErrVerification,
		},
		{
			name: "not a root",
			mutate: func(t *testing.T, r *testRepo) (Source, []CaptureOption) {
				return Source{Root: []byte("{}")}, nil
			},
			want: ErrInvalid,
		},
		{
			name: "oversized timestamp",
			mutate: func(t *testing.T, r *testRepo) (Source, []CaptureOption) {
				r.files["metadata/timestamp.json"] = bytes.Repeat([]byte(" "), TimestampMaxLength+1)
				return Source{Root: r.rootBytes(1)}, nil
			},
			want: ErrTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, t0)
			srv, _ := r.serve(t)
			src, opts := tt.mutate(t, r)
			src.Name, src.URL = "corp", srv.URL
			_, err := Capture(context.Background(), src, append(opts, WithHTTPClient(srv.Client()))...)
			if !errors.Is(err, tt.want) || !strings.Contains(errString(err), tt.msg) {
				t.Errorf("err = %v, want %v saying %q", err, tt.want, tt.msg)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestCaptureContextAndURL(t *testing.T) {
	r := newRepo(t, t0)
	srv, _ := r.serve(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Capture(ctx, Source{Name: "corp", URL: srv.URL, Root: r.rootBytes(1)}, WithHTTPClient(srv.Client()))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	_, err = Capture(context.Background(), Source{Name: "corp", URL: "file:///etc", Root: r.rootBytes(1)})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("file URL: err = %v", err)
	}
	// The default client goes through http.DefaultTransport, which this
	// test binary makes refuse: Capture reports a fetch error.
	before := dials.Load()
	_, err = Capture(context.Background(), Source{Name: "corp", URL: "http://tuf.invalid.example", Root: r.rootBytes(1)},
		WithTransport(http.DefaultTransport))
	if !errors.Is(err, ErrFetch) || !errors.Is(err, errNoNetwork) {
		t.Errorf("refused network: err = %v", err)
	}
	dials.Store(before) // that dial was the point of this test
}

func TestPublicGood(t *testing.T) {
	src, err := PublicGood()
	if err != nil {
		t.Fatal(err)
	}
	if src.Name != "sigstore" || src.URL != "https://tuf-repo-cdn.sigstore.dev" {
		t.Errorf("source = %s %s", src.Name, src.URL)
	}
	r, err := parseRoot(src.Root)
	if err != nil {
		t.Fatal(err)
	}
	if r.Signed.Version < 5 {
		t.Errorf("embedded root v%d", r.Signed.Version)
	}
}

// A repository without consistent snapshots: metadata/snapshot.json,
// metadata/targets.json, targets/<name>.
func TestCaptureVerifyNotConsistent(t *testing.T) {
	r := newRepoWith(t, t0, false)
	r.publish()
	srv, _ := r.serve(t)
	c, err := Capture(context.Background(), Source{Name: "plain", URL: srv.URL, Root: r.rootBytes(1)}, WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"metadata/1.root.json", "metadata/timestamp.json", "metadata/snapshot.json", "metadata/targets.json",
		"targets/signing_config.v0.2.json", "targets/trusted_root.json"}
	if got := paths(c); !slices.Equal(got, want) {
		t.Errorf("files = %q", got)
	}
	s := newStore(t)
	r.pin(t, s, "plain")
	res, err := s.Verify(c.MemFiles(), TimePolicy{Now: time.Now()}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Roles[2] != (Role{"snapshot", 2, r.snapshot.Signed.Expires.UTC()}) {
		t.Errorf("roles = %+v", res.Roles)
	}
	b := c.MemFiles()
	b["targets/trusted_root.json"] = []byte("{}")
	if _, err := s.Verify(b, TimePolicy{Now: time.Now()}, false); !errors.Is(err, ErrVerification) {
		t.Errorf("tampered: %v", err)
	}
}
