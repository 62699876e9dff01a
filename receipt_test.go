package airlock_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/airlock-oci/airlock"
)

// WriteReceipt streams images and held blobs one by one; the bytes must be
// exactly those of encoding the whole receipt at once.
func TestWriteReceiptSameBytesAsWholeValue(t *testing.T) {
	img := airlock.ImportedImage{Source: "r.example/a:1", Reference: "t.example/m/a:1", Digest: "sha256:" + string(bytes.Repeat([]byte("a"), 64)),
		Verdict: "pass", Blobs: 3, Bytes: 1 << 20, Present: 1, Manifests: []string{"sha256:1"}, Referrers: []string{"sha256:2"},
		Tags: []airlock.TagMove{{Tag: "1", Digest: "sha256:1", Moved: true, Note: `<&> "images":[] "blobs":[]`}}}
	skipped := airlock.ImportedImage{Source: `r.example/"images":[]`, Skipped: "did not pass verification: nothing pushed"}
	holds := &airlock.Holdings{Schema: "s", Repositories: []string{`t.example/"blobs":[]`, "t.example/m/b"},
		Blobs: []airlock.HeldBlob{{Digest: "sha256:1", Size: 1, Repo: 0}, {Digest: "sha256:2", Size: 22, Repo: 1}}}
	at := time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)
	for name, res := range map[string]*airlock.ImportResult{
		"full":          {Schema: airlock.ReceiptSchema, Bundle: "b.tar", Target: "t.example/m", ImportedAt: at, Images: []airlock.ImportedImage{img, skipped}, Holds: holds},
		"dry run":       {Schema: airlock.ReceiptSchema, Bundle: "b.tar", Target: "t", DryRun: true, ImportedAt: at, Images: []airlock.ImportedImage{img}},
		"nil images":    {Schema: airlock.ReceiptSchema, Bundle: "b.tar", Target: "t", ImportedAt: at, Holds: holds},
		"empty lists":   {Schema: airlock.ReceiptSchema, Images: []airlock.ImportedImage{}, Holds: &airlock.Holdings{Repositories: []string{}, Blobs: []airlock.HeldBlob{}}},
		"nil holdblobs": {Schema: airlock.ReceiptSchema, Images: []airlock.ImportedImage{img}, Holds: &airlock.Holdings{}},
	} {
		var got, want bytes.Buffer
		if err := res.WriteReceipt(&got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := json.NewEncoder(&want).Encode(res); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: streamed receipt differs from the whole value's:\n%s\nwant:\n%s", name, got.String(), want.String())
		}
	}
}
