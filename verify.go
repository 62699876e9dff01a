package airlock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/trust"
	"github.com/airlock-oci/airlock/verify"
)

// ErrTrust means trust material carried by the bundle matched a pinned root
// but was refused (rollback, expiry, tampering).
var ErrTrust = errors.New("trust material refused")

// ReportError is returned when a verification ran to the end but did not
// pass. Its Report says why; its exit code follows the report (1 policy, 2
// integrity).
type ReportError struct {
	Report *verify.Report
	// TrustRefused is set when a TUF source matched a pin and was refused.
	TrustRefused bool
	// cause is the integrity failure, when there is one: errors.Is sees
	// through it to the bundle package's sentinels (ErrDisagreement...).
	cause error
}

// Unwrap returns the integrity failure, if any.
func (e *ReportError) Unwrap() error { return e.cause }

func (e *ReportError) Error() string {
	failed := 0
	for _, img := range e.Report.Images {
		if img.Verdict != verify.VerdictPass && img.Verdict != verify.VerdictAllowedByDefault {
			failed++
		}
	}
	switch {
	case !e.Report.Integrity.OK:
		return "bundle integrity check failed: " + e.Report.Integrity.Error
	case e.TrustRefused && failed == 0:
		return "trust material in the bundle was refused (see the trust section of the report)"
	}
	return fmt.Sprintf("%s: %d of %d images did not pass", verify.VerdictPolicyFailed, failed, len(e.Report.Images))
}

// ExitCode is the documented exit code for this outcome.
func (e *ReportError) ExitCode() int {
	if c := e.Report.ExitCode(); c != verify.ExitOK {
		return c
	}
	return verify.ExitPolicy
}

// Is lets callers test errors.Is(err, ErrPolicy), bundle.ErrInvalidBundle
// and ErrTrust.
func (e *ReportError) Is(target error) bool {
	switch target {
	case ErrPolicy:
		return e.Report.Integrity.OK
	case bundle.ErrInvalidBundle:
		return !e.Report.Integrity.OK
	case ErrTrust:
		return e.TrustRefused
	}
	return false
}

// verified is the outcome of verifying a bundle, kept open for import.
type verified struct {
	report *verify.Report
	reader *bundle.Reader
	inv    *bundle.Inventory
	graph  *bundle.Graph
	// images is what the checks and the push use: derived from the graph,
	// the inventory reconciled against it (bundle.Reader.Reconcile).
	images       []bundle.CheckedImage
	trustRefused bool
	// integrityErr is why the bundle failed integrity, if it did.
	integrityErr error
}

func (v *verified) err() error {
	if v.report.ExitCode() == verify.ExitOK && !v.trustRefused {
		return nil
	}
	return &ReportError{Report: v.report, TrustRefused: v.trustRefused, cause: v.integrityErr}
}

// Verify checks a bundle fully offline: every blob against its digest, the
// content graph, the TUF material against the pinned roots in the trust
// store, every signature and attestation against the trusted material, and
// the policy. It returns the report, and a *ReportError (wrapping ErrPolicy,
// ErrTrust or bundle.ErrInvalidBundle) when the bundle did not pass. The
// trust store is not changed: only import and `trust update` persist.
func Verify(ctx context.Context, path string, opts ...Option) (*verify.Report, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	v, err := o.verifyBundle(ctx, path, false)
	if err != nil {
		return nil, err
	}
	if v.reader != nil {
		v.reader.Close()
	}
	return v.report, v.err()
}

// verifyBundle runs every check in order: structure, every blob's digest,
// then trust, evidence and policy. Errors returned are usage or environment
// errors (no report could be made); verdicts are in the report.
func (o *options) verifyBundle(ctx context.Context, path string, persist bool) (*verified, error) {
	v, err := o.openBundle(path)
	if err != nil || v.failed() {
		return v, err
	}
	if err := o.hashBlobs(ctx, v); err != nil || v.failed() {
		return v, err
	}
	if err := o.judge(v, persist); err != nil {
		return nil, err
	}
	v.report.Finish()
	return v, nil
}

// failed reports whether the bundle already failed integrity.
func (v *verified) failed() bool { return v.report.Verdict == verify.VerdictIntegrityFailed }

// integrityFailed records an integrity failure: nothing in the bundle can be
// relied on, so the report carries no image verdicts.
func (v *verified) integrityFailed(err error) {
	v.integrityErr = err
	v.report.Integrity = verify.Integrity{OK: false, Error: err.Error()}
	v.report.Images = []verify.ImageResult{}
	v.report.Finish()
}

// openBundle starts the report, opens the bundle (checking every tar entry)
// and walks its content graph (reading and checking every manifest).
func (o *options) openBundle(path string) (*verified, error) {
	if o.policy == nil {
		return nil, fmt.Errorf("%w: a policy is required (WithPolicy or WithPolicyFile)", ErrUsage)
	}
	if err := o.applyBundleKeys(); err != nil {
		return nil, err
	}
	rep := &verify.Report{
		Tool:       verify.Tool{Name: "airlock", Version: Version},
		Bundle:     verify.BundleInfo{Path: path},
		VerifiedAt: o.now().UTC(),
		Policy:     o.policyInfo,
		Trust:      []verify.TrustSummary{},
		Images:     []verify.ImageResult{},
	}
	if !o.at.IsZero() {
		rep.Audit = &verify.AuditTime{At: o.at.UTC(), Note: "verification reproduced as of a past time for an audit; not valid for an import"}
	}
	v := &verified{report: rep}
	if err := bundleExists(path); err != nil {
		return nil, fmt.Errorf("%w: bundle: %v", ErrUsage, err)
	}
	r, err := bundle.Open(path, bundle.WithReaderLogger(o.logger))
	if err != nil {
		v.integrityFailed(err)
		return v, nil
	}
	v.reader = r
	recordParts(rep, r)
	if v.graph, err = r.Graph(); err != nil {
		v.integrityFailed(err)
		return v, nil
	}
	inv, err := r.Inventory()
	if err != nil {
		v.integrityFailed(err)
		return v, nil
	}
	// The inventory is an index, not evidence: every fact the verdict or
	// the push depends on is derived from the content graph, and the
	// inventory must agree with it.
	if v.images, err = r.Reconcile(v.graph, inv); err != nil {
		v.integrityFailed(err)
		return v, nil
	}
	// Its images were reconciled into v.images; the rest is kept (trust
	// sources, omitted blobs). A catalogue's image list is not held twice.
	inv.Images = nil
	v.inv = inv
	recordOmitted(rep, inv)
	return v, nil
}

// hashBlobs checks every blob of the bundle against its digest, in parallel.
func (o *options) hashBlobs(ctx context.Context, v *verified) error {
	r := v.reader
	var total int64
	for _, h := range r.Blobs() {
		n, _ := r.Stat(h)
		total += n
	}
	err := r.VerifyBlobs(ctx, func(done, all int64) {
		o.emit(Progress{Phase: "verify", Done: done, Total: all})
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		v.integrityFailed(err)
		return nil
	}
	v.report.Integrity = verify.Integrity{OK: true, Blobs: len(r.Blobs()), Bytes: total}
	return nil
}

// judge checks the trust material, every piece of evidence and the policy.
// It reads only small blobs (manifests, signatures, envelopes, TUF files),
// each checked against its digest as it is read. The caller finishes the
// report.
func (o *options) judge(v *verified, persist bool) error {
	r, inv := v.reader, v.inv
	rep := v.report
	lt, err := o.loadTrust(r, inv, persist)
	if err != nil {
		return err
	}
	tm, summaries, refused := lt.material, lt.summaries, lt.refused
	own, err := o.operatorMaterial(tm)
	if err != nil {
		return err
	}
	summaries = append(summaries, own...)
	v.trustRefused = refused
	checkTime := o.now()
	if !o.at.IsZero() {
		checkTime = o.at
	}
	copts := verify.Options{Now: checkTime, RequireSCT: o.requireSCT}
	rep.Images = []verify.ImageResult{}
	if stop, err := o.judgeBundleSignature(v, tm, copts); err != nil || stop {
		rep.Trust = summaries
		return err
	}
	checker := newEvidenceChecker(r, tm, copts)
	rep.Images = make([]verify.ImageResult, 0, len(v.images))
	for start := 0; start < len(v.images); start += evidenceBatch {
		batch := v.images[start:min(start+evidenceBatch, len(v.images))]
		findings := checker.findingsOf(batch)
		for n, img := range batch {
			// One canonical name: the policy judges it, the report shows
			// it, import maps it.
			digest := checker.digest(img.Descriptor.Digest.String())
			in := verify.ImageInput{Reference: img.Name.String(), Name: img.Name.Repository(),
				Digest: digest, Findings: findings[n], Index: indexEntries(v.graph, digest)}
			for _, p := range img.Platforms {
				in.Platforms = append(in.Platforms, verify.PlatformInput{Platform: p.Platform, Digest: checker.digest(p.Descriptor.Digest.String())})
			}
			rep.Images = append(rep.Images, o.policy.Evaluate(in))
		}
	}
	for i := range summaries {
		// Findings name an operator key "key:<name>" (verify.Check).
		names := []string{summaries[i].Name}
		if summaries[i].Kind == bundle.TrustKindPublicKey {
			names = append(names, "key:"+summaries[i].Name)
		}
		for _, img := range rep.Images {
			for _, f := range img.Findings {
				if f.Status == verify.StatusVerified && slices.ContainsFunc(f.TrustMaterial, func(n string) bool { return slices.Contains(names, n) }) {
					summaries[i].Used = true
				}
			}
		}
	}
	rep.Trust = summaries
	rep.Warnings = append(rep.Warnings, o.policy.Warnings()...)
	if refused {
		rep.Warnings = append(rep.Warnings, "trust material carried by the bundle matched a pinned root and was refused; see trust")
	}
	return nil
}

// loadedTrust is what loadTrust found in a bundle.
type loadedTrust struct {
	// material holds the trusted roots that passed.
	material *verify.TrustMaterial
	// summaries has one entry per trust source the bundle carries.
	summaries []verify.TrustSummary
	// refused: a source that matched a pin was refused.
	refused bool
}

// loadTrust verifies the TUF sources a bundle carries against the pinned
// roots. Nothing else the bundle carries is trusted (see operatorMaterial
// for what the operator adds).
func (o *options) loadTrust(r *bundle.Reader, inv *bundle.Inventory, persist bool) (*loadedTrust, error) {
	tm := &verify.TrustMaterial{}
	var sums []verify.TrustSummary
	refused := false

	dir := o.trustDir
	if dir == "" {
		d, err := trust.DefaultDir()
		if err != nil {
			return nil, fmt.Errorf("trust store: %w", err)
		}
		dir = d
	}
	var store *trust.Store
	for _, src := range inv.Trust {
		sum := verify.TrustSummary{Name: src.Name, Kind: src.Kind}
		switch src.Kind {
		case bundle.TrustKindTUF:
			if store == nil {
				s, err := trust.OpenStore(dir, trust.WithStoreLogger(o.logger))
				if err != nil {
					return nil, fmt.Errorf("trust store %s: %w", dir, err)
				}
				store = s
			}
			files, err := trustFiles(r, src)
			if err != nil {
				sum.Origin = "bundle"
				sum.Error = err.Error()
				refused = true
				sums = append(sums, sum)
				continue
			}
			res, err := store.Verify(files, trust.TimePolicy{Now: o.now(), At: o.at, MaxStaleness: o.maxStaleness}, persist && o.at.IsZero(),
				trust.WithVerifyLogger(o.logger), trust.WithSourceName(src.Name))
			if err != nil {
				sum.Origin = "bundle (TUF)"
				sum.Error = err.Error()
				if !errors.Is(err, trust.ErrUntrusted) && !errors.Is(err, trust.ErrNoPin) {
					refused = true
				} else {
					sum.Notes = append(sum.Notes, "not used: no pinned root in "+dir+" matches it")
				}
				sums = append(sums, sum)
				continue
			}
			sum.Name = "tuf:" + res.Pin
			sum.Origin = fmt.Sprintf("bundle, TUF-verified against pinned root %q", res.Pin)
			for _, role := range res.Roles {
				sum.Roles = append(sum.Roles, verify.RoleSummary{Role: role.Name, Version: role.Version, Expires: role.Expires})
			}
			sum.Notes = append(sum.Notes, res.Notes...)
			if res.Audit {
				sum.Notes = append(sum.Notes, "verified as of "+o.at.UTC().Format(time.RFC3339)+" (an audit time), not the real clock")
			}
			if res.TrustedRoot == nil {
				sum.Notes = append(sum.Notes, "the repository lists no trusted_root.json")
			} else {
				tr, err := trust.LoadTrustedRoot(res.TrustedRoot)
				if err != nil {
					sum.Error = "verified trusted_root.json does not load: " + err.Error()
					refused = true
				} else {
					tm.Sources = append(tm.Sources, verify.TrustSource{Name: sum.Name, Root: tr})
				}
			}
		default:
			sum.Origin = "bundle (carried, not trusted: only the operator's own configuration makes it trusted)"
		}
		sums = append(sums, sum)
	}
	return &loadedTrust{material: tm, summaries: sums, refused: refused}, nil
}

// operatorMaterial loads what the operator configured by hand: trusted
// roots, and the keys named by --key and by the policy.
func (o *options) operatorMaterial(tm *verify.TrustMaterial) ([]verify.TrustSummary, error) {
	var sums []verify.TrustSummary
	for _, p := range o.trustedRoots {
		m, err := trust.LoadTrustedRootFile(p)
		if err != nil {
			return nil, &OptionError{Option: "WithTrustedRoot", Err: err}
		}
		name := "file:" + p
		tm.Sources = append(tm.Sources, verify.TrustSource{Name: name, Root: m.TrustedRoot})
		sums = append(sums, verify.TrustSummary{Name: name, Kind: bundle.TrustKindTrustedRoot, Origin: trust.OperatorConfigured})
	}
	keyNames := append(slices.Clone(o.keys), o.policy.KeyFiles()...)
	seen := map[string]bool{}
	for _, k := range keyNames {
		if seen[k] {
			continue
		}
		seen[k] = true
		p := k
		if !filepath.IsAbs(p) && o.policyDir != "" {
			p = filepath.Join(o.policyDir, p)
		}
		m, err := trust.LoadPublicKeyFile(p)
		if err != nil {
			return nil, fmt.Errorf("%w: key %s: %w", ErrUsage, k, err)
		}
		tm.Keys = append(tm.Keys, verify.Key{Name: k, Public: m.PublicKey})
		sums = append(sums, verify.TrustSummary{Name: k, Kind: bundle.TrustKindPublicKey, Origin: trust.OperatorConfigured})
	}
	return sums, nil
}

// bundleTrustFiles serves one TUF source's files out of the bundle, by the
// paths its artifact manifest's layer titles give (the manifest, not the
// inventory, is authoritative: it is what the digests cover).
type bundleTrustFiles struct {
	r     *bundle.Reader
	paths map[string]v1.Descriptor
}

func trustFiles(r *bundle.Reader, src bundle.TrustSource) (*bundleTrustFiles, error) {
	h, err := v1.NewHash(src.Manifest)
	if err != nil {
		return nil, fmt.Errorf("%w: trust source %s: manifest digest %q: %v", bundle.ErrInvalidBundle, src.Name, src.Manifest, err)
	}
	m, err := r.ReadManifest(h)
	if err != nil {
		return nil, fmt.Errorf("trust source %s: %w", src.Name, err)
	}
	if m.ArtifactType != bundle.ArtifactTypeTUF {
		return nil, fmt.Errorf("%w: trust source %s: manifest %s has artifactType %q, not %q", bundle.ErrInvalidBundle, src.Name, src.Manifest, m.ArtifactType, bundle.ArtifactTypeTUF)
	}
	f := &bundleTrustFiles{r: r, paths: map[string]v1.Descriptor{}}
	for _, l := range m.Layers {
		p := l.Annotations[bundle.AnnotationTitle]
		if p == "" {
			return nil, fmt.Errorf("%w: trust source %s: a layer has no title", bundle.ErrInvalidBundle, src.Name)
		}
		if _, dup := f.paths[p]; dup {
			return nil, fmt.Errorf("%w: trust source %s: two files named %s", bundle.ErrInvalidBundle, src.Name, p)
		}
		f.paths[p] = l
	}
	return f, nil
}

func (f *bundleTrustFiles) ReadFile(path string, max int64) ([]byte, error) {
	d, ok := f.paths[path]
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, trust.ErrNotFound)
	}
	if d.Size > max {
		return nil, fmt.Errorf("%s is %d bytes, over %d: %w", path, d.Size, max, trust.ErrTooLarge)
	}
	return f.r.ReadBlobOnce(d.Digest, max)
}

// UpdateTrust applies the TUF material a bundle carries to the trust store
// (`airlock trust update`), importing nothing. It returns one summary per
// TUF source; a source that matches a pin and is refused is an error
// wrapping ErrTrust.
func UpdateTrust(ctx context.Context, path string, opts ...Option) ([]verify.TrustSummary, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	r, err := bundle.Open(path, bundle.WithReaderLogger(o.logger))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if _, err := r.Graph(); err != nil {
		return nil, err
	}
	inv, err := r.Inventory()
	if err != nil {
		return nil, err
	}
	lt, err := o.loadTrust(r, inv, true)
	if err != nil {
		return nil, err
	}
	sums, refused := lt.summaries, lt.refused
	var tuf []verify.TrustSummary
	for _, s := range sums {
		if s.Kind == bundle.TrustKindTUF {
			tuf = append(tuf, s)
		}
	}
	if len(tuf) == 0 {
		return nil, fmt.Errorf("%w (it was exported without TUF capture, or carries only trusted roots or keys): there is nothing to update and the trust store is unchanged", ErrNoTUF)
	}
	if refused {
		return tuf, fmt.Errorf("%w: see above", ErrTrust)
	}
	accepted := 0
	for _, s := range tuf {
		if s.Error == "" {
			accepted++
		}
	}
	if accepted == 0 {
		return tuf, fmt.Errorf("%w: no TUF repository in the bundle matches a pinned root", ErrTrust)
	}
	return tuf, nil
}

// fileSHA256 hashes a small file (policy files) for the report.
func fileSHA256(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
