package trust

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Every test in this package runs with a default HTTP transport that
// refuses to dial: offline code that reached for the network would fail,
// and TestMain checks that nothing tried. Capture tests use the httptest
// server's own client.
var dials atomic.Int64

var errNoNetwork = errors.New("test: network access refused")

func TestMain(m *testing.M) {
	refuse := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return nil, errNoNetwork
	}}
	http.DefaultTransport = refuse
	http.DefaultClient = &http.Client{Transport: refuse}
	code := m.Run()
	if n := dials.Load(); n != 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d dial attempts through the default transport\n", n)
		code = 1
	}
	os.Exit(code)
}

// offline asserts at the end of the test that no dial was attempted.
func offline(t *testing.T) {
	t.Helper()
	before := dials.Load()
	t.Cleanup(func() {
		if n := dials.Load() - before; n != 0 {
			t.Errorf("%d network dial attempts in an offline test", n)
		}
	})
}

// testRepo builds a TUF repository with go-tuf's metadata API, the way a
// repository operator would, and publishes it in the layout Capture and
// Verify read (consistent snapshots).
type testRepo struct {
	t         testing.TB
	now       time.Time
	root      *metadata.Metadata[metadata.RootType]
	targets   *metadata.Metadata[metadata.TargetsType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	timestamp *metadata.Metadata[metadata.TimestampType]
	delegated map[string]*metadata.Metadata[metadata.TargetsType]
	// signers of each role (for root: the keys that sign the next root).
	keys  map[string][]ed25519.PrivateKey
	dkeys map[string]ed25519.PrivateKey
	files MemFiles
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func tufKey(t testing.TB, k ed25519.PrivateKey) *metadata.Key {
	key, err := metadata.KeyFromPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func keyID(t testing.TB, k ed25519.PrivateKey) string {
	id, err := tufKey(t, k).ID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func sign[T metadata.Roles](t testing.TB, m *metadata.Metadata[T], keys ...ed25519.PrivateKey) {
	t.Helper()
	m.ClearSignatures()
	for _, k := range keys {
		s, err := signature.LoadSigner(k, crypto.Hash(0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
}

func toBytes[T metadata.Roles](t testing.TB, m *metadata.Metadata[T]) []byte {
	t.Helper()
	b, err := m.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newRepo publishes root v1, targets v1 (with trusted_root.json and
// signing_config.v0.2.json), snapshot v1, timestamp v1.
func newRepo(t testing.TB, now time.Time) *testRepo { return newRepoWith(t, now, true) }

// newRepoWith can build a repository without consistent snapshots
// (metadata/snapshot.json, targets/<name>).
func newRepoWith(t testing.TB, now time.Time, consistent bool) *testRepo {
	r := &testRepo{
		t: t, now: now,
		root:      metadata.Root(now.Add(365 * 24 * time.Hour)),
		targets:   metadata.Targets(now.Add(90 * 24 * time.Hour)),
		snapshot:  metadata.Snapshot(now.Add(30 * 24 * time.Hour)),
		timestamp: metadata.Timestamp(now.Add(7 * 24 * time.Hour)),
		delegated: map[string]*metadata.Metadata[metadata.TargetsType]{},
		keys:      map[string][]ed25519.PrivateKey{},
		dkeys:     map[string]ed25519.PrivateKey{},
		files:     MemFiles{},
	}
	r.root.Signed.ConsistentSnapshot = consistent
	for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
		k := newKey(t)
		r.keys[role] = []ed25519.PrivateKey{k}
		if err := r.root.Signed.AddKey(tufKey(t, k), role); err != nil {
			t.Fatal(err)
		}
	}
	sign(t, r.root, r.keys["root"]...)
	r.files[metadataPath("root", 1)] = toBytes(t, r.root)
	r.addTarget("trusted_root.json", []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","note":"test"}`))
	r.addTarget("signing_config.v0.2.json", []byte(`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json"}`))
	r.addTarget("unrelated.txt", []byte("not captured by default"))
	r.publish()
	return r
}

// addTarget adds a target file to the top-level targets (published at the
// next publish).
func (r *testRepo) addTarget(name string, data []byte) {
	r.addTargetTo("targets", name, data)
}

func (r *testRepo) addTargetTo(role, name string, data []byte) {
	tf, err := metadata.TargetFile().FromBytes(name, data, "sha256")
	if err != nil {
		r.t.Fatal(err)
	}
	m := r.targets
	if role != "targets" {
		m = r.delegated[role]
	}
	m.Signed.Targets[name] = tf
	p, err := targetPath(tf, r.root.Signed.ConsistentSnapshot)
	if err != nil {
		r.t.Fatal(err)
	}
	r.files[p] = data
}

// delegate adds a delegated role from targets for paths.
func (r *testRepo) delegate(role string, paths ...string) {
	k := newKey(r.t)
	r.dkeys[role] = k
	if r.targets.Signed.Delegations == nil {
		r.targets.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	}
	r.targets.Signed.Delegations.Keys[keyID(r.t, k)] = tufKey(r.t, k)
	r.targets.Signed.Delegations.Roles = append(r.targets.Signed.Delegations.Roles, metadata.DelegatedRole{
		Name: role, KeyIDs: []string{keyID(r.t, k)}, Threshold: 1, Terminating: true, Paths: paths,
	})
	d := metadata.Targets(r.now.Add(60 * 24 * time.Hour))
	d.Signed.Version = 0
	r.delegated[role] = d
}

// publish bumps and signs targets, delegated roles, snapshot and timestamp.
func (r *testRepo) publish() {
	t := r.t
	for name, d := range r.delegated {
		d.Signed.Version++
		sign(t, d, r.dkeys[name])
		r.files[r.mpath(name, d.Signed.Version)] = toBytes(t, d)
		r.snapshot.Signed.Meta[name+".json"] = metadata.MetaFile(d.Signed.Version)
	}
	if r.files[r.mpath("targets", r.targets.Signed.Version)] != nil {
		r.targets.Signed.Version++
	}
	sign(t, r.targets, r.keys["targets"]...)
	r.files[r.mpath("targets", r.targets.Signed.Version)] = toBytes(t, r.targets)
	r.snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(r.targets.Signed.Version)
	if r.files[r.mpath("snapshot", r.snapshot.Signed.Version)] != nil {
		r.snapshot.Signed.Version++
	}
	r.publishSnapshot()
}

// publishSnapshot signs the snapshot as it is and a new timestamp for it.
func (r *testRepo) publishSnapshot() {
	t := r.t
	sign(t, r.snapshot, r.keys["snapshot"]...)
	r.files[r.mpath("snapshot", r.snapshot.Signed.Version)] = toBytes(t, r.snapshot)
	r.timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(r.snapshot.Signed.Version)
	r.publishTimestamp()
}

func (r *testRepo) publishTimestamp() {
	t := r.t
	if r.files["metadata/timestamp.json"] != nil {
		r.timestamp.Signed.Version++
	}
	sign(t, r.timestamp, r.keys["timestamp"]...)
	r.files["metadata/timestamp.json"] = toBytes(t, r.timestamp)
}

// rotateRoot publishes root v+1 after change, signed by the previous root
// keys and the new ones.
func (r *testRepo) rotateRoot(change func(root *metadata.RootType), newRootKeys []ed25519.PrivateKey) {
	old := r.keys["root"]
	r.root.Signed.Version++
	change(&r.root.Signed)
	signers := append([]ed25519.PrivateKey{}, old...)
	for _, k := range newRootKeys {
		if !containsKey(signers, k) {
			signers = append(signers, k)
		}
	}
	sign(r.t, r.root, signers...)
	r.files[metadataPath("root", r.root.Signed.Version)] = toBytes(r.t, r.root)
	r.keys["root"] = newRootKeys
}

func containsKey(ks []ed25519.PrivateKey, k ed25519.PrivateKey) bool {
	for _, x := range ks {
		if x.Equal(k) {
			return true
		}
	}
	return false
}

// mpath is where a non-root role is published.
func (r *testRepo) mpath(role string, v int64) string {
	if !r.root.Signed.ConsistentSnapshot {
		v = 0
	}
	return metadataPath(role, v)
}

// rootBytes returns the published root at version v.
func (r *testRepo) rootBytes(v int64) []byte {
	b := r.files[metadataPath("root", v)]
	if b == nil {
		r.t.Fatalf("no root v%d", v)
	}
	return b
}

// bundle returns a copy of the published files, as a bundle would carry them.
func (r *testRepo) bundle() MemFiles { return maps.Clone(r.files) }

// serve publishes the repository over HTTP the way Sigstore's CDN does:
// metadata at /, targets at /targets/.
func (r *testRepo) serve(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		hits.Add(1)
		p := strings.TrimPrefix(req.URL.Path, "/")
		if !strings.HasPrefix(p, "targets/") {
			p = "metadata/" + p
		}
		data, ok := r.files[p]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func newStore(t *testing.T) *Store {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustInit pins the repository's root v1 under name.
func (r *testRepo) pin(t *testing.T, s *Store, name string) {
	t.Helper()
	if err := s.Init(name, r.rootBytes(1), "test:"+name); err != nil {
		t.Fatal(err)
	}
}
