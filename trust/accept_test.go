package trust

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

const day = 24 * time.Hour

func TestVerifyRootRotation(t *testing.T) {
	offline(t)
	r, s := fresh(t)
	// v2: threshold change, one root key to two, threshold 2.
	k1, k2 := r.keys["root"][0], newKey(t)
	r.rotateRoot(func(root *metadata.RootType) {
		if err := root.AddKey(tufKey(t, k2), "root"); err != nil {
			t.Fatal(err)
		}
		root.Roles["root"].Threshold = 2
	}, []ed25519.PrivateKey{k1, k2})
	// v3: key replacement: both root keys and the timestamp key replaced.
	k3, k4, ts := newKey(t), newKey(t), newKey(t)
	r.rotateRoot(func(root *metadata.RootType) {
		for _, k := range []ed25519.PrivateKey{k1, k2} {
			if err := root.RevokeKey(keyID(t, k), "root"); err != nil {
				t.Fatal(err)
			}
		}
		if err := root.RevokeKey(keyID(t, r.keys["timestamp"][0]), "timestamp"); err != nil {
			t.Fatal(err)
		}
		for _, k := range []ed25519.PrivateKey{k3, k4} {
			if err := root.AddKey(tufKey(t, k), "root"); err != nil {
				t.Fatal(err)
			}
		}
		if err := root.AddKey(tufKey(t, ts), "timestamp"); err != nil {
			t.Fatal(err)
		}
	}, []ed25519.PrivateKey{k3, k4})
	r.keys["timestamp"] = []ed25519.PrivateKey{ts}
	r.publish()

	// A timestamp still signed by the revoked key is refused.
	stale := r.bundle()
	old := r.keys["timestamp"]
	r.keys["timestamp"] = []ed25519.PrivateKey{k1}
	r.publishTimestamp()
	if _, err := s.Verify(r.bundle(), TimePolicy{Now: t0}, false); !errors.Is(err, ErrVerification) {
		t.Errorf("timestamp signed by a revoked key: err = %v", err)
	}
	r.keys["timestamp"] = old
	r.publishTimestamp()

	res := accept(t, s, stale, t0)
	if got := res.Roles[0]; got.Name != "root" || got.Version != 3 {
		t.Errorf("root after rotation = %+v", got)
	}
	p, err := s.Show("corp")
	if err != nil {
		t.Fatal(err)
	}
	if p.Root().Version != 3 {
		t.Errorf("pin root = %+v", p.Root())
	}
	for v := int64(1); v <= 3; v++ {
		got, err := os.ReadFile(filepath.Join(s.Dir(), "pins", "corp", "roots", rootFile(v)))
		if err != nil || !bytes.Equal(got, r.rootBytes(v)) {
			t.Errorf("root history v%d: %v", v, err)
		}
	}
	// The pin now starts from v3: a bundle with only v3 onwards matches it.
	b := r.bundle()
	delete(b, metadataPath("root", 1))
	delete(b, metadataPath("root", 2))
	if _, err := s.Verify(b, TimePolicy{Now: t0}, false); err != nil {
		t.Errorf("bundle from v3 after accepting v3: %v", err)
	}
}

func TestVerifyStaleness(t *testing.T) {
	offline(t)
	r, s := fresh(t)
	res, err := s.Verify(r.bundle(), TimePolicy{Now: t0.Add(8*day + 4*time.Hour), MaxStaleness: 2 * day}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "timestamp v1 expired 1d4h ago"
	if len(res.Notes) != 1 || !strings.HasPrefix(res.Notes[0], want) || !strings.Contains(res.Notes[0], "accepted within max staleness 2d") {
		t.Errorf("notes = %q, want one starting %q", res.Notes, want)
	}
	// Snapshot (30 d) too, with a long window; targets (90 d) still fresh.
	res, err = s.Verify(r.bundle(), TimePolicy{Now: t0.Add(31 * day), MaxStaleness: 30 * day}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 2 || !strings.HasPrefix(res.Notes[1], "snapshot v1 expired 1d ago") {
		t.Errorf("notes = %q", res.Notes)
	}
}

func TestVerifyDryRunDoesNotPersist(t *testing.T) {
	offline(t)
	r, s := fresh(t)
	old := r.bundle()
	r.publish()
	if _, err := s.Verify(r.bundle(), TimePolicy{Now: t0}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(old, TimePolicy{Now: t0}, false); err != nil {
		t.Errorf("after a dry run the older bundle must still verify: %v", err)
	}
	p, _ := s.Show("corp")
	if !p.LastUpdate.IsZero() {
		t.Errorf("dry run set LastUpdate %v", p.LastUpdate)
	}
	accept(t, s, r.bundle(), t0)
	// Same bundle again: equal versions are fine.
	accept(t, s, r.bundle(), t0)
	if _, err := s.Verify(old, TimePolicy{Now: t0}, false); !errors.Is(err, ErrRollback) {
		t.Errorf("older bundle after persisting: err = %v", err)
	}
}

func TestVerifyAudit(t *testing.T) {
	offline(t)
	r, s := fresh(t)
	old := r.bundle()
	r.publish()
	accept(t, s, r.bundle(), t0)
	// Months later the old bundle is long expired and older than the state;
	// an audit as of its import time reproduces the verification.
	now := t0.Add(120 * day)
	if _, err := s.Verify(old, TimePolicy{Now: now}, false); err == nil {
		t.Fatal("old bundle verified at the real clock")
	}
	res, err := s.Verify(old, TimePolicy{Now: now, At: t0.Add(time.Hour)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Audit || len(res.Notes) == 0 || !strings.HasPrefix(res.Notes[0], "audit: verified as of ") {
		t.Errorf("audit result = %+v", res)
	}
	if _, err := s.Verify(old, TimePolicy{Now: now, At: t0.Add(time.Hour)}, true); !errors.Is(err, ErrInvalid) {
		t.Errorf("persisting an audit: err = %v", err)
	}
	// An audit at a time the bundle was already expired still fails.
	if _, err := s.Verify(old, TimePolicy{Now: now, At: t0.Add(8 * day)}, false); !errors.Is(err, ErrExpired) {
		t.Errorf("audit after expiry: err = %v", err)
	}
}

func TestVerifyDelegatedRole(t *testing.T) {
	offline(t)
	r, s := fresh(t)
	r.delegate("npm", "npm/*")
	r.addTargetTo("npm", "npm/keys.json", []byte(`{"keys":[]}`))
	r.addTargetTo("npm", "other/outside.json", []byte(`{}`)) // not in its paths
	r.publish()
	res := accept(t, s, r.bundle(), t0)
	if string(res.Targets["npm/keys.json"]) != `{"keys":[]}` {
		t.Errorf("delegated target = %q (targets %v)", res.Targets["npm/keys.json"], keys(res.Targets))
	}
	if _, ok := res.Targets["other/outside.json"]; ok {
		t.Error("a target outside the delegated role's paths was accepted")
	}
	if !slices.ContainsFunc(res.Roles, func(r Role) bool { return r.Name == "npm" && r.Version == 1 }) {
		t.Errorf("roles = %+v", res.Roles)
	}

	// A tampered delegated target, and a delegated role signed by the wrong key.
	b := r.bundle()
	b[mustTargetPath(t, r, "npm/keys.json")] = []byte(`{"keys":[1]}`)
	if _, err := s.Verify(b, TimePolicy{Now: t0}, false); !errors.Is(err, ErrVerification) {
		t.Errorf("tampered delegated target: err = %v", err)
	}
	r.dkeys["npm"] = newKey(t)
	r.publish()
	if _, err := s.Verify(r.bundle(), TimePolicy{Now: t0}, false); !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), `delegated role "npm"`) {
		t.Errorf("delegated role with a wrong key: err = %v", err)
	}
	// A delegated role the bundle does not carry is fine unless asked for.
	b = r.bundle()
	for p := range b {
		if strings.HasSuffix(p, ".npm.json") {
			delete(b, p)
		}
	}
	if _, err := s.Verify(b, TimePolicy{Now: t0}, false); err != nil {
		t.Errorf("bundle without the delegated role: %v", err)
	}
	if _, err := s.Verify(b, TimePolicy{Now: t0}, false, WithTargetNames("npm/keys.json")); !errors.Is(err, ErrNotFound) {
		t.Errorf("required delegated target absent: err = %v", err)
	}
}

func TestVerifyDelegatedRoleExpired(t *testing.T) {
	offline(t)
	r, s := fresh(t)
	r.delegate("npm", "npm/*")
	r.addTargetTo("npm", "npm/keys.json", []byte(`{}`))
	r.publish()
	_, err := s.Verify(r.bundle(), TimePolicy{Now: t0.Add(61 * day), MaxStaleness: 60 * day}, false)
	if !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "npm v1 expired") {
		t.Errorf("err = %v", err)
	}
}

func TestVerifyTwoPins(t *testing.T) {
	offline(t)
	s := newStore(t)
	a, b := newRepo(t, t0), newRepo(t, t0)
	a.pin(t, s, "sigstore")
	b.pin(t, s, "corp")
	for _, tc := range []struct {
		repo *testRepo
		pin  string
	}{{a, "sigstore"}, {b, "corp"}, {a, "sigstore"}} {
		res, err := s.Verify(tc.repo.bundle(), TimePolicy{Now: t0}, true)
		if err != nil {
			t.Fatal(err)
		}
		if res.Pin != tc.pin || !bytes.Equal(res.TrustedRoot, tc.repo.files[mustTargetPath(t, tc.repo, "trusted_root.json")]) {
			t.Errorf("source matched %q, want %q", res.Pin, tc.pin)
		}
	}
	pins, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(pins) != 2 || pins[0].Name != "corp" || pins[1].Name != "sigstore" || pins[0].LastUpdate.IsZero() {
		t.Errorf("pins = %+v", pins)
	}
	// A third, unpinned source: refused whatever the bundle calls it.
	_, err = s.Verify(newRepo(t, t0).bundle(), TimePolicy{Now: t0}, true)
	if !errors.Is(err, ErrUntrusted) || errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), `pin "corp"`) || !strings.Contains(err.Error(), `pin "sigstore"`) {
		t.Errorf("unpinned source: err = %v", err)
	}
}

func TestInit(t *testing.T) {
	offline(t)
	r := newRepo(t, t0)
	s := newStore(t)
	if _, err := s.Verify(r.bundle(), TimePolicy{Now: t0}, false); !errors.Is(err, ErrNoPin) {
		t.Errorf("empty store: err = %v", err)
	}
	r.pin(t, s, "corp")
	unsigned := metadata.Root(t0.Add(day))
	ub, err := unsigned.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pin string
		root      []byte
		want      error
	}{
		{"overwrite", "corp", newRepo(t, t0).rootBytes(1), ErrExists},
		{"same root under another name", "corp2", r.rootBytes(1), ErrExists},
		{"not JSON", "x", []byte("nope"), ErrInvalid},
		{"a timestamp, not a root", "x", r.files["metadata/timestamp.json"], ErrInvalid},
		{"unsigned root", "x", ub, ErrVerification},
		{"too large", "x", bytes.Repeat([]byte(" "), RootMaxLength+1), ErrTooLarge},
		{"bad name", "../x", r.rootBytes(1), ErrInvalid},
		{"empty name", "", r.rootBytes(1), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Init(tt.pin, tt.root, "test"); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := s.Show("nope"); !errors.Is(err, ErrNoPin) {
		t.Errorf("Show(nope): %v", err)
	}
	p, err := s.Show("corp")
	if err != nil {
		t.Fatal(err)
	}
	if p.Origin != "test:corp" || p.Root().Version != 1 || !p.Root().Expires.Equal(r.root.Signed.Expires) || p.Created.IsZero() || !p.LastUpdate.IsZero() {
		t.Errorf("pin = %+v", p)
	}
	// Reopening the store sees the same pins.
	s2, err := OpenStore(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if pins, err := s2.List(); err != nil || len(pins) != 1 {
		t.Errorf("reopened: %v %v", pins, err)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/tmp/cfg")
	t.Setenv("HOME", "/tmp/home")
	d, err := DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(d, filepath.Join("airlock", "trust")) {
		t.Errorf("DefaultDir = %s", d)
	}
}

func TestVerifyRecoversInterruptedCommit(t *testing.T) {
	offline(t)
	r, s := fresh(t)
	accept(t, s, r.bundle(), t0)
	pin := filepath.Join(s.Dir(), "pins", "corp")
	// A crash between the two renames of a commit.
	if err := os.Rename(filepath.Join(pin, "state"), filepath.Join(pin, ".old-state")); err != nil {
		t.Fatal(err)
	}
	old := r.bundle()
	r.publish()
	accept(t, s, r.bundle(), t0)
	if _, err := s.Verify(old, TimePolicy{Now: t0}, false); !errors.Is(err, ErrRollback) {
		t.Errorf("rollback state lost after recovery: %v", err)
	}
}

// filesFunc adapts a function to Files.
type filesFunc func(string, int64) ([]byte, error)

func (f filesFunc) ReadFile(p string, max int64) ([]byte, error) { return f(p, max) }

// A bundle reader that returns different bytes on a second read (a file
// changed under our feet) cannot make different checks see different data.
func TestVerifyReadsEachFileOnce(t *testing.T) {
	offline(t)
	r, s := fresh(t)
	b := r.bundle()
	reads := map[string]int{}
	res, err := s.Verify(filesFunc(func(p string, max int64) ([]byte, error) {
		reads[p]++
		if reads[p] > 1 {
			return []byte("changed"), nil
		}
		return b.ReadFile(p, max)
	}), TimePolicy{Now: t0}, false)
	if err != nil {
		t.Fatal(err)
	}
	for p, n := range reads {
		if n > 1 {
			t.Errorf("%s read %d times", p, n)
		}
	}
	if res.TrustedRoot == nil {
		t.Error("no trusted root")
	}
}

func TestVerifyMatchByChain(t *testing.T) {
	offline(t)
	r, s := fresh(t)
	r.rotateRoot(func(*metadata.RootType) {}, r.keys["root"])
	r.rotateRoot(func(*metadata.RootType) {}, r.keys["root"])
	r.publish()
	// The bundle does not carry the pinned v1, but its v2 is signed by it.
	b := r.bundle()
	delete(b, metadataPath("root", 1))
	res, err := s.Verify(b, TimePolicy{Now: t0}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pin != "corp" || res.Roles[0].Version != 3 {
		t.Errorf("result = %+v", res)
	}
	// Without v1 and v2 the chain cannot start from the pin: not used, and
	// refused when the bundle says the source is meant for that pin.
	delete(b, metadataPath("root", 2))
	_, err = s.Verify(b, TimePolicy{Now: t0}, false)
	if !errors.Is(err, ErrUntrusted) || errors.Is(err, ErrVerification) {
		t.Errorf("unlabelled: err = %v", err)
	}
	_, err = s.Verify(b, TimePolicy{Now: t0}, false, WithSourceName("corp"))
	if !errors.Is(err, ErrVerification) || errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "does not include the pinned root v1") {
		t.Errorf("labelled: err = %v", err)
	}
	// A label never makes a foreign source trusted.
	_, err = s.Verify(newRepo(t, t0).bundle(), TimePolicy{Now: t0}, false, WithSourceName("corp"))
	if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), "differs from the pinned root") {
		t.Errorf("foreign source labelled corp: err = %v", err)
	}

	// A second pin of the same repository at another version: ambiguous.
	if err := s.Init("corp-v2", r.rootBytes(2), "test"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Verify(r.bundle(), TimePolicy{Now: t0}, false)
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "matches several pins: corp, corp-v2") {
		t.Errorf("ambiguous: err = %v", err)
	}
}

func TestStoreLock(t *testing.T) {
	offline(t)
	r, s := fresh(t)
	unlock, err := lockDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	// Another Store on the same directory stands for another process.
	s2, err := OpenStore(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	old := lockWait
	lockWait = 200 * time.Millisecond
	defer func() { lockWait = old }()
	if runtime.GOOS != "windows" && runtime.GOOS != "plan9" {
		if _, err := s2.Verify(r.bundle(), TimePolicy{Now: t0}, true); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "in use") {
			t.Errorf("locked store: err = %v", err)
		}
	}
	unlock()
	accept(t, s2, r.bundle(), t0)
}
