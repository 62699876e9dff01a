package trust

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
)

// Size limits for TUF files, the same as go-tuf's defaults. They apply on
// both sides of the gap: a repository or a bundle cannot make us read more.
const (
	RootMaxLength      = 512000  // go-tuf config RootMaxLength
	TimestampMaxLength = 16384   // go-tuf config TimestampMaxLength
	SnapshotMaxLength  = 2000000 // go-tuf config SnapshotMaxLength
	TargetsMaxLength   = 5000000 // go-tuf config TargetsMaxLength (also delegated roles)
	// TargetMaxLength caps a target file whatever length its metadata declares.
	TargetMaxLength = 64 << 20
	// MaxRootRotations bounds the root chain walk, as go-tuf does.
	MaxRootRotations = 256
	// MaxDelegations bounds the number of delegated roles loaded.
	MaxDelegations = 32
)

// Role describes one verified TUF role: its name, version and expiry.
type Role struct {
	Name    string    `json:"name"`
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
}

// metadataPath is the bundle path of a metadata file: "metadata/<v>.<role>.json"
// or, for timestamp and non-consistent repositories, "metadata/<role>.json".
func metadataPath(role string, version int64) string {
	if version <= 0 {
		return "metadata/" + url.PathEscape(role) + ".json"
	}
	return "metadata/" + strconv.FormatInt(version, 10) + "." + url.PathEscape(role) + ".json"
}

// targetPath is the bundle path of a target file: "targets/<dir>/<sha256>.<base>"
// in a consistent-snapshot repository, "targets/<name>" otherwise.
func targetPath(tf *metadata.TargetFiles, consistent bool) (string, error) {
	name := tf.Path
	if err := checkTargetName(name); err != nil {
		return "", err
	}
	if !consistent {
		return "targets/" + name, nil
	}
	h, ok := tf.Hashes["sha256"]
	if !ok {
		// go-tuf takes whichever hash its map yields first; take a stable one.
		algs := make([]string, 0, len(tf.Hashes))
		for alg := range tf.Hashes {
			algs = append(algs, alg)
		}
		if len(algs) == 0 {
			return "", fmt.Errorf("%w: target %q has no hashes", ErrVerification, name)
		}
		slices.Sort(algs)
		h = tf.Hashes[algs[0]]
	}
	dir, base := path.Split(name)
	return "targets/" + dir + hex.EncodeToString(h) + "." + base, nil
}

// checkTargetName refuses target names that would escape a directory.
func checkTargetName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) {
		return fmt.Errorf("%w: target name %q", ErrInvalid, name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: target name %q", ErrInvalid, name)
		}
	}
	return nil
}

// sameRoot reports whether two root.json files are the same root: equal bytes,
// or the same signed content (a root re-serialised with other whitespace, as
// sigstore-go embeds it).
func sameRoot(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	ra, err := metadata.Root().FromBytes(a)
	if err != nil {
		return false
	}
	rb, err := metadata.Root().FromBytes(b)
	if err != nil {
		return false
	}
	ja, err1 := json.Marshal(ra.Signed)
	jb, err2 := json.Marshal(rb.Signed)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// parseRoot parses and self-verifies a root (threshold of its own root keys).
func parseRoot(data []byte) (*metadata.Metadata[metadata.RootType], error) {
	if len(data) > RootMaxLength {
		return nil, fmt.Errorf("%w: root.json is %d bytes, limit %d", ErrTooLarge, len(data), RootMaxLength)
	}
	r, err := metadata.Root().FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing root.json: %v", ErrInvalid, err)
	}
	if r.Signed.Type != metadata.ROOT {
		return nil, fmt.Errorf("%w: root.json has type %q", ErrInvalid, r.Signed.Type)
	}
	if r.Signed.Version < 1 {
		return nil, fmt.Errorf("%w: root.json has version %d", ErrInvalid, r.Signed.Version)
	}
	if err := r.VerifyDelegate(metadata.ROOT, r); err != nil {
		return nil, fmt.Errorf("%w: root.json v%d is not signed by a threshold of its own root keys: %v", ErrVerification, r.Signed.Version, err)
	}
	return r, nil
}

// roles summarises a trusted metadata set, top-level roles first, then
// delegated roles by name.
func roles(t *trustedmetadata.TrustedMetadata) []Role {
	var out []Role
	if t.Root != nil {
		out = append(out, Role{metadata.ROOT, t.Root.Signed.Version, t.Root.Signed.Expires.UTC()})
	}
	if t.Timestamp != nil {
		out = append(out, Role{metadata.TIMESTAMP, t.Timestamp.Signed.Version, t.Timestamp.Signed.Expires.UTC()})
	}
	if t.Snapshot != nil {
		out = append(out, Role{metadata.SNAPSHOT, t.Snapshot.Signed.Version, t.Snapshot.Signed.Expires.UTC()})
	}
	if tg := t.Targets[metadata.TARGETS]; tg != nil {
		out = append(out, Role{metadata.TARGETS, tg.Signed.Version, tg.Signed.Expires.UTC()})
	}
	var names []string
	for name := range t.Targets {
		if name != metadata.TARGETS {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		tg := t.Targets[name]
		out = append(out, Role{name, tg.Signed.Version, tg.Signed.Expires.UTC()})
	}
	return out
}

// fetchRole returns a role's metadata file, or ErrNotFound.
type fetchRole func(p string, maxLength int64) ([]byte, error)

// loadDelegations verifies and loads the delegated targets roles reachable
// from the top-level targets role (pre-order, at most MaxDelegations), using
// go-tuf's trusted metadata set: signature threshold of the delegator,
// version and length/hashes from snapshot, expiry at the set's reference
// time. With skipMissing, a role whose file is absent is left out (a bundle
// need not carry delegations nobody asked for).
func loadDelegations(t *trustedmetadata.TrustedMetadata, fetch fetchRole, skipMissing bool) error {
	type pair struct{ role, parent string }
	top := t.Targets[metadata.TARGETS]
	if top == nil {
		return fmt.Errorf("%w: top-level targets not loaded", ErrVerification)
	}
	var stack []pair
	push := func(parent *metadata.Metadata[metadata.TargetsType], parentName string) {
		if parent.Signed.Delegations == nil {
			return
		}
		rs := parent.Signed.Delegations.Roles
		for i := len(rs) - 1; i >= 0; i-- {
			stack = append(stack, pair{rs[i].Name, parentName})
		}
	}
	push(top, metadata.TARGETS)
	loaded := 0
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := t.Targets[p.role]; ok {
			continue
		}
		if loaded >= MaxDelegations {
			return fmt.Errorf("%w: more than %d delegated roles", ErrTooLarge, MaxDelegations)
		}
		meta, ok := t.Snapshot.Signed.Meta[p.role+".json"]
		if !ok {
			return fmt.Errorf("%w: delegated role %q is not listed in snapshot v%d", ErrVerification, p.role, t.Snapshot.Signed.Version)
		}
		version := int64(0)
		if t.Root.Signed.ConsistentSnapshot {
			version = meta.Version
		}
		length := meta.Length
		if length <= 0 || length > TargetsMaxLength {
			length = TargetsMaxLength
		}
		mp := metadataPath(p.role, version)
		data, err := fetch(mp, length)
		if err != nil {
			if skipMissing && errors.Is(err, ErrNotFound) {
				continue
			}
			return fmt.Errorf("reading delegated role %q (%s): %w", p.role, mp, err)
		}
		d, err := t.UpdateDelegatedTargets(data, p.role, p.parent)
		if err != nil {
			return fmt.Errorf("%w: delegated role %q (%s): %w", ErrVerification, p.role, mp, err)
		}
		loaded++
		push(d, p.role)
	}
	return nil
}

// readVersion reads "signed.version" from metadata without verifying it;
// only used to explain a refusal, never to accept anything.
func readVersion(data []byte) (int64, map[string]*metadata.MetaFiles, bool) {
	var m struct {
		Signed struct {
			Version int64                          `json:"version"`
			Meta    map[string]*metadata.MetaFiles `json:"meta"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return 0, nil, false
	}
	return m.Signed.Version, m.Signed.Meta, true
}
