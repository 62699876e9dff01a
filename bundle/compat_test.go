package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestSkopeoReadsBundle uses skopeo as an independent reader of the archive:
// it picks images by their ref.name annotation and copies them out, and the
// manifests it reads are the ones we wrote.
func TestSkopeoReadsBundle(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo not installed (make tools)")
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, "b.tar")
	src := newSource()
	w, err := Create(dst)
	must(t, err)
	// skopeo 1.9 (containers/image) only looks at index.json entries of
	// OCI media types; Docker-typed entries are skipped (see the format doc).
	single := mutate.ConfigMediaType(mutate.MediaType(randomImage(t, 2048, 2), types.OCIManifestSchema1), types.OCIConfigJSON)
	sd := src.putImage(t, w, single)
	w.AddIndex(withRef(sd, "localhost:5000/single:v1"))
	idx, err := random.Index(1024, 1, 2)
	must(t, err)
	id := src.putIndex(t, w, idx)
	w.AddIndex(withRef(id, "localhost:5000/multi:v2"))
	_, err = w.PutInventory(sampleInventory())
	must(t, err)
	must(t, w.Commit(context.Background(), src.fetch))

	for ref, want := range map[string]string{"localhost:5000/single:v1": sd.Digest.Hex, "localhost:5000/multi:v2": id.Digest.Hex} {
		out, err := exec.Command(skopeo, "inspect", "--raw", "oci-archive:"+dst+":"+ref).Output()
		if err != nil {
			t.Fatalf("skopeo inspect %s: %v", ref, exitDetail(err))
		}
		sum := sha256.Sum256(out)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("skopeo read %s as sha256:%s, want sha256:%s", ref, got, want)
		}
	}
	// A full copy reads every blob of the single image.
	out := filepath.Join(dir, "copy")
	cmd := exec.Command(skopeo, "copy", "--quiet", "oci-archive:"+dst+":localhost:5000/single:v1", "oci:"+out+":single")
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, b)
	}
	layers, _ := single.Layers()
	for _, l := range layers {
		h, _ := l.Digest()
		if _, err := os.Stat(filepath.Join(out, "blobs", "sha256", h.Hex)); err != nil {
			t.Errorf("skopeo copy lacks layer %s: %v", h, err)
		}
	}
}

func exitDetail(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return err.Error() + ": " + string(ee.Stderr)
	}
	return err.Error()
}
