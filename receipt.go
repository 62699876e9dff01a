package airlock

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/airlock-oci/airlock/internal/transfer"
	"github.com/airlock-oci/airlock/verify"
)

// The receipt: what an import did, for the operator and for the next
// `export --since` (docs/cli.md).

// ReceiptSchema versions the receipt format (docs/cli.md).
const ReceiptSchema = "airlock.dev/receipt/v1"

// ImportResult is what an import did (or, for a dry run, would do).
type ImportResult struct {
	Schema     string          `json:"schema"`
	Bundle     string          `json:"bundle"`
	Target     string          `json:"target"`
	DryRun     bool            `json:"dryRun,omitempty"`
	ImportedAt time.Time       `json:"importedAt"`
	Images     []ImportedImage `json:"images"`
	// Holds lists every blob the target holds for the imported images,
	// for `export --since` (delta.go).
	Holds *Holdings `json:"holds,omitempty"`
	// Report is the verification report, with each image's Targets filled.
	Report *verify.Report `json:"-"`
}

// ImportedImage is one image and what the target now holds for it.
type ImportedImage struct {
	Source    string `json:"source"`
	Reference string `json:"reference"` // target repository with tag, or @digest
	Digest    string `json:"digest"`
	Verdict   string `json:"verdict"`
	// Skipped says why nothing was pushed for the image (it failed
	// verification under --only-verified).
	Skipped string `json:"skipped,omitempty"`
	// Blobs and Bytes count the image's blobs; Present of them the target
	// already had (not uploaded again).
	Blobs     int       `json:"blobs"`
	Bytes     int64     `json:"bytes"`
	Present   int       `json:"present"`
	Manifests []string  `json:"manifests"`
	Referrers []string  `json:"referrers,omitempty"`
	Tags      []TagMove `json:"tags"`
}

// TagMove is one tag in the target.
type TagMove struct {
	Tag      string `json:"tag"`
	Digest   string `json:"digest"`
	Previous string `json:"previous,omitempty"` // digest the tag pointed at before, when different
	Moved    bool   `json:"moved"`
	// Outcome is what the import found and did: "new" (pushed), "present"
	// (already pointed at the digest), "forced" (pointed elsewhere, moved
	// by WithForce) or "conflict" (pointed elsewhere, left alone).
	Outcome string `json:"outcome"`
	Note    string `json:"note,omitempty"`
}

// record adds each pushed image to the receipt, with the blobs the target
// already had, and its target to the report.
func record(v *verified, res *ImportResult, plan *transfer.Plan, staged *transfer.Staging) {
	for _, im := range plan.Images {
		ii := receiptEntry(im, v.report.Images[im.Index].Verdict)
		ii.Present = staged.Present(im)
		v.report.Images[im.Index].Targets = append(v.report.Images[im.Index].Targets, ii.Reference)
		res.Images = append(res.Images, ii)
	}
}

// receiptEntry describes a planned image for the receipt.
func receiptEntry(im *transfer.Image, verdict string) ImportedImage {
	ii := ImportedImage{Source: im.Source, Reference: im.Reference(), Digest: im.Root.Digest.String(), Verdict: verdict,
		Tags: make([]TagMove, 0, len(im.Tags))}
	for _, bs := range [][]transfer.Ref{im.Blobs, im.Omitted} {
		for _, b := range bs {
			ii.Blobs++
			ii.Bytes += b.Size
		}
	}
	for _, m := range im.Manifests {
		ii.Manifests = append(ii.Manifests, m.Digest.String())
	}
	for _, a := range im.Artifacts {
		if a.Referrer {
			ii.Referrers = append(ii.Referrers, a.Desc.Digest.String())
		}
		for _, m := range a.Manifests {
			ii.Manifests = append(ii.Manifests, m.Digest.String())
		}
	}
	for _, t := range im.Tags {
		tm := TagMove{Tag: t.Name, Digest: t.Manifest.Digest.String(), Moved: t.Outcome != transfer.TagConflict,
			Outcome: t.Outcome.String(), Note: tagNote(t.Outcome)}
		if t.Previous != (v1.Hash{}) {
			tm.Previous = t.Previous.String()
		}
		ii.Tags = append(ii.Tags, tm)
	}
	return ii
}

// tagNote is the receipt's TagMove.Note for a tag's outcome.
func tagNote(t transfer.TagOutcome) string {
	switch t {
	case transfer.TagPresent:
		return "already there"
	case transfer.TagForced:
		return "moved (forced)"
	case transfer.TagConflict:
		return "not moved: points at another digest (forcing moves it)"
	}
	return ""
}

// WriteReceipt writes what the target now holds, for delta exports, as
// compact JSON (a receipt lists every blob the target holds). The images
// and held blobs are encoded and written one at a time, so a catalogue's
// receipt is never held in memory whole: the bytes are those json.Encoder
// writes for the whole value.
func (res *ImportResult) WriteReceipt(w io.Writer) error {
	out := *res
	if out.Images != nil {
		out.Images = []ImportedImage{} // placeholders, replaced below
	}
	if res.Holds != nil {
		h := *res.Holds
		if h.Blobs != nil {
			h.Blobs = []HeldBlob{}
		}
		out.Holds = &h
	}
	head, err := json.Marshal(&out)
	if err != nil {
		return fmt.Errorf("writing receipt: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	// A key's quotes are the only unescaped ones: the first "images":[]
	// is the top-level list, the first "blobs":[] after it the holdings'.
	rest := head
	list := func(key string, n int, elem func(int) ([]byte, error)) error {
		at := bytes.Index(rest, []byte(key))
		if at < 0 {
			return fmt.Errorf("writing receipt: no %s list", key)
		}
		at += len(key) - 1 // at the closing bracket
		bw.Write(rest[:at])
		rest = rest[at:]
		for i := range n {
			b, err := elem(i)
			if err != nil {
				return fmt.Errorf("writing receipt: %w", err)
			}
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.Write(b)
		}
		return nil
	}
	if res.Images != nil {
		if err := list(`"images":[]`, len(res.Images), func(i int) ([]byte, error) { return json.Marshal(&res.Images[i]) }); err != nil {
			return err
		}
	}
	if res.Holds != nil && res.Holds.Blobs != nil {
		if err := list(`"blobs":[]`, len(res.Holds.Blobs), func(i int) ([]byte, error) { return json.Marshal(res.Holds.Blobs[i]) }); err != nil {
			return err
		}
	}
	bw.Write(rest)
	bw.WriteByte('\n')
	return bw.Flush()
}
