package trust

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

var t0 = time.Now().UTC().Truncate(time.Second)

func TestVerifyBasic(t *testing.T) {
	offline(t)
	r := newRepo(t, t0)
	s := newStore(t)
	r.pin(t, s, "corp")
	res, err := s.Verify(r.bundle(), TimePolicy{Now: t0}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pin != "corp" || res.Audit || len(res.Notes) != 0 {
		t.Errorf("result = %+v", res)
	}
	if !bytes.Equal(res.TrustedRoot, r.files[mustTargetPath(t, r, "trusted_root.json")]) {
		t.Errorf("trusted root = %q", res.TrustedRoot)
	}
	if len(res.Targets) != 3 {
		t.Errorf("targets = %v", keys(res.Targets))
	}
	p, err := s.Show("corp")
	if err != nil {
		t.Fatal(err)
	}
	if p.LastUpdate.IsZero() || len(p.Roles) != 4 || p.Roles[1] != (Role{"timestamp", 1, r.timestamp.Signed.Expires.UTC()}) {
		t.Errorf("pin after update = %+v", p)
	}
}

func mustTargetPath(t *testing.T, r *testRepo, name string) string {
	t.Helper()
	tf := r.targets.Signed.Targets[name]
	if tf == nil {
		for _, d := range r.delegated {
			if tf = d.Signed.Targets[name]; tf != nil {
				break
			}
		}
	}
	p, err := targetPath(tf, r.root.Signed.ConsistentSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// fresh returns a repository whose root v1 is pinned as "corp" in a new store.
func fresh(t *testing.T) (*testRepo, *Store) {
	r := newRepo(t, t0)
	s := newStore(t)
	r.pin(t, s, "corp")
	return r, s
}

func accept(t *testing.T, s *Store, files Files, now time.Time) *Result {
	t.Helper()
	res, err := s.Verify(files, TimePolicy{Now: now}, true)
	if err != nil {
		t.Fatalf("accepting a good bundle: %v", err)
	}
	return res
}

// TestVerifyRefused: every way a bundle must be refused, each asserting the
// sentinel and the words an operator needs.
func TestVerifyRefused(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name  string
		setup func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy)
		want  []error
		msg   []string
	}{
		{
			name: "expired root, even with a long staleness window",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				return r.bundle(), TimePolicy{Now: t0.Add(366 * day), MaxStaleness: 400 * day}
			},
			want: []error{ErrExpired},
			msg:  []string{"root v1 expired", "no staleness allowance"},
		},
		{
			name: "expired timestamp, strict",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				return r.bundle(), TimePolicy{Now: t0.Add(8 * day)}
			},
			want: []error{ErrExpired},
			msg:  []string{"timestamp v1 expired", "1d before the reference time", "max staleness 0s"},
		},
		{
			name: "expired timestamp outside the staleness window",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				return r.bundle(), TimePolicy{Now: t0.Add(10 * day), MaxStaleness: 2 * day}
			},
			want: []error{ErrExpired},
			msg:  []string{"timestamp v1 expired", "3d before", "max staleness 2d"},
		},
		{
			name: "expired targets inside the online roles' staleness window",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				return r.bundle(), TimePolicy{Now: t0.Add(91 * day), MaxStaleness: 100 * day}
			},
			want: []error{ErrExpired},
			msg:  []string{"targets v1 expired"},
		},
		{
			name: "timestamp rollback",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				old := r.bundle()
				r.publish()
				accept(t, s, r.bundle(), t0)
				return old, TimePolicy{Now: t0}
			},
			want: []error{ErrRollback},
			msg:  []string{"timestamp went backwards: the bundle carries v1, v2 was accepted"},
		},
		{
			name: "snapshot rollback",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				r.publish()
				accept(t, s, r.bundle(), t0)
				r.timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(1)
				r.publishTimestamp()
				return r.bundle(), TimePolicy{Now: t0}
			},
			want: []error{ErrRollback},
			msg:  []string{"snapshot went backwards: the bundle carries v1, v2 was accepted"},
		},
		{
			name: "targets rollback",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				r.publish()
				accept(t, s, r.bundle(), t0)
				r.snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(1)
				r.snapshot.Signed.Version++
				r.publishSnapshot()
				return r.bundle(), TimePolicy{Now: t0}
			},
			want: []error{ErrRollback},
			msg:  []string{"targets went backwards: the bundle carries v1, v2 was accepted"},
		},
		{
			name: "root rollback",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				old := r.bundle()
				r.rotateRoot(func(*metadata.RootType) {}, r.keys["root"])
				r.publish()
				accept(t, s, r.bundle(), t0)
				return old, TimePolicy{Now: t0}
			},
			want: []error{ErrRollback},
			msg:  []string{`pin "corp": root went backwards: the bundle's newest root is v1, v2 was accepted`},
		},
		{
			name: "target hash mismatch",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				b := r.bundle()
				p := mustTargetPath(t, r, "trusted_root.json")
				b[p] = bytes.Replace(b[p], []byte("test"), []byte("tesT"), 1)
				return b, TimePolicy{Now: t0}
			},
			want: []error{ErrVerification},
			msg:  []string{`target "trusted_root.json"`, "does not match its targets metadata"},
		},
		{
			name: "trusted_root.json missing",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				b := r.bundle()
				delete(b, mustTargetPath(t, r, "trusted_root.json"))
				return b, TimePolicy{Now: t0}
			},
			want: []error{ErrNotFound},
			msg:  []string{"trusted_root.json"},
		},
		{
			name: "missing root version",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				r.rotateRoot(func(*metadata.RootType) {}, r.keys["root"])
				r.rotateRoot(func(*metadata.RootType) {}, r.keys["root"])
				r.publish()
				b := r.bundle()
				delete(b, metadataPath("root", 2))
				return b, TimePolicy{Now: t0}
			},
			want: []error{ErrVerification, ErrNotFound},
			msg:  []string{"gap: root v2 is missing between v1 and v3"},
		},
		{
			name: "chain does not include the pinned version",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				r.rotateRoot(func(*metadata.RootType) {}, r.keys["root"])
				r.rotateRoot(func(*metadata.RootType) {}, r.keys["root"])
				r.publish()
				b := r.bundle()
				delete(b, metadataPath("root", 1))
				delete(b, metadataPath("root", 2))
				return b, TimePolicy{Now: t0}
			},
			want: []error{ErrUntrusted},
			msg:  []string{"root chain v3 does not include the pinned root v1"},
		},
		{
			name: "root rotation not signed by the previous root",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				k := newKey(t)
				r.root.Signed.Version++
				r.root.Signed.Roles["root"].KeyIDs = nil
				if err := r.root.Signed.AddKey(tufKey(t, k), "root"); err != nil {
					t.Fatal(err)
				}
				sign(t, r.root, k) // the old root key does not sign
				r.files[metadataPath("root", 2)] = toBytes(t, r.root)
				return r.bundle(), TimePolicy{Now: t0}
			},
			want: []error{ErrVerification},
			msg:  []string{"checking metadata/2.root.json", "not enough signatures"},
		},
		{
			name: "new root threshold not met",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				k2 := newKey(t)
				old := r.keys["root"]
				r.root.Signed.Version++
				if err := r.root.Signed.AddKey(tufKey(t, k2), "root"); err != nil {
					t.Fatal(err)
				}
				r.root.Signed.Roles["root"].Threshold = 2
				sign(t, r.root, old...) // 1 of 2: enough for v1, not for v2 itself
				r.files[metadataPath("root", 2)] = toBytes(t, r.root)
				return r.bundle(), TimePolicy{Now: t0}
			},
			want: []error{ErrVerification},
			msg:  []string{"checking metadata/2.root.json", "got 1, want 2"},
		},
		{
			name: "timestamp over its size limit",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				b := r.bundle()
				b["metadata/timestamp.json"] = append(b["metadata/timestamp.json"], bytes.Repeat([]byte(" "), TimestampMaxLength)...)
				return b, TimePolicy{Now: t0}
			},
			want: []error{ErrTooLarge},
			msg:  []string{"metadata/timestamp.json"},
		},
		{
			name: "root over its size limit",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				b := r.bundle()
				b[metadataPath("root", 2)] = bytes.Repeat([]byte(" "), RootMaxLength+1)
				return b, TimePolicy{Now: t0}
			},
			want: []error{ErrTooLarge},
			msg:  []string{"metadata/2.root.json"},
		},
		{
			name: "snapshot longer than the timestamp says",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				data := r.files[metadataPath("snapshot", 1)]
				mf := metadata.MetaFile(1)
				mf.Length = int64(len(data)) - 1
				r.timestamp.Signed.Meta["snapshot.json"] = mf
				r.publishTimestamp()
				return r.bundle(), TimePolicy{Now: t0}
			},
			want: []error{ErrTooLarge},
		},
		{
			name: "timestamp signed by the wrong key",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				r.keys["timestamp"] = []ed25519.PrivateKey{newKey(t)}
				r.publishTimestamp()
				return r.bundle(), TimePolicy{Now: t0}
			},
			want: []error{ErrVerification},
			msg:  []string{"timestamp"},
		},
		{
			name: "source of another repository",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				return newRepo(t, t0).bundle(), TimePolicy{Now: t0}
			},
			want: []error{ErrUntrusted},
			msg:  []string{"matches no pin", `the bundle's root v1 differs from the pinned root v1`},
		},
		{
			name: "mix and match: our roots, another repository's timestamp",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				b := r.bundle()
				b["metadata/timestamp.json"] = newRepo(t, t0).files["metadata/timestamp.json"]
				return b, TimePolicy{Now: t0}
			},
			want: []error{ErrVerification},
		},
		{
			name: "no roots at all",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				return MemFiles{}, TimePolicy{Now: t0}
			},
			want: []error{ErrVerification, ErrNotFound},
			msg:  []string{"carries no metadata/<version>.root.json"},
		},
		{
			name: "no clock",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				return r.bundle(), TimePolicy{}
			},
			want: []error{ErrInvalid},
		},
		{
			name: "audit time in the future",
			setup: func(t *testing.T, r *testRepo, s *Store) (Files, TimePolicy) {
				return r.bundle(), TimePolicy{Now: t0, At: t0.Add(day)}
			},
			want: []error{ErrInvalid},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offline(t)
			r, s := fresh(t)
			files, tp := tt.setup(t, r, s)
			before, err := s.Show("corp")
			if err != nil {
				t.Fatal(err)
			}
			stateBefore := readState(t, s, "corp")
			res, err := s.Verify(files, tp, true)
			if err == nil {
				t.Fatalf("accepted: %+v", res)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q is not %v", err, w)
				}
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
			after, err := s.Show("corp")
			if err != nil {
				t.Fatal(err)
			}
			if !before.LastUpdate.Equal(after.LastUpdate) || len(before.Roles) != len(after.Roles) {
				t.Errorf("a refused bundle changed the pin: %+v -> %+v", before, after)
			}
			if st := readState(t, s, "corp"); !maps.Equal(st, stateBefore) {
				t.Errorf("a refused bundle changed the persisted state")
			}
		})
	}
}

func readState(t *testing.T, s *Store, name string) map[string]string {
	t.Helper()
	dir := filepath.Join(s.Dir(), "pins", name, "state")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}
