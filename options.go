package airlock

import (
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/airlock-oci/airlock/trust"
	"github.com/airlock-oci/airlock/verify"
)

// Option configures Export, Inspect, Verify and Import. Each option says
// which flows read it; the others ignore it.
type Option func(*options) error

type options struct {
	logger      *slog.Logger
	progress    func(Progress)
	concurrency int
	now         func() time.Time

	// registry access (Export, Import)
	backoff       *[2]time.Duration // WithRetryBackoff: initial, ceiling
	insecure      []string
	transport     http.RoundTripper
	keychain      authn.Keychain
	registryCAs   []string
	skipTLSVerify bool

	// Export
	platforms      []string
	signaturesFrom []string
	tufSources     []trust.Source
	noTUF          bool
	carryRoots     []string
	carryKeys      []string
	referrersTags  bool
	signer         *bundleSigner // WithSignKey (transfer_sign.go)
	partSize       int64         // WithSplit
	parity         int
	bundleKeys     []string // WithBundleKey
	since          []string // WithSince (delta.go)

	// Verify, Import
	policy       *verify.Policy
	policyInfo   *verify.PolicyInfo
	policyDir    string
	trustDir     string
	trustedRoots []string
	keys         []string
	maxStaleness time.Duration
	at           time.Time
	requireSCT   *bool

	// Import
	onlyVerified bool
	force        bool
	dryRun       bool
	dropHost     bool
}

func newOptions(opts []Option) (*options, error) {
	o := &options{
		logger:      slog.New(slog.DiscardHandler),
		concurrency: 4,
		now:         time.Now,
		keychain:    authn.DefaultKeychain,
	}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if o.concurrency < 1 {
		return nil, fmt.Errorf("%w: concurrency must be at least 1, got %d", ErrUsage, o.concurrency)
	}
	if o.transport != nil && (len(o.registryCAs) > 0 || o.skipTLSVerify) {
		return nil, fmt.Errorf("%w: a transport excludes registry CA and TLS options (configure them in the transport)", ErrUsage)
	}
	if b := o.backoff; b != nil && (b[0] < 0 || b[1] < b[0]) {
		return nil, fmt.Errorf("%w: retry backoff %s..%s: want 0 <= initial <= ceiling", ErrUsage, b[0], b[1])
	}
	if o.maxStaleness < 0 {
		return nil, fmt.Errorf("%w: max staleness must not be negative", ErrUsage)
	}
	return o, nil
}

// WithLogger sets the logger (default: discard). The library prints nothing.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.logger = l
		}
		return nil
	}
}

// WithProgress sets a callback that receives progress events. It may be
// called from several goroutines at once; the caller owns it.
func WithProgress(f func(Progress)) Option {
	return func(o *options) error { o.progress = f; return nil }
}

// WithConcurrency bounds parallel blob transfers and hashing (default 4).
func WithConcurrency(n int) Option {
	return func(o *options) error { o.concurrency = n; return nil }
}

// WithClock replaces the real clock (tests). Verification never trusts a
// time a bundle claims; this is the clock it trusts instead.
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.now = now; return nil }
}

// WithRetryBackoff (Export, Import) sets the wait before the first retry of
// a transient registry failure (a request, or a blob stream resumed where it
// broke), doubled each retry up to ceiling (which also caps a registry's
// Retry-After). Defaults: 500ms and 10s. Tests set it short.
func WithRetryBackoff(initial, ceiling time.Duration) Option {
	return func(o *options) error { o.backoff = &[2]time.Duration{initial, ceiling}; return nil }
}

// WithInsecureRegistries allows plain HTTP to these registry hosts
// (host:port), as used for loopback registries.
func WithInsecureRegistries(hosts ...string) Option {
	return func(o *options) error { o.insecure = append(o.insecure, hosts...); return nil }
}

// WithTransport sets the HTTP transport for registry and TUF access.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error { o.transport = rt; return nil }
}

// WithRegistryCA (Export, Import) trusts the PEM certificates in these
// files, besides the system's, for registry TLS (a private CA of an
// internal registry). TUF repositories are not affected.
func WithRegistryCA(pemFiles ...string) Option {
	return func(o *options) error { o.registryCAs = append(o.registryCAs, pemFiles...); return nil }
}

// WithRegistryTLSSkipVerifyUnsafe (Export, Import) accepts any certificate
// from registries: anyone on the path can then impersonate them. What is
// pulled is still checked against its digests, and verify judges it
// offline; but credentials are exposed. TUF repositories are not affected.
func WithRegistryTLSSkipVerifyUnsafe() Option {
	return func(o *options) error { o.skipTLSVerify = true; return nil }
}

// WithKeychain sets registry credentials (default: docker config and
// credential helpers, ggcr's authn.DefaultKeychain).
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) error { o.keychain = k; return nil }
}

// WithPlatforms (Export) keeps only these platforms ("linux/amd64",
// "linux/arm64/v8") of multi-arch images. Default: all.
func WithPlatforms(p ...string) Option {
	return func(o *options) error { o.platforms = append(o.platforms, p...); return nil }
}

// WithSignaturesFrom (Export) also looks for signatures in these
// repositories (cosign's COSIGN_REPOSITORY convention).
func WithSignaturesFrom(repos ...string) Option {
	return func(o *options) error { o.signaturesFrom = append(o.signaturesFrom, repos...); return nil }
}

// WithTUF (Export) captures these TUF repositories. Without it, Export
// captures Sigstore's public-good repository.
func WithTUF(src ...trust.Source) Option {
	return func(o *options) error { o.tufSources = append(o.tufSources, src...); return nil }
}

// WithoutTUF (Export) captures no TUF repository.
func WithoutTUF() Option {
	return func(o *options) error { o.noTUF = true; return nil }
}

// WithCarriedTrustedRoot (Export) carries a trusted_root.json file in the
// bundle. The far side never trusts it unless its own configuration does.
func WithCarriedTrustedRoot(path string) Option {
	return func(o *options) error { o.carryRoots = append(o.carryRoots, path); return nil }
}

// WithCarriedKey (Export) carries a public key file in the bundle; like
// carried trusted roots, it is never trusted by itself.
func WithCarriedKey(path string) Option {
	return func(o *options) error { o.carryKeys = append(o.carryKeys, path); return nil }
}

// WithReferrersTags (Export) also writes, for every subject with OCI 1.1
// referrers, the referrers fallback index named by its tag sha256-<hex> as
// an index.json entry, where regctl looks for referrers in a layout.
// Default off: containerd's `ctr images import` takes every named entry for
// an image and fails to unpack those (docs/bundle-format.md).
func WithReferrersTags() Option {
	return func(o *options) error { o.referrersTags = true; return nil }
}

// WithPolicy (Verify, Import) sets the policy; source names it in the
// report ("flags" for a policy built from command-line flags). Key names in
// the policy are files relative to the working directory. A policy, from
// WithPolicy or WithPolicyFile, is required.
func WithPolicy(p *verify.Policy, source string) Option {
	return func(o *options) error {
		if p == nil {
			return fmt.Errorf("%w: nil policy", ErrUsage)
		}
		o.policy = p
		o.policyInfo = &verify.PolicyInfo{Source: source, DefaultAction: p.DefaultAction}
		o.policyDir = ""
		return nil
	}
}

// WithPolicyFile (Verify, Import) reads and compiles a policy file
// (docs/policy.md). Key names in it are relative to its directory. The
// report records the file and its sha256.
func WithPolicyFile(path string) Option {
	return func(o *options) error {
		data, err := readFileLimited(path, verify.MaxPolicySize)
		if err != nil {
			return fmt.Errorf("%w: policy: %w", ErrUsage, err)
		}
		p, err := verify.ParsePolicy(data)
		if err != nil {
			return fmt.Errorf("%w: policy %s: %w", ErrUsage, path, err)
		}
		o.policy = p
		o.policyInfo = &verify.PolicyInfo{Source: path, Sha256: fileSHA256(data), DefaultAction: p.DefaultAction}
		o.policyDir = filepath.Dir(path)
		return nil
	}
}

// WithRequireSCT (Verify, Import) requires certificate transparency SCTs
// on Fulcio certificates even when the trusted root lists no CT logs.
// Default: required exactly when the trusted root lists CT logs.
func WithRequireSCT() Option {
	return func(o *options) error { require := true; o.requireSCT = &require; return nil }
}

// WithoutSCTUnsafe (Verify, Import) waives certificate transparency SCTs on
// Fulcio certificates, even when the trusted root lists CT logs: a
// certificate a CA issued out of public view is then accepted. Findings
// verified this way say so in their reason.
func WithoutSCTUnsafe() Option {
	return func(o *options) error { require := false; o.requireSCT = &require; return nil }
}

// WithTrustDir (Verify, Import) sets the trust store directory (default:
// trust.DefaultDir()).
func WithTrustDir(dir string) Option {
	return func(o *options) error { o.trustDir = dir; return nil }
}

// WithTrustedRoot (Verify, Import) trusts a trusted_root.json file the
// operator configured by hand. Reports name it as operator-configured.
func WithTrustedRoot(path string) Option {
	return func(o *options) error { o.trustedRoots = append(o.trustedRoots, path); return nil }
}

// WithKey (Verify, Import) trusts a public key file.
func WithKey(path string) Option {
	return func(o *options) error { o.keys = append(o.keys, path); return nil }
}

// WithMaxStalenessUnsafe (Verify, Import, UpdateTrust) accepts expired TUF
// timestamp and snapshot metadata up to this age (default 0: strict): a
// replayed, older view of the repository is then accepted within that
// window. The report notes every role accepted this way. See docs/trust.md.
func WithMaxStalenessUnsafe(d time.Duration) Option {
	return func(o *options) error { o.maxStaleness = d; return nil }
}

// WithAt (Verify) reproduces a past verification at time t, for an audit.
// The report says so. Import refuses it.
func WithAt(t time.Time) Option {
	return func(o *options) error { o.at = t; return nil }
}

// WithOnlyVerified (Import) imports the images that passed and reports the
// others, instead of refusing the whole bundle.
func WithOnlyVerified() Option {
	return func(o *options) error { o.onlyVerified = true; return nil }
}

// WithForce (Import) moves tags that already point at a different digest.
func WithForce() Option {
	return func(o *options) error { o.force = true; return nil }
}

// WithDryRun (Import) verifies and prints what would be pushed, pushing nothing.
func WithDryRun() Option {
	return func(o *options) error { o.dryRun = true; return nil }
}

// WithKeepSourceHost (Import) keeps the source registry host as the first
// path component under the target prefix (see docs/cli.md, reference
// mapping). This is the default; the option remains for callers that
// named it and undoes WithDropSourceHostUnsafe.
func WithKeepSourceHost() Option {
	return func(o *options) error { o.dropHost = false; return nil }
}

// WithDropSourceHostUnsafe (Import) drops the source registry host from the
// target path: docker.io/library/nginx:1.27 lands at PREFIX/library/nginx:1.27.
// Unsafe: images from different registries with the same path (which the
// policy may judge by different rules, e.g. evil.example/vendor/app and
// registry.vendor.example/vendor/app) then land at the same target
// reference, so one can take the other's tag.
func WithDropSourceHostUnsafe() Option {
	return func(o *options) error { o.dropHost = true; return nil }
}
