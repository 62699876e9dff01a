package bundle

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A delta bundle: one image's layers left out and listed in the inventory.
func TestOmittedBlobs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(o *OmittedBlob)
		wantErr error
	}{
		{"listed", nil, nil},
		{"size disagrees with the descriptor", func(o *OmittedBlob) { o.Size++ }, ErrSizeMismatch},
		{"not listed: dangling", func(o *OmittedBlob) {
			o.Digest = "sha256:" + "00000000000000000000000000000000000000000000000000000000000000aa"
		}, ErrDanglingDescriptor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "b.tar")
			src := newSource()
			w, err := Create(path)
			must(t, err)
			img := randomImage(t, 3000, 2)
			w.AddIndex(withRef(src.putImage(t, w, img), "localhost:5000/a:v1"))
			m, err := img.Manifest()
			must(t, err)
			inv := NewInventory(Exporter{Name: "test", Time: time.Unix(0, 0)})
			var omitted []OmittedBlob
			for i, l := range m.Layers {
				must(t, w.Omit(l))
				o := OmittedBlob{Digest: l.Digest.String(), Size: l.Size, Source: "receipt.json"}
				if tc.edit != nil && i == 0 {
					tc.edit(&o)
				}
				omitted = append(omitted, o)
			}
			inv.Omitted = omitted
			_, err = w.PutInventory(inv)
			must(t, err)
			must(t, w.Commit(context.Background(), src.fetch))
			if n := len(src.calls); n != 0 {
				t.Errorf("%d omitted blobs were fetched", n)
			}
			r, err := Open(path)
			must(t, err)
			defer r.Close()
			g, err := r.Graph()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Graph: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			for _, l := range m.Layers {
				n := g.Nodes[l.Digest]
				if n == nil || !n.Omitted || len(n.Parents) != 1 {
					t.Errorf("layer %s: node %+v, want an omitted node with its manifest as parent", l.Digest, n)
				}
				if _, ok := r.Stat(l.Digest); ok {
					t.Errorf("omitted layer %s is in the archive", l.Digest)
				}
			}
			must(t, r.VerifyBlobs(context.Background(), nil))
		})
	}
}

func TestOmitRefusesManifests(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "b.tar"))
	must(t, err)
	defer w.Abort()
	img := randomImage(t, 100, 1)
	raw, _ := img.RawManifest()
	d, err := w.Put("application/vnd.oci.image.manifest.v1+json", raw)
	must(t, err)
	if err := w.Omit(d); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("Omit of a manifest: %v", err)
	}
	inv := NewInventory(Exporter{Name: "t"})
	inv.Omitted = []OmittedBlob{{Digest: "sha256:12", Size: 1}}
	if _, err := inv.Marshal(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("an omitted entry with a bad digest: %v", err)
	}
}
