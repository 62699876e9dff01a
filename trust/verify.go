package trust

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// Files is what Verify reads: one TUF source of a bundle, by repository
// path ("metadata/1.root.json", "targets/<sha256>.trusted_root.json"). The
// caller adapts the bundle. A missing file is an error wrapping ErrNotFound;
// a file larger than max is an error wrapping ErrTooLarge (Verify checks
// again, but an adapter should not read more than max+1 bytes).
type Files interface {
	ReadFile(path string, max int64) ([]byte, error)
}

// TimePolicy says which clock the verification uses. Nothing in a bundle
// ever sets the time.
type TimePolicy struct {
	// Now is the real clock. Required.
	Now time.Time
	// At, if set, reproduces a verification as of a past time, for an audit;
	// the result is marked Audit and cannot be persisted.
	At time.Time
	// MaxStaleness lets timestamp and snapshot (online-key roles that expire
	// within days) be accepted up to this long past their expiry. Root,
	// targets and delegated targets are always checked against the reference
	// time. Zero (the default) is strict.
	MaxStaleness time.Duration
}

// Result is a verified TUF source.
type Result struct {
	// Pin is the name of the pin the source matched by content.
	Pin string
	// Roles are the verified roles, top-level first.
	Roles []Role
	// TrustedRoot is the verified trusted_root.json (nil if the repository
	// lists none).
	TrustedRoot []byte
	// Targets are the verified target files the bundle carries, by name.
	Targets map[string][]byte
	// Notes say what was accepted under a policy, e.g. "timestamp v762
	// expired 3d4h ago, accepted within max staleness 7d".
	Notes []string
	// Audit is true when the verification used TimePolicy.At.
	Audit bool
}

// VerifyOption configures Verify.
type VerifyOption func(*verifyOptions)

type verifyOptions struct {
	targets []string
	logger  *slog.Logger
	label   string
}

// WithSourceName passes the name the bundle gives this source. It never
// makes a source trusted: pins are matched by content. It only turns "matches
// no pin" (ErrUntrusted: not used) into a refusal (ErrVerification) when a pin
// of that name exists, so that a bundle meant for a pin but unusable with it
// (its root chain starts after the pinned version) is reported as such.
func WithSourceName(name string) VerifyOption {
	return func(o *verifyOptions) { o.label = name }
}

// WithTargetNames requires these targets besides trusted_root.json; a name
// the metadata does not list, or the bundle does not carry, is an error.
// Without it every listed target the bundle carries is verified and returned.
func WithTargetNames(names ...string) VerifyOption {
	return func(o *verifyOptions) { o.targets = append(o.targets, names...) }
}

// WithVerifyLogger sets a logger for one verification (default: the store's).
func WithVerifyLogger(l *slog.Logger) VerifyOption {
	return func(o *verifyOptions) { o.logger = l }
}

const bundleURL = "airlock-bundle:///"

// Verify runs the TUF client workflow (TUF spec 5.3-5.6: root chain,
// timestamp, snapshot, targets, delegations, target lengths and hashes)
// offline against one TUF source of a bundle, starting from the pin whose
// root the source matches by content (its current root, byte for byte or
// same signed content, at its version, or the next root signed by it), and
// with the pin's persisted state as go-tuf's LocalMetadataDir, so that a
// version older than the last accepted one is refused (ErrRollback).
//
// Verify always works on a copy of the state; with persist the new state
// replaces the old one after every check passed (import, trust update).
//
// Errors: a source that matches no pin (or several) wraps ErrUntrusted: do
// not use it. A matched source that fails wraps ErrVerification, ErrRollback
// or ErrExpired (and ErrNotFound / ErrTooLarge where that is the cause): refuse
// the bundle. ErrNoPin: the store is empty.
func (s *Store) Verify(files Files, tp TimePolicy, persist bool, opts ...VerifyOption) (*Result, error) {
	o := verifyOptions{logger: s.logger}
	for _, opt := range opts {
		opt(&o)
	}
	if files == nil {
		return nil, fmt.Errorf("%w: no files to verify", ErrInvalid)
	}
	if tp.Now.IsZero() {
		return nil, fmt.Errorf("%w: time policy has no current time", ErrInvalid)
	}
	if tp.MaxStaleness < 0 {
		return nil, fmt.Errorf("%w: negative max staleness %s", ErrInvalid, tp.MaxStaleness)
	}
	audit := !tp.At.IsZero()
	ref := tp.Now.UTC()
	if audit {
		if tp.At.After(tp.Now) {
			return nil, fmt.Errorf("%w: audit time %s is in the future", ErrInvalid, tp.At.UTC().Format(time.RFC3339))
		}
		if persist {
			return nil, fmt.Errorf("%w: an audit verification (as of %s) cannot be persisted", ErrInvalid, tp.At.UTC().Format(time.RFC3339))
		}
		ref = tp.At.UTC()
	}
	for _, n := range o.targets {
		if err := checkTargetName(n); err != nil {
			return nil, err
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockDir(s.dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	pins, err := s.list()
	if err != nil {
		return nil, err
	}
	if len(pins) == 0 {
		return nil, fmt.Errorf("%w: the trust store %s has no pins", ErrNoPin, s.dir)
	}
	bf := &bundleFetcher{files: files}
	limit := int64(0)
	for _, p := range pins {
		limit = max(limit, p.Root().Version)
	}
	broots, err := readBundleRoots(bf, limit+MaxRootRotations)
	if err != nil {
		return nil, err
	}

	// Which pin: by content, never by the bundle's label.
	var found []pinMatch
	var reasons []string
	labelled := ""
	for _, p := range pins {
		m, reason, err := s.match(p, broots, audit)
		if err != nil {
			return nil, err
		}
		if m == nil {
			reasons = append(reasons, reason)
			if o.label != "" && p.Name == o.label {
				labelled = reason
			}
			continue
		}
		found = append(found, *m)
	}
	switch {
	case len(found) == 0 && labelled != "":
		return nil, fmt.Errorf("%w: the TUF source named %q (roots %s) cannot be verified against pin %q: %s", ErrVerification, o.label, broots.span(), o.label, labelled)
	case len(found) == 0:
		return nil, fmt.Errorf("%w: the TUF source (roots %s) matches no pin: %s", ErrUntrusted, broots.span(), strings.Join(reasons, "; "))
	case len(found) > 1:
		var names []string
		for _, m := range found {
			names = append(names, m.pin.Name)
		}
		return nil, fmt.Errorf("%w: the TUF source (roots %s) matches several pins: %s", ErrUntrusted, broots.span(), strings.Join(names, ", "))
	}
	m := found[0]
	if m.rollback != nil {
		return nil, m.rollback
	}
	o.logger.Debug("TUF source matched pin", "pin", m.pin.Name, "roots", broots.span())

	res, err := s.verifyPin(pinRun{match: m, bundle: bf, roots: broots, time: tp, ref: ref, persist: persist, opts: o})
	if err != nil {
		return nil, fmt.Errorf("pin %q: %w", m.pin.Name, err)
	}
	return res, nil
}

type pinMatch struct {
	pin      Pin
	seed     []byte // root the updater starts from
	seedV    int64
	current  int64 // pin's current root version
	rollback error
}

// match decides whether the bundle's root chain belongs to pin p.
func (s *Store) match(p Pin, b bundleRoots, audit bool) (*pinMatch, string, error) {
	if err := s.recoverState(p.Name); err != nil {
		return nil, "", err
	}
	stateRoot, err := os.ReadFile(filepath.Join(s.pinDir(p.Name), "state", "root.json"))
	if err != nil {
		return nil, "", fmt.Errorf("pin %q: reading its state: %w", p.Name, err)
	}
	cur, err := metadata.Root().FromBytes(stateRoot)
	if err != nil {
		return nil, "", fmt.Errorf("%w: pin %q: its state root.json: %v", ErrInvalid, p.Name, err)
	}
	vc := cur.Signed.Version
	hist, err := s.history(p.Name)
	if err != nil {
		return nil, "", err
	}
	m := &pinMatch{pin: p, seed: stateRoot, seedV: vc, current: vc}
	if audit {
		// Reproduce from the oldest accepted root the bundle also carries.
		for _, v := range b.versions() {
			if h, ok := hist[v]; ok && sameRoot(h, b.roots[v]) {
				m.seed, m.seedV = h, v
				return m, "", nil
			}
		}
	}
	if data, ok := b.roots[vc]; ok {
		if sameRoot(data, stateRoot) {
			return m, "", nil
		}
		return nil, fmt.Sprintf("pin %q: the bundle's root v%d differs from the pinned root v%d", p.Name, vc, vc), nil
	}
	if data, ok := b.roots[vc+1]; ok {
		next, err := metadata.Root().FromBytes(data)
		if err == nil && cur.VerifyDelegate(metadata.ROOT, next) == nil {
			return m, "", nil
		}
		return nil, fmt.Sprintf("pin %q: the bundle's root v%d is not signed by the pinned root v%d", p.Name, vc+1, vc), nil
	}
	if b.max < vc {
		for _, v := range b.versions() {
			if h, ok := hist[v]; ok && sameRoot(h, b.roots[v]) {
				m.rollback = fmt.Errorf("%w: pin %q: root went backwards: the bundle's newest root is v%d, v%d was accepted on %s",
					ErrRollback, p.Name, b.max, vc, lastUpdate(p))
				return m, "", nil
			}
		}
		return nil, fmt.Sprintf("pin %q: the bundle's roots %s are older than the pinned root v%d and none is one the pin accepted", p.Name, b.span(), vc), nil
	}
	return nil, fmt.Sprintf("pin %q: the bundle's root chain %s does not include the pinned root v%d (nor v%d): capture it again from a root at or before v%d", p.Name, b.span(), vc, vc+1, vc), nil
}

func lastUpdate(p Pin) string {
	if p.LastUpdate.IsZero() {
		return p.Created.UTC().Format(time.RFC3339) + " (pinned)"
	}
	return p.LastUpdate.UTC().Format(time.RFC3339)
}

// pinRun is one verification of a bundle's TUF source against the pin it
// matched by content.
type pinRun struct {
	match   pinMatch       // the pin, and the root the updater starts from
	bundle  *bundleFetcher // the bundle's TUF files
	roots   bundleRoots    // the root chain the bundle carries
	time    TimePolicy
	ref     time.Time // reference time: TimePolicy.At for an audit, else Now (UTC)
	persist bool      // commit the accepted state to the store
	opts    verifyOptions
}

// audit reports whether the run reproduces a past verification (TimePolicy.At):
// it then starts from the oldest accepted root the bundle carries and its
// state is never applied.
func (r pinRun) audit() bool { return !r.time.At.IsZero() }

// verifyPin runs go-tuf's updater over the bundle's files from the pin's
// state (or, for an audit, from the oldest accepted root), checks every
// role for a freeze attack at the reference time, reads the targets, and
// commits the accepted state when asked to.
func (s *Store) verifyPin(run pinRun) (*Result, error) {
	work, err := os.MkdirTemp(s.pinDir(run.match.pin.Name), ".verify-")
	if err != nil {
		return nil, fmt.Errorf("creating a work copy of the state: %w", err)
	}
	defer os.RemoveAll(work)
	state := filepath.Join(work, "state")
	if err := s.workState(run, state); err != nil {
		return nil, err
	}
	up, trusted, err := s.refreshPin(run, state, filepath.Join(work, "targets"))
	if err != nil {
		return nil, err
	}
	res := &Result{Pin: run.match.pin.Name, Audit: run.audit(), Targets: map[string][]byte{}}
	if run.audit() {
		res.Notes = append(res.Notes, fmt.Sprintf("audit: verified as of %s, not at the current time %s; rollback state not applied",
			run.ref.Format(time.RFC3339), run.time.Now.UTC().Format(time.RFC3339)))
	}
	notes, err := freezeCheck(trusted, run.ref, run.time.MaxStaleness)
	if err != nil {
		return nil, err
	}
	res.Notes = append(res.Notes, notes...)
	if err := readTargets(up, trusted, run.bundle, run.opts.targets, res.Targets); err != nil {
		return nil, err
	}
	res.TrustedRoot = res.Targets["trusted_root.json"]
	if res.TrustedRoot == nil {
		res.Notes = append(res.Notes, "the repository lists no trusted_root.json")
	}
	res.Roles = roles(trusted)
	if run.persist {
		if err := s.commit(run.match, state, run.roots, res.Roles, run.time.Now); err != nil {
			return nil, fmt.Errorf("saving the accepted state: %w", err)
		}
	}
	return res, nil
}

// workState fills state, the updater's metadata directory for this run: a
// copy of the pin's persisted state, or for an audit only the seed root.
func (s *Store) workState(run pinRun, state string) error {
	if !run.audit() {
		if err := copyDir(filepath.Join(s.pinDir(run.match.pin.Name), "state"), state); err != nil {
			return fmt.Errorf("copying the state: %w", err)
		}
		return nil
	}
	if err := os.Mkdir(state, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(state, "root.json"), run.match.seed, 0o600)
}

// refreshPin runs the updater over the bundle's files at the reference
// time less the staleness allowance, and loads every delegated role. The
// root chain must reach the newest root the bundle carries.
func (s *Store) refreshPin(run pinRun, state, targets string) (*updater.Updater, *trustedmetadata.TrustedMetadata, error) {
	m, bf, tp := run.match, run.bundle, run.time
	cfg, err := config.New(bundleURL+"metadata", m.seed)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	setLimits(cfg)
	cfg.Fetcher = bf
	cfg.RemoteTargetsURL = bundleURL + "targets"
	cfg.LocalMetadataDir = state
	cfg.LocalTargetsDir = targets
	up, err := updater.New(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: loading the pinned root: %v", ErrVerification, err)
	}
	up.UnsafeSetRefTime(run.ref.Add(-tp.MaxStaleness))
	if err := up.Refresh(); err != nil {
		t := up.GetTrustedMetadataSet()
		return nil, nil, s.refreshError(err, &t, m, bf, run.ref, tp.MaxStaleness)
	}
	trusted := up.GetTrustedMetadataSet()
	if trusted.Root.Signed.Version != run.roots.max {
		return nil, nil, fmt.Errorf("%w: the root chain stopped at v%d but the bundle carries roots up to v%d", ErrVerification, trusted.Root.Signed.Version, run.roots.max)
	}
	if err := loadDelegations(&trusted, bf.fetch, true); err != nil {
		return nil, nil, expiryError(err, &trusted, run.ref, tp.MaxStaleness)
	}
	return up, &trusted, nil
}

// freezeCheck applies TUF spec 5.3 (root) and 5.6 (targets, delegated
// targets), "check for a freeze attack", at the reference time itself.
// Timestamp (5.4) and snapshot (5.5) were checked by go-tuf at reference
// - maxStaleness; the notes say when that allowance was used.
func freezeCheck(trusted *trustedmetadata.TrustedMetadata, ref time.Time, maxStaleness time.Duration) ([]string, error) {
	if e := trusted.Root.Signed.Expires; trusted.Root.Signed.IsExpired(ref) {
		return nil, expiredErr(metadata.ROOT, trusted.Root.Signed.Version, e, ref, maxStaleness)
	}
	var notes []string
	for _, r := range roles(trusted) {
		switch r.Name {
		case metadata.ROOT:
		case metadata.TIMESTAMP, metadata.SNAPSHOT:
			if !r.Expires.After(ref) {
				notes = append(notes, fmt.Sprintf("%s v%d expired %s ago (%s), accepted within max staleness %s",
					r.Name, r.Version, fmtDuration(ref.Sub(r.Expires)), r.Expires.Format(time.RFC3339), fmtDuration(maxStaleness)))
			}
		default:
			if !r.Expires.After(ref) {
				return nil, expiredErr(r.Name, r.Version, r.Expires, ref, maxStaleness)
			}
		}
	}
	return notes, nil
}

// readTargets reads into out every target the loaded roles list (the
// updater resolves each through the delegation tree) plus the requested
// ones and trusted_root.json, each checked against its length and hashes.
// A listed target the bundle lacks is skipped unless required.
func readTargets(up *updater.Updater, trusted *trustedmetadata.TrustedMetadata, bf *bundleFetcher, requested []string, out map[string][]byte) error {
	required := map[string]bool{}
	for _, n := range requested {
		required[n] = true
	}
	if _, ok := trusted.Targets[metadata.TARGETS].Signed.Targets["trusted_root.json"]; ok {
		required["trusted_root.json"] = true
	}
	var names []string
	for _, t := range trusted.Targets {
		for n := range t.Signed.Targets {
			names = append(names, n)
		}
	}
	for n := range required {
		names = append(names, n)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	consistent := trusted.Root.Signed.ConsistentSnapshot
	for _, name := range names {
		if checkTargetName(name) != nil {
			continue
		}
		tf, err := up.GetTargetInfo(name)
		if err != nil {
			if required[name] {
				return fmt.Errorf("%w: target %q: %w", ErrNotFound, name, tufError(err))
			}
			continue
		}
		p, err := targetPath(tf, consistent)
		if err != nil {
			return err
		}
		if tf.Length > TargetMaxLength {
			return fmt.Errorf("%w: target %q is %d bytes, limit %d", ErrTooLarge, name, tf.Length, TargetMaxLength)
		}
		data, err := bf.fetch(p, tf.Length)
		if err != nil {
			if errors.Is(err, ErrNotFound) && !required[name] {
				continue
			}
			if errors.Is(err, ErrTooLarge) {
				err = fmt.Errorf("%w: %w", ErrVerification, err)
			}
			return fmt.Errorf("target %q: %w", name, err)
		}
		if err := tf.VerifyLengthHashes(data); err != nil {
			return fmt.Errorf("%w: target %q (%s) does not match its targets metadata: %v", ErrVerification, name, p, err)
		}
		out[name] = data
	}
	return nil
}

// recoverState finishes a commit that was interrupted between its two
// renames: the old state is put back (the new one was never acknowledged).
func (s *Store) recoverState(name string) error {
	state := filepath.Join(s.pinDir(name), "state")
	old := filepath.Join(s.pinDir(name), ".old-state")
	if _, err := os.Stat(state); err == nil {
		return nil
	}
	if _, err := os.Stat(old); err != nil {
		return fmt.Errorf("%w: pin %q has no state directory %s", ErrInvalid, name, state)
	}
	if err := os.Rename(old, state); err != nil {
		return fmt.Errorf("pin %q: restoring its state: %w", name, err)
	}
	return nil
}

// commit makes a verified work state the pin's state.
func (s *Store) commit(m pinMatch, state string, broots bundleRoots, rs []Role, now time.Time) error {
	pinDir := s.pinDir(m.pin.Name)
	newest := m.current
	for _, r := range rs {
		if r.Name == metadata.ROOT {
			newest = r.Version
		}
	}
	for v := m.current + 1; v <= newest; v++ {
		if err := writeFileAtomic(filepath.Join(pinDir, "roots", rootFile(v)), broots.roots[v]); err != nil {
			return err
		}
	}
	old := filepath.Join(pinDir, ".old-state")
	os.RemoveAll(old)
	if err := os.Rename(filepath.Join(pinDir, "state"), old); err != nil {
		return err
	}
	if err := os.Rename(state, filepath.Join(pinDir, "state")); err != nil {
		if rerr := os.Rename(old, filepath.Join(pinDir, "state")); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	os.RemoveAll(old)
	p := m.pin
	p.Roles = rs
	p.LastUpdate = now.UTC().Truncate(time.Second)
	return writeJSON(filepath.Join(pinDir, "pin.json"), p)
}

// refreshError turns a go-tuf Refresh error into one of ours, naming the
// role and versions.
func (s *Store) refreshError(err error, t *trustedmetadata.TrustedMetadata, m pinMatch, bf *bundleFetcher, ref time.Time, staleness time.Duration) error {
	if errors.Is(err, &metadata.ErrBadVersionNumber{}) {
		if rb := s.diagnoseRollback(m, bf); rb != nil {
			return rb
		}
	}
	if errors.Is(err, &metadata.ErrExpiredMetadata{}) {
		return expiryError(err, t, ref, staleness)
	}
	if bf.last != "" && !strings.Contains(err.Error(), bf.last) {
		err = fmt.Errorf("checking %s: %w", bf.last, err)
	}
	return tufError(err)
}

// expiryError names the expired role when go-tuf's message does not.
func expiryError(err error, t *trustedmetadata.TrustedMetadata, ref time.Time, staleness time.Duration) error {
	if !errors.Is(err, &metadata.ErrExpiredMetadata{}) {
		return err
	}
	// Name every expired role: root at the reference time itself, the
	// online roles after the staleness allowance.
	tufRef := ref.Add(-staleness)
	var errs []error
	if t.Root != nil && t.Root.Signed.IsExpired(ref) {
		errs = append(errs, expiredErr(metadata.ROOT, t.Root.Signed.Version, t.Root.Signed.Expires, ref, staleness))
	}
	if t.Timestamp != nil && t.Timestamp.Signed.IsExpired(tufRef) {
		errs = append(errs, expiredErr(metadata.TIMESTAMP, t.Timestamp.Signed.Version, t.Timestamp.Signed.Expires, ref, staleness))
	}
	if t.Snapshot != nil && t.Snapshot.Signed.IsExpired(tufRef) {
		errs = append(errs, expiredErr(metadata.SNAPSHOT, t.Snapshot.Signed.Version, t.Snapshot.Signed.Expires, ref, staleness))
	}
	switch len(errs) {
	case 0:
	case 1:
		return errs[0]
	default:
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, strings.TrimPrefix(e.Error(), ErrExpired.Error()+": "))
		}
		return fmt.Errorf("%w: %s", ErrExpired, strings.Join(msgs, "; "))
	}
	return fmt.Errorf("%w: %v (reference time %s)", ErrExpired, err, ref.Format(time.RFC3339))
}

func expiredErr(role string, version int64, expires, ref time.Time, staleness time.Duration) error {
	allowed := "root, targets and delegated targets get no staleness allowance"
	if role == metadata.TIMESTAMP || role == metadata.SNAPSHOT {
		allowed = "max staleness " + fmtDuration(staleness)
	}
	return fmt.Errorf("%w: %s v%d expired %s, %s before the reference time %s (%s)",
		ErrExpired, role, version, expires.UTC().Format(time.RFC3339), fmtDuration(ref.Sub(expires)), ref.Format(time.RFC3339), allowed)
}

// diagnoseRollback compares the pin's last accepted versions (its state,
// verified when accepted) with the versions the bundle claims, to name the
// role that went backwards. The bundle's claims only explain a refusal.
func (s *Store) diagnoseRollback(m pinMatch, bf *bundleFetcher) error {
	state := filepath.Join(s.pinDir(m.pin.Name), "state")
	oldTS, err := os.ReadFile(filepath.Join(state, "timestamp.json"))
	if err != nil {
		return nil
	}
	newTS, err := bf.fetch(metadataPath(metadata.TIMESTAMP, 0), TimestampMaxLength)
	if err != nil {
		return nil
	}
	back := func(role string, got, had int64) error {
		return fmt.Errorf("%w: %s went backwards: the bundle carries v%d, v%d was accepted on %s",
			ErrRollback, role, got, had, lastUpdate(m.pin))
	}
	ov, ometa, ok1 := readVersion(oldTS)
	nv, nmeta, ok2 := readVersion(newTS)
	if !ok1 || !ok2 {
		return nil
	}
	if nv < ov {
		return back(metadata.TIMESTAMP, nv, ov)
	}
	osn, nsn := ometa["snapshot.json"], nmeta["snapshot.json"]
	if osn == nil || nsn == nil {
		return nil
	}
	if nsn.Version < osn.Version {
		return back(metadata.SNAPSHOT, nsn.Version, osn.Version)
	}
	oldSnap, err := os.ReadFile(filepath.Join(state, "snapshot.json"))
	if err != nil {
		return nil
	}
	var newSnap []byte
	for _, p := range []string{metadataPath(metadata.SNAPSHOT, nsn.Version), metadataPath(metadata.SNAPSHOT, 0)} {
		if newSnap, err = bf.fetch(p, SnapshotMaxLength); err == nil {
			break
		}
	}
	if newSnap == nil {
		return nil
	}
	_, om, ok1 := readVersion(oldSnap)
	_, nm, ok2 := readVersion(newSnap)
	if !ok1 || !ok2 {
		return nil
	}
	var files []string
	for f := range om {
		files = append(files, f)
	}
	slices.Sort(files)
	for _, f := range files {
		if n, ok := nm[f]; ok && om[f] != nil && n != nil && n.Version < om[f].Version {
			return back(strings.TrimSuffix(f, ".json"), n.Version, om[f].Version)
		}
	}
	return nil
}

// tufError wraps a go-tuf error in ours.
func tufError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrTooLarge), errors.Is(err, ErrFetch),
		errors.Is(err, ErrVerification), errors.Is(err, ErrInvalid):
		if errors.Is(err, ErrFetch) || errors.Is(err, ErrVerification) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrVerification, err)
	case errors.Is(err, &metadata.ErrExpiredMetadata{}):
		return fmt.Errorf("%w: %w", ErrExpired, err)
	case errors.Is(err, &metadata.ErrEqualVersionNumber{}):
		return fmt.Errorf("%w: %w", ErrVerification, err)
	case errors.Is(err, &metadata.ErrBadVersionNumber{}):
		return fmt.Errorf("%w: %w", ErrVerification, err)
	}
	return fmt.Errorf("%w: %w", ErrVerification, err)
}

// fmtDuration prints 3d4h, 7d, 45m, 0s.
func fmtDuration(d time.Duration) string {
	if d < 0 {
		return "-" + fmtDuration(-d)
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	mins := d / time.Minute
	var b strings.Builder
	if days > 0 {
		fmt.Fprintf(&b, "%dd", days)
	}
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if mins > 0 && days == 0 {
		fmt.Fprintf(&b, "%dm", mins)
	}
	if b.Len() == 0 {
		if d > 0 {
			return d.Round(time.Second).String()
		}
		return "0s"
	}
	return b.String()
}

// bundleFetcher is a go-tuf fetcher.Fetcher over a bundle's Files. It
// never touches the network.
type bundleFetcher struct {
	files Files
	last  string          // the last path read, to say where go-tuf failed
	cache map[string]read // each path is read once: every check sees the same answer
}

type read struct {
	data []byte
	err  error
}

var _ fetcher.Fetcher = (*bundleFetcher)(nil)

// DownloadFile implements fetcher.Fetcher: a missing file is both our
// ErrNotFound and go-tuf's HTTP 404 (the only thing that ends the root walk).
func (b *bundleFetcher) DownloadFile(u string, maxLength int64, _ time.Duration) ([]byte, error) {
	p, ok := strings.CutPrefix(u, bundleURL)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a bundle path", ErrInvalid, u)
	}
	data, err := b.fetch(p, maxLength)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", err, &metadata.ErrDownloadHTTP{StatusCode: 404, URL: u})
	}
	return data, err
}

func (b *bundleFetcher) fetch(p string, maxLength int64) ([]byte, error) {
	if maxLength <= 0 {
		return nil, fmt.Errorf("%w: %s: no length limit", ErrInvalid, p)
	}
	b.last = p
	c, ok := b.cache[p]
	if !ok || (c.err != nil && errors.Is(c.err, ErrTooLarge)) {
		// A file too large for one limit may fit another: ask again.
		c.data, c.err = b.files.ReadFile(p, maxLength)
		if b.cache == nil {
			b.cache = map[string]read{}
		}
		b.cache[p] = c
	}
	data, err := c.data, c.err
	if err != nil {
		return nil, fmt.Errorf("reading %s from the bundle: %w", p, err)
	}
	if int64(len(data)) > maxLength {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, p, len(data), maxLength)
	}
	return data, nil
}

// bundleRoots are the root.json files a bundle carries, by version.
type bundleRoots struct {
	roots    map[int64][]byte
	min, max int64
}

func (b bundleRoots) versions() []int64 {
	var vs []int64
	for v := range b.roots {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

func (b bundleRoots) span() string {
	if b.min == b.max {
		return fmt.Sprintf("v%d", b.min)
	}
	return fmt.Sprintf("v%d..v%d", b.min, b.max)
}

// readBundleRoots reads metadata/<v>.root.json for v in 1..limit and
// refuses a chain with a gap or whose file names and versions disagree.
func readBundleRoots(bf *bundleFetcher, limit int64) (bundleRoots, error) {
	b := bundleRoots{roots: map[int64][]byte{}}
	for v := int64(1); v <= limit; v++ {
		p := metadataPath(metadata.ROOT, v)
		data, err := bf.fetch(p, RootMaxLength)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return b, fmt.Errorf("%w: %w", ErrVerification, err)
		}
		b.roots[v] = data
		if b.min == 0 {
			b.min = v
		}
		if b.max > 0 && v != b.max+1 {
			return b, fmt.Errorf("%w: the bundle's root chain has a gap: root v%d is missing between v%d and v%d: %w",
				ErrVerification, b.max+1, b.max, v, ErrNotFound)
		}
		b.max = v
		if limit < v+MaxRootRotations {
			limit = v + MaxRootRotations
		}
	}
	if len(b.roots) == 0 {
		return b, fmt.Errorf("%w: the bundle carries no metadata/<version>.root.json: %w", ErrVerification, ErrNotFound)
	}
	return b, nil
}
