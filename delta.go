package airlock

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/internal/registry"
	"github.com/airlock-oci/airlock/internal/transfer"
	"github.com/airlock-oci/airlock/verify"
)

// Deltas: an import receipt says which blobs the target holds (Holdings);
// `export --since RECEIPT|BUNDLE` leaves those blobs out of the next bundle
// (bundle.OmittedBlob in the inventory); verify reports them as expected at
// the target; import checks, before committing anything, that the target
// holds each one (mounting it across repositories where it can).

// HoldingsSchema versions the receipt's holds section.
const HoldingsSchema = "airlock.dev/holdings/v1"

// maxReceipt caps a receipt read by --since.
const maxReceipt = 256 << 20

// Holdings lists every blob (layers and configs) the target holds for the
// imported images, compactly: each blob is [digest, size, index into
// Repositories].
type Holdings struct {
	Schema       string     `json:"schema"`
	Repositories []string   `json:"repositories"`
	Blobs        []HeldBlob `json:"blobs"`
}

// HeldBlob is one blob the target holds, in one of its repositories.
type HeldBlob struct {
	Digest string
	Size   int64
	Repo   int
}

// MarshalJSON writes [digest, size, repo].
func (b HeldBlob) MarshalJSON() ([]byte, error) {
	return []byte(`["` + b.Digest + `",` + strconv.FormatInt(b.Size, 10) + `,` + strconv.Itoa(b.Repo) + `]`), nil
}

// UnmarshalJSON reads [digest, size, repo].
func (b *HeldBlob) UnmarshalJSON(data []byte) error {
	var a []json.RawMessage
	if err := json.Unmarshal(data, &a); err != nil || len(a) != 3 {
		return fmt.Errorf("a held blob is [digest, size, repository index]")
	}
	if err := json.Unmarshal(a[0], &b.Digest); err != nil {
		return err
	}
	if err := json.Unmarshal(a[1], &b.Size); err != nil {
		return err
	}
	return json.Unmarshal(a[2], &b.Repo)
}

// holdingsOf lists the blobs of the pushed images: those the bundle
// carried and those a delta bundle left out (the target holds both now).
func holdingsOf(plan *transfer.Plan) *Holdings {
	h := &Holdings{Schema: HoldingsSchema, Repositories: []string{}, Blobs: []HeldBlob{}}
	repoIdx := map[string]int{}
	seen := map[v1.Hash]bool{}
	for _, im := range plan.Images {
		repo := im.Repo.Name()
		i, ok := repoIdx[repo]
		if !ok {
			i = len(h.Repositories)
			repoIdx[repo] = i
			h.Repositories = append(h.Repositories, repo)
		}
		for _, bs := range [][]transfer.Ref{im.Blobs, im.Omitted} {
			for _, b := range bs {
				if !seen[b.Digest] {
					seen[b.Digest] = true
					h.Blobs = append(h.Blobs, HeldBlob{Digest: b.Digest.String(), Size: b.Size, Repo: i})
				}
			}
		}
	}
	return h
}

// WithSince (Export) leaves out of the bundle every layer and config blob
// that one of these files says the target holds: an import receipt
// (--receipt, with its holds section), an earlier bundle (its plain tar
// or, when that is absent, its parts), or an earlier bundle's inventory
// (whose platform manifests are read again from the source, by digest). Manifests, signatures, attestations
// and trust files are always carried.
func WithSince(paths ...string) Option {
	return func(o *options) error { o.since = append(o.since, paths...); return nil }
}

// heldBlob is what a WithSince file says about one blob.
type heldBlob struct {
	size   int64
	source string
	repo   string
}

// loadSince reads every WithSince file (none: an empty map).
func (o *options) loadSince(ctx context.Context, c *registry.Client) (map[v1.Hash]heldBlob, error) {
	held := map[v1.Hash]heldBlob{}
	for _, p := range o.since {
		if err := loadSinceFile(ctx, c, p, held); err != nil {
			return nil, &OptionError{Option: "WithSince", Value: p, Err: err}
		}
	}
	return held, nil
}

func loadSinceFile(ctx context.Context, c *registry.Client, path string, held map[v1.Hash]heldBlob) error {
	if bundleExists(path) == nil {
		if r, err := bundle.Open(path); err == nil {
			defer r.Close()
			return heldInBundle(r, path, held)
		} else if !isJSONFile(path) {
			return err
		}
	}
	data, err := readFileLimited(path, maxReceipt)
	if err != nil {
		return err
	}
	var rc struct {
		Schema    string    `json:"schema"`
		MediaType string    `json:"mediaType"`
		Holds     *Holdings `json:"holds"`
	}
	if err := json.Unmarshal(data, &rc); err != nil {
		return fmt.Errorf("not a bundle, a receipt or an inventory: %v", err)
	}
	if rc.MediaType == bundle.MediaTypeInventory {
		return heldInInventory(ctx, c, data, path, held)
	}
	if rc.Schema != ReceiptSchema {
		return fmt.Errorf("receipt schema %q, want %q", rc.Schema, ReceiptSchema)
	}
	if rc.Holds == nil || rc.Holds.Schema != HoldingsSchema {
		return fmt.Errorf("the receipt has no %s holds section (written by an older airlock, or by a dry run)", HoldingsSchema)
	}
	for i, b := range rc.Holds.Blobs {
		h, err := v1.NewHash(b.Digest)
		if err != nil || h.Algorithm != "sha256" || b.Size < 0 || b.Repo < 0 || b.Repo >= len(rc.Holds.Repositories) {
			return fmt.Errorf("holds.blobs[%d] is not [sha256 digest, size, repository index]", i)
		}
		if _, ok := held[h]; !ok {
			held[h] = heldBlob{size: b.Size, source: path, repo: rc.Holds.Repositories[b.Repo]}
		}
	}
	return nil
}

func isJSONFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [1]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && b[0] == '{'
}

// heldInBundle records the blobs an earlier bundle carried or itself
// expected at the target: layers and configs, not manifests.
func heldInBundle(r *bundle.Reader, path string, held map[v1.Hash]heldBlob) error {
	g, err := r.Graph()
	if err != nil {
		return err
	}
	for h, n := range g.Nodes {
		if n.Manifest != nil || n.Index != nil {
			continue
		}
		if _, ok := held[h]; !ok {
			held[h] = heldBlob{size: n.Descriptor.Size, source: path}
		}
	}
	return nil
}

// omitHeld leaves out of the bundle the configs and layers of d's images
// that the target holds (--since), recording each in the inventory once.
// Signature and attestation blobs are always carried.
func (x *exporter) omitHeld(d *registry.Discovery) error {
	if len(x.held) == 0 {
		return nil
	}
	image := imageBlobs(d)
	for _, b := range d.Blobs {
		hb, ok := x.held[b.Desc.Digest]
		if !ok || x.omitted[b.Desc.Digest] || !image[b.Desc.Digest] {
			continue
		}
		if hb.size != b.Desc.Size {
			return fmt.Errorf("blob %s is %d bytes in the source, %s says %d", b.Desc.Digest, b.Desc.Size, hb.source, hb.size)
		}
		x.omitted[b.Desc.Digest] = true
		if err := x.w.Omit(b.Desc); err != nil {
			return err
		}
		x.inv.Omitted = append(x.inv.Omitted, bundle.OmittedBlob{
			Digest: b.Desc.Digest.String(), Size: b.Desc.Size, MediaType: string(b.Desc.MediaType),
			Source: hb.source, Repository: hb.repo,
		})
	}
	return nil
}

// recordOmitted puts a delta bundle's omitted blobs into the report.
func recordOmitted(rep *verify.Report, inv *bundle.Inventory) {
	if len(inv.Omitted) == 0 {
		return
	}
	e := &verify.ExpectedAtTarget{Note: "left out of this delta bundle: the target must already hold them (import checks)"}
	for _, b := range inv.Omitted {
		e.Count++
		e.Bytes += b.Size
		e.Blobs = append(e.Blobs, verify.ExpectedBlob{Digest: b.Digest, Size: b.Size, Source: b.Source})
	}
	rep.ExpectedAtTarget = e
}

// ErrMissingAtTarget: a delta bundle left out a blob the target does not
// hold, nor can mount from another of its repositories. Import checks
// before committing anything (transfer.Executor.EnsureOmitted).
var ErrMissingAtTarget = transfer.ErrMissingAtTarget

// imageBlobs are the configs and layers of an image's platform manifests:
// the only blobs a delta may leave out (signature and attestation layers
// are always carried).
func imageBlobs(d *registry.Discovery) map[v1.Hash]bool {
	out := map[v1.Hash]bool{}
	nodes := []registry.Node{d.Root}
	for _, p := range d.Platforms {
		nodes = append(nodes, p.Node)
	}
	for _, n := range nodes {
		if !n.MediaType.IsImage() {
			continue
		}
		m, err := v1.ParseManifest(bytes.NewReader(n.Raw))
		if err != nil {
			continue
		}
		out[m.Config.Digest] = true
		for _, l := range m.Layers {
			out[l.Digest] = true
		}
	}
	return out
}

// heldInInventory reads an earlier bundle's inventory (the connected side's
// own archive, when nothing comes back across the gap): the platform
// manifests it lists are read again from their source repositories, by
// digest, and their configs and layers count as held. An image whose
// manifests the source no longer has is an error naming it.
func heldInInventory(ctx context.Context, c *registry.Client, data []byte, path string, held map[v1.Hash]heldBlob) error {
	inv, err := bundle.ParseInventory(data)
	if err != nil {
		return err
	}
	for _, img := range inv.Images {
		src, err := c.ParseReference(img.Name)
		if err != nil {
			return fmt.Errorf("inventory image %s: %w", img.Name, err)
		}
		for _, p := range img.Platforms {
			ref := src.Context().Digest(p.Digest)
			d, err := c.Discover(ctx, ref, registry.DiscoverOptions{})
			if err != nil {
				return fmt.Errorf("reading the manifests of %s (%s) from its source: %w", img.Reference, p.Platform, err)
			}
			image := imageBlobs(d)
			for _, b := range d.Blobs {
				if image[b.Desc.Digest] {
					if _, ok := held[b.Desc.Digest]; !ok {
						held[b.Desc.Digest] = heldBlob{size: b.Desc.Size, source: path}
					}
				}
			}
		}
	}
	return nil
}
