// Package tufrepo builds a small, real TUF repository in memory (go-tuf's
// metadata package, consistent snapshots, one ed25519 key per top-level
// role) and serves it over HTTP. The demo uses it to play a private Sigstore
// deployment's TUF repository; tests use it to exercise capture end to end.
//
// A Repo is not safe for concurrent use while it is being changed; its
// Handler may serve concurrent requests between changes.
package tufrepo

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

var roles = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// Repo is an in-memory TUF repository.
type Repo struct {
	mu        sync.RWMutex
	keys      map[string]ed25519.PrivateKey
	root      *metadata.Metadata[metadata.RootType]
	targets   *metadata.Metadata[metadata.TargetsType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	timestamp *metadata.Metadata[metadata.TimestampType]
	files     map[string][]byte // served path -> bytes
	content   map[string][]byte // target name -> bytes
}

// New creates a repository whose metadata expires at expires, with version 1
// of every role published.
func New(expires time.Time) (*Repo, error) {
	r := &Repo{
		keys:      map[string]ed25519.PrivateKey{},
		root:      metadata.Root(expires),
		targets:   metadata.Targets(expires),
		snapshot:  metadata.Snapshot(expires),
		timestamp: metadata.Timestamp(expires),
		files:     map[string][]byte{},
		content:   map[string][]byte{},
	}
	r.root.Signed.ConsistentSnapshot = true
	for _, role := range roles {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		r.keys[role] = priv
		key, err := metadata.KeyFromPublicKey(priv.Public())
		if err != nil {
			return nil, fmt.Errorf("tuf key for %s: %w", role, err)
		}
		if err := r.root.Signed.AddKey(key, role); err != nil {
			return nil, fmt.Errorf("adding %s key: %w", role, err)
		}
	}
	if err := r.publish(true); err != nil {
		return nil, err
	}
	return r, nil
}

// AddTarget adds (or replaces) a target file and publishes new targets,
// snapshot and timestamp versions.
func (r *Repo) AddTarget(name string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tf, err := metadata.TargetFile().FromBytes(name, data, "sha256")
	if err != nil {
		return fmt.Errorf("target %s: %w", name, err)
	}
	r.targets.Signed.Targets[name] = tf
	r.content[name] = append([]byte(nil), data...)
	r.targets.Signed.Version++
	r.snapshot.Signed.Version++
	r.timestamp.Signed.Version++
	return r.publishLocked(false)
}

// RootJSON returns root version 1, the root a client pins.
func (r *Repo) RootJSON() []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]byte(nil), r.files["1.root.json"]...)
}

func (r *Repo) publish(withRoot bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publishLocked(withRoot)
}

func (r *Repo) publishLocked(withRoot bool) error {
	sign := func(role string, m interface {
		ClearSignatures()
		Sign(signature.Signer) (*metadata.Signature, error)
	}) error {
		s, err := signature.LoadSigner(r.keys[role], crypto.Hash(0))
		if err != nil {
			return err
		}
		m.ClearSignatures()
		_, err = m.Sign(s)
		return err
	}
	if withRoot {
		if err := sign(metadata.ROOT, r.root); err != nil {
			return fmt.Errorf("signing root: %w", err)
		}
		b, err := r.root.ToBytes(true)
		if err != nil {
			return err
		}
		r.files[fmt.Sprintf("%d.root.json", r.root.Signed.Version)] = b
	}
	if err := sign(metadata.TARGETS, r.targets); err != nil {
		return fmt.Errorf("signing targets: %w", err)
	}
	tb, err := r.targets.ToBytes(true)
	if err != nil {
		return err
	}
	r.files[fmt.Sprintf("%d.targets.json", r.targets.Signed.Version)] = tb
	for name, data := range r.content {
		sum := sha256.Sum256(data)
		dir, base := "", name
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			dir, base = name[:i+1], name[i+1:]
		}
		r.files["targets/"+dir+hex.EncodeToString(sum[:])+"."+base] = data
	}
	r.snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(r.targets.Signed.Version)
	if err := sign(metadata.SNAPSHOT, r.snapshot); err != nil {
		return fmt.Errorf("signing snapshot: %w", err)
	}
	sb, err := r.snapshot.ToBytes(true)
	if err != nil {
		return err
	}
	r.files[fmt.Sprintf("%d.snapshot.json", r.snapshot.Signed.Version)] = sb
	r.timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(r.snapshot.Signed.Version)
	if err := sign(metadata.TIMESTAMP, r.timestamp); err != nil {
		return fmt.Errorf("signing timestamp: %w", err)
	}
	tsb, err := r.timestamp.ToBytes(true)
	if err != nil {
		return err
	}
	r.files["timestamp.json"] = tsb
	return nil
}

// Handler serves the repository the way Sigstore's TUF mirror lays it out
// (and go-tuf's config.New expects): metadata at /<version>.<role>.json and
// /timestamp.json, targets at /targets/<sha256>.<name>.
func (r *Repo) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.RLock()
		defer r.mu.RUnlock()
		data, ok := r.files[strings.TrimPrefix(req.URL.Path, "/")]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	})
}
