package airlock

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/trust"
)

// Trust material an export captures (TUF) or carries (trusted roots, keys).

// capturedTrust is trust material ready to be written: a TUF capture or a
// carried file.
type capturedTrust struct {
	name, kind, url string
	files           []trust.File
	roles           []trust.Role
}

func (o *options) captureTrust(ctx context.Context) ([]capturedTrust, error) {
	var out []capturedTrust
	sources := o.tufSources
	if len(sources) == 0 && !o.noTUF {
		pg, err := trust.PublicGood()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrExport, err)
		}
		sources = []trust.Source{pg}
	}
	if o.noTUF {
		sources = nil
	}
	for _, src := range sources {
		o.emit(Progress{Phase: "capture", Image: ""})
		var copts []trust.CaptureOption
		if o.transport != nil {
			copts = append(copts, trust.WithTransport(o.transport))
		}
		copts = append(copts, trust.WithLogger(o.logger))
		c, err := trust.Capture(ctx, src, copts...)
		if err != nil {
			return nil, fmt.Errorf("%w: %w %s (%s): %w", ErrExport, ErrTUFCapture, src.Name, src.URL, err)
		}
		out = append(out, capturedTrust{name: c.Name, kind: "tuf", url: c.URL, files: c.Files, roles: c.Roles})
	}
	for _, p := range o.carryRoots {
		data, err := readFileLimited(p, maxTrustFile)
		if err != nil {
			return nil, &OptionError{Option: "WithCarriedTrustedRoot", Err: err}
		}
		if _, err := trust.LoadTrustedRoot(data); err != nil {
			return nil, &OptionError{Option: "WithCarriedTrustedRoot", Value: p, Err: err}
		}
		out = append(out, capturedTrust{name: p, kind: "trusted-root", files: []trust.File{{Path: "trusted_root.json", Data: data}}})
	}
	for _, p := range o.carryKeys {
		data, err := readFileLimited(p, maxTrustFile)
		if err != nil {
			return nil, &OptionError{Option: "WithCarriedKey", Err: err}
		}
		if _, err := trust.LoadPublicKey(data); err != nil {
			return nil, &OptionError{Option: "WithCarriedKey", Value: p, Err: err}
		}
		out = append(out, capturedTrust{name: p, kind: "public-key", files: []trust.File{{Path: filepath.Base(p), Data: data}}})
	}
	return out, nil
}

// maxTrustFile bounds trusted_root.json and key files read from disk.
const maxTrustFile = 4 << 20

func addTrust(w *bundle.Writer, c capturedTrust) (bundle.TrustSource, error) {
	ts := bundle.TrustSource{Name: c.name, Kind: c.kind, URL: c.url}
	artifactType := map[string]string{
		"tuf":          bundle.ArtifactTypeTUF,
		"trusted-root": bundle.ArtifactTypeTrustedRoot,
		"public-key":   bundle.ArtifactTypePublicKey,
	}[c.kind]
	var files []bundle.File
	for _, f := range c.files {
		mt := types.MediaType("application/json")
		if !strings.HasSuffix(f.Path, ".json") {
			mt = "application/octet-stream"
		}
		h, size, err := v1.SHA256(bytes.NewReader(f.Data))
		if err != nil {
			return ts, err
		}
		files = append(files, bundle.File{Name: f.Path, MediaType: mt, Data: f.Data})
		ts.Files = append(ts.Files, bundle.TrustFile{Path: f.Path, Digest: h.String(), Size: size})
	}
	for _, r := range c.roles {
		ts.Roles = append(ts.Roles, bundle.Role{Role: r.Name, Version: r.Version, Expires: r.Expires})
	}
	mdesc, err := w.PutArtifact(artifactType, files, map[string]string{annotationTrustName: c.name})
	if err != nil {
		return ts, err
	}
	ts.Manifest = mdesc.Digest.String()
	mdesc.Annotations = map[string]string{bundle.AnnotationRole: bundle.RoleTrust, annotationTrustName: c.name}
	w.AddIndex(mdesc)
	return ts, nil
}

// annotationTrustName names a trust source on its artifact manifest and
// index.json entry.
const annotationTrustName = "dev.airlock.trust.name"
