package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Store is the trust store of the air-gapped side: a directory of named
// pins. Each pin keeps
//
//	<dir>/pins/<name>/pin.json          name, origin, roles, last update
//	<dir>/pins/<name>/state/            go-tuf's LocalMetadataDir: the last
//	                                    accepted root, timestamp, snapshot
//	                                    and targets (rollback protection)
//	<dir>/pins/<name>/roots/<v>.root.json  every root version ever accepted
//
// A Store is safe for concurrent use. Init and Verify hold an advisory lock
// on <dir>/.lock (on Unix), so that airlock processes sharing a store take
// turns; a process waits up to 10 s for the lock.
type Store struct {
	dir    string
	logger *slog.Logger
	mu     sync.Mutex
}

// Pin is one trusted TUF repository.
type Pin struct {
	Name   string `json:"name"`
	Origin string `json:"origin"`
	// Roles are the last accepted roles (only root right after Init).
	Roles []Role `json:"roles"`
	// Created is when the pin was made; LastUpdate when a bundle's metadata
	// was last accepted for it (zero: never).
	Created    time.Time `json:"created"`
	LastUpdate time.Time `json:"last_update,omitzero"`
}

// Root returns the pin's current root role.
func (p *Pin) Root() Role {
	for _, r := range p.Roles {
		if r.Name == metadata.ROOT {
			return r
		}
	}
	return Role{}
}

// StoreOption configures OpenStore.
type StoreOption func(*Store)

// WithStoreLogger sets a logger (default: discard).
func WithStoreLogger(l *slog.Logger) StoreOption {
	return func(s *Store) { s.logger = l }
}

// DefaultDir is os.UserConfigDir()/airlock/trust.
func DefaultDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the trust store directory: %w", err)
	}
	return filepath.Join(d, "airlock", "trust"), nil
}

// OpenStore opens (creating it if needed, mode 0700) the trust store at dir.
func OpenStore(dir string, opts ...StoreOption) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: empty trust store directory", ErrInvalid)
	}
	if err := os.MkdirAll(filepath.Join(dir, "pins"), 0o700); err != nil {
		return nil, fmt.Errorf("opening trust store %s: %w", dir, err)
	}
	s := &Store{dir: dir}
	for _, o := range opts {
		o(s)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// lockWait is how long a Store waits for another process to release it.
var lockWait = 10 * time.Second

var pinName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func checkPinName(name string) error {
	if !pinName.MatchString(name) {
		return fmt.Errorf("%w: pin name %q (want letters, digits, '.', '_', '-', at most 64)", ErrInvalid, name)
	}
	return nil
}

func (s *Store) pinDir(name string) string { return filepath.Join(s.dir, "pins", name) }

// Init pins root under name. The root must parse and carry a threshold of
// signatures from its own root keys; it need not be unexpired (a pin is a
// starting point: the chain from it must end in an unexpired root). Init
// refuses to overwrite a pin and to pin a root another pin already holds.
func (s *Store) Init(name string, root []byte, origin string) error {
	if err := checkPinName(name); err != nil {
		return err
	}
	r, err := parseRoot(root)
	if err != nil {
		return fmt.Errorf("pin %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockDir(s.dir)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(s.pinDir(name)); err == nil {
		return fmt.Errorf("%w: pin %q in %s", ErrExists, name, s.dir)
	}
	pins, err := s.list()
	if err != nil {
		return err
	}
	for _, p := range pins {
		hist, err := s.history(p.Name)
		if err != nil {
			return err
		}
		if old, ok := hist[r.Signed.Version]; ok && sameRoot(old, root) {
			return fmt.Errorf("%w: pin %q already holds this root (v%d)", ErrExists, p.Name, r.Signed.Version)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.dir, "pins"), ".init-")
	if err != nil {
		return fmt.Errorf("pin %q: %w", name, err)
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"state", "roots"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o700); err != nil {
			return fmt.Errorf("pin %q: %w", name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "state", "root.json"), root, 0o600); err != nil {
		return fmt.Errorf("pin %q: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "roots", rootFile(r.Signed.Version)), root, 0o600); err != nil {
		return fmt.Errorf("pin %q: %w", name, err)
	}
	p := Pin{
		Name:    name,
		Origin:  origin,
		Roles:   []Role{{metadata.ROOT, r.Signed.Version, r.Signed.Expires.UTC()}},
		Created: time.Now().UTC().Truncate(time.Second),
	}
	if err := writeJSON(filepath.Join(tmp, "pin.json"), p); err != nil {
		return fmt.Errorf("pin %q: %w", name, err)
	}
	if err := os.Rename(tmp, s.pinDir(name)); err != nil {
		if _, serr := os.Stat(s.pinDir(name)); serr == nil {
			return fmt.Errorf("%w: pin %q in %s", ErrExists, name, s.dir)
		}
		return fmt.Errorf("pin %q: %w", name, err)
	}
	s.logger.Debug("pinned TUF root", "pin", name, "version", r.Signed.Version, "origin", origin)
	return nil
}

func rootFile(v int64) string { return strconv.FormatInt(v, 10) + ".root.json" }

// List returns all pins, sorted by name.
func (s *Store) List() ([]Pin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list()
}

func (s *Store) list() ([]Pin, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "pins"))
	if err != nil {
		return nil, fmt.Errorf("listing pins in %s: %w", s.dir, err)
	}
	var out []Pin
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p, err := s.show(e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Pin) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Show returns one pin, or an error wrapping ErrNoPin.
func (s *Store) Show(name string) (*Pin, error) {
	if err := checkPinName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.show(name)
}

func (s *Store) show(name string) (*Pin, error) {
	data, err := os.ReadFile(filepath.Join(s.pinDir(name), "pin.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q in %s", ErrNoPin, name, s.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("reading pin %q: %w", name, err)
	}
	var p Pin
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w: pin %q: pin.json: %v", ErrInvalid, name, err)
	}
	if p.Name != name {
		return nil, fmt.Errorf("%w: pin directory %q holds pin.json for %q", ErrInvalid, name, p.Name)
	}
	return &p, nil
}

// history returns every root version accepted for a pin.
func (s *Store) history(name string) (map[int64][]byte, error) {
	dir := filepath.Join(s.pinDir(name), "roots")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading root history of pin %q: %w", name, err)
	}
	out := map[int64][]byte{}
	for _, e := range ents {
		vs, ok := strings.CutSuffix(e.Name(), ".root.json")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(vs, 10, 64)
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading root history of pin %q: %w", name, err)
		}
		out[v] = data
	}
	return out, nil
}

// writeJSON writes v to a temp file next to path, then renames it.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'))
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// copyDir copies the regular files of src into dst (created).
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
