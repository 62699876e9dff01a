package airlock

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
)

// Keyless bundle signing: the same statement as WithSignKey signs, signed
// with an ephemeral key whose Fulcio certificate names the identity token's
// subject and issuer, logged in Rekor (v1 or v2) and timestamped by a TSA,
// all through sigstore-go's pkg/sign.

// Keyless says as whom and through which Sigstore instance a bundle is
// signed keylessly (WithKeyless). Give either SigningConfig or FulcioURL
// with RekorURL (and TSAURL).
type Keyless struct {
	// IDToken is the OIDC identity token Fulcio exchanges for a
	// short-lived certificate naming its subject and issuer. Required.
	IDToken string
	// SigningConfig is a Sigstore signing config file (cosign v3's
	// --signing-config, media type v0.2): the Fulcio, Rekor (v1 or v2) and
	// timestamp authority URLs, chosen as sigstore-go selects services.
	SigningConfig string
	// FulcioURL, RekorURL and TSAURL name the services explicitly instead
	// (cosign's --fulcio-url, --rekor-url, --timestamp-server-url). RekorURL
	// is a Rekor v1 log; a Rekor v2 log is named in a signing config.
	FulcioURL, RekorURL, TSAURL string
	// TrustedRoots are trusted_root.json files. When given, the signed
	// bundle is verified against them before it is stored, so a
	// misconfigured instance fails the export rather than the far side.
	TrustedRoots []string
}

// KeylessSigned says how a bundle was signed keylessly (ExportedTransfer).
type KeylessSigned struct {
	// Identity and Issuer are the certificate's subject alternative name
	// and OIDC issuer: what a policy's bundle signers must name.
	Identity string `json:"identity"`
	Issuer   string `json:"issuer"`
	Fulcio   string `json:"fulcio"`
	// Logs are the transparency logs written to ("URL (Rekor vN)");
	// TSAs the timestamp authorities asked.
	Logs []string `json:"logs,omitempty"`
	TSAs []string `json:"tsas,omitempty"`
	// Checked is set when the signed bundle was verified against the
	// trusted roots before it was stored.
	Checked bool `json:"checked"`
}

// maxIDToken bounds an identity token read from a file.
const maxIDToken = 64 << 10

// WithKeyless (Export) signs the bundle keylessly (see Keyless). It and
// WithSignKey exclude each other. Nothing is contacted until the export
// signs, after every image was discovered.
func WithKeyless(k Keyless) Option {
	return func(o *options) error {
		s, err := newKeylessSigner(k)
		if err != nil {
			if oe := (*OptionError)(nil); errors.As(err, &oe) {
				return err
			}
			return &OptionError{Option: "WithKeyless", Err: err}
		}
		if o.signer != nil {
			return &OptionError{Option: "WithKeyless", With: []string{"WithSignKey"}}
		}
		o.signer = &bundleSigner{keyless: s}
		return nil
	}
}

// keylessSigner signs with one ephemeral key and one Fulcio certificate
// for every signature of an export. Safe for concurrent use.
type keylessSigner struct {
	token   string
	keypair *sign.EphemeralKeypair
	cert    *onceCertificate
	logs    []sign.Transparency
	tsas    []*sign.TimestampAuthority
	trusted root.TrustedMaterial // nil: not checked at signing
	info    KeylessSigned
}

func newKeylessSigner(k Keyless) (*keylessSigner, error) {
	if strings.TrimSpace(k.IDToken) == "" {
		return nil, &OptionError{Option: "Keyless.IDToken", Err: errors.New("no identity token given")}
	}
	if err := checkJWT(k.IDToken); err != nil {
		return nil, &OptionError{Option: "Keyless.IDToken", Err: err}
	}
	sv, err := keylessServices(k)
	if err != nil {
		return nil, err
	}
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, fmt.Errorf("making the ephemeral key: %w", err)
	}
	s := &keylessSigner{
		token:   strings.TrimSpace(k.IDToken),
		keypair: kp,
		cert:    &onceCertificate{p: sign.NewFulcio(&sign.FulcioOptions{BaseURL: sv.fulcio.url, Retries: 1})},
		info:    KeylessSigned{Fulcio: sv.fulcio.url},
	}
	for _, l := range sv.logs {
		s.logs = append(s.logs, sign.NewRekor(&sign.RekorOptions{BaseURL: l.url, Version: l.version, Retries: 1, Timeout: 90 * time.Second}))
		s.info.Logs = append(s.info.Logs, fmt.Sprintf("%s (Rekor v%d)", l.url, l.version))
	}
	for _, t := range sv.tsas {
		s.tsas = append(s.tsas, sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: t.url, Retries: 1}))
		s.info.TSAs = append(s.info.TSAs, t.url)
	}
	var tms root.TrustedMaterialCollection
	for _, p := range k.TrustedRoots {
		raw, err := readFileLimited(p, maxTrustedRootFile)
		if err != nil {
			return nil, &OptionError{Option: "Keyless.TrustedRoots", Err: err}
		}
		tr, err := root.NewTrustedRootFromJSON(raw)
		if err != nil {
			return nil, &OptionError{Option: "Keyless.TrustedRoots", Value: p, Err: err}
		}
		tms = append(tms, tr)
	}
	if len(tms) > 0 {
		s.trusted, s.info.Checked = tms, true
	}
	return s, nil
}

// service is one Sigstore service a keyless signature uses.
type service struct {
	url     string
	version uint32
}

// sigstoreServices are the services of one keyless signing.
type sigstoreServices struct {
	fulcio     service
	logs, tsas []service
}

// keylessServices names the Sigstore instance from a signing config or
// from URLs, and checks what the far side will need: a transparency log
// (a keyless certificate lives minutes; the log or a TSA says when it was
// used), a TSA with a Rekor v2 log (which records no time), and http(s)
// URLs.
func keylessServices(k Keyless) (sigstoreServices, error) {
	var sv sigstoreServices
	switch {
	case k.SigningConfig != "" && (k.FulcioURL != "" || k.RekorURL != "" || k.TSAURL != ""):
		return sv, &OptionError{Option: "Keyless.SigningConfig", With: []string{"Keyless.FulcioURL", "Keyless.RekorURL", "Keyless.TSAURL"}}
	case k.SigningConfig != "":
		var err error
		if sv, err = signingConfigServices(k.SigningConfig); err != nil {
			return sv, err
		}
	default:
		if k.FulcioURL == "" {
			return sv, errors.New("name the Sigstore instance: a signing config, or a Fulcio URL with a Rekor URL")
		}
		sv.fulcio = service{k.FulcioURL, 1}
		if k.RekorURL != "" {
			sv.logs = append(sv.logs, service{k.RekorURL, 1})
		}
		if k.TSAURL != "" {
			sv.tsas = append(sv.tsas, service{k.TSAURL, 1})
		}
	}
	if len(sv.logs) == 0 {
		return sv, errors.New("no transparency log: a keyless bundle signature needs one (a Rekor URL, or a signing config with a Rekor log)")
	}
	for _, l := range sv.logs {
		if l.version == 2 && len(sv.tsas) == 0 {
			return sv, fmt.Errorf("Rekor v2 log %s records no signing time: add a timestamp authority (a TSA URL, or one in the signing config)", l.url)
		}
	}
	for _, u := range append(append([]service{sv.fulcio}, sv.logs...), sv.tsas...) {
		if p, err := url.Parse(u.url); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return sv, fmt.Errorf("service URL %q is not an http(s) URL", u.url)
		}
	}
	return sv, nil
}

// signingConfigServices selects, from the signing config at path, the
// services valid now in the API versions airlock speaks.
func signingConfigServices(path string) (sigstoreServices, error) {
	var sv sigstoreServices
	raw, err := readFileLimited(path, maxKeyFile)
	if err != nil {
		return sv, &OptionError{Option: "Keyless.SigningConfig", Err: err}
	}
	sc, err := root.NewSigningConfigFromJSON(raw)
	if err != nil {
		return sv, &OptionError{Option: "Keyless.SigningConfig", Value: path, Err: err}
	}
	now := time.Now()
	f, err := root.SelectService(sc.FulcioCertificateAuthorityURLs(), []uint32{1}, now)
	if err != nil {
		return sv, &OptionError{Option: "Keyless.SigningConfig", Value: path, Err: fmt.Errorf("Fulcio: %w", err)}
	}
	sv.fulcio = service{f.URL, 1}
	if len(sc.RekorLogURLs()) > 0 {
		ls, err := root.SelectServices(sc.RekorLogURLs(), sc.RekorLogURLsConfig(), []uint32{1, 2}, now)
		if err != nil {
			return sv, &OptionError{Option: "Keyless.SigningConfig", Value: path, Err: fmt.Errorf("Rekor: %w", err)}
		}
		for _, l := range ls {
			sv.logs = append(sv.logs, service{l.URL, l.MajorAPIVersion})
		}
	}
	if len(sc.TimestampAuthorityURLs()) > 0 {
		ts, err := root.SelectServices(sc.TimestampAuthorityURLs(), sc.TimestampAuthorityURLsConfig(), []uint32{1}, now)
		if err != nil {
			return sv, &OptionError{Option: "Keyless.SigningConfig", Value: path, Err: fmt.Errorf("timestamp authority: %w", err)}
		}
		for _, t := range ts {
			sv.tsas = append(sv.tsas, service{t.URL, 1})
		}
	}
	return sv, nil
}

// maxTrustedRootFile bounds a trusted_root.json read for keyless signing.
const maxTrustedRootFile = 4 << 20

// checkJWT checks that token has the shape of a JWT (three base64url
// parts, a JSON header), so that a mistyped file name is not sent to
// Fulcio as a token. Fulcio verifies the token itself.
func checkJWT(token string) error {
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return fmt.Errorf("not a JWT (%d dot-separated parts, want 3)", len(parts))
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || !json.Valid(hdr) {
		return errors.New("not a JWT (its header is not base64url JSON)")
	}
	return nil
}

// sign signs the DSSE envelope of payload and returns the Sigstore bundle
// with the certificate, the log entries and the timestamps.
func (k *keylessSigner) sign(ctx context.Context, payloadType string, payload []byte) (*protobundle.Bundle, error) {
	b, err := sign.Bundle(&sign.DSSEData{Data: payload, PayloadType: payloadType}, k.keypair, sign.BundleOptions{
		CertificateProvider:        k.cert,
		CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: k.token},
		TransparencyLogs:           k.logs,
		TimestampAuthorities:       k.tsas,
		Context:                    ctx,
		TrustedRoot:                k.trusted,
	})
	if err != nil {
		return nil, fmt.Errorf("keyless signing (Fulcio %s): %w", k.info.Fulcio, err)
	}
	return b, nil
}

// signed describes the signer once it signed: the certificate's identity.
func (k *keylessSigner) signed() *KeylessSigned {
	info := k.info
	if der := k.cert.certificate(); der != nil {
		if c, err := x509.ParseCertificate(der); err == nil {
			if sum, err := certificate.SummarizeCertificate(c); err == nil {
				info.Identity, info.Issuer = sum.SubjectAlternativeName, sum.Issuer
			}
		}
	}
	return &info
}

// onceCertificate asks Fulcio once and hands the same certificate to every
// signature of the export (they share the ephemeral key), asking again
// when it is about to expire: a split export signs its parts manifest at
// the end, possibly after the certificate's few minutes (the identity token
// must then still be valid).
type onceCertificate struct {
	p        sign.CertificateProvider
	mu       sync.Mutex
	der      []byte
	notAfter time.Time
}

var _ sign.CertificateProvider = (*onceCertificate)(nil)

// certMargin is how long a certificate must still be valid to be reused.
const certMargin = time.Minute

func (c *onceCertificate) GetCertificate(ctx context.Context, kp sign.Keypair, opts *sign.CertificateProviderOptions) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.der != nil && time.Now().Add(certMargin).Before(c.notAfter) {
		return c.der, nil
	}
	der, err := c.p.GetCertificate(ctx, kp, opts)
	if err != nil {
		return nil, fmt.Errorf("getting a certificate from Fulcio: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("the certificate Fulcio returned does not parse: %w", err)
	}
	c.der, c.notAfter = der, cert.NotAfter
	return der, nil
}

func (c *onceCertificate) certificate() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.der
}
