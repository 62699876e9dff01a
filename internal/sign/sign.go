package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
)

// Media types and annotation keys, as cosign and the Sigstore bundle spec
// write them.
const (
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	MediaTypeDSSE          = "application/vnd.dsse.envelope.v1+json"
	MediaTypeBundleV03     = "application/vnd.dev.sigstore.bundle.v0.3+json"
	MediaTypeInToto        = "application/vnd.in-toto+json"
	MediaTypeOCIEmpty      = "application/vnd.oci.empty.v1+json"
	MediaTypeOCIConfig     = "application/vnd.oci.image.config.v1+json"

	AnnotationSignature    = "dev.cosignproject.cosign/signature"
	AnnotationCertificate  = "dev.sigstore.cosign/certificate"
	AnnotationChain        = "dev.sigstore.cosign/chain"
	AnnotationBundle       = "dev.sigstore.cosign/bundle"
	AnnotationRFC3161      = "dev.sigstore.cosign/rfc3161timestamp"
	AnnotationPredicate    = "predicateType"
	AnnotationBundleType   = "dev.sigstore.bundle.content"
	AnnotationBundlePredic = "dev.sigstore.bundle.predicateType"

	// PredicateCosignSign is the predicate type of a plain `cosign sign` in
	// the new bundle format (a DSSE attestation).
	PredicateCosignSign = "https://sigstore.dev/cosign/sign/v1"
)

// Layer is one layer of an artifact manifest: its media type, content and
// annotations. It is what verify.Evidence is read from.
type Layer struct {
	MediaType   string
	Data        []byte
	Annotations map[string]string
}

// Artifact is an artifact manifest's content: its layers, its artifactType
// (for OCI 1.1 referrers) and its manifest annotations.
type Artifact struct {
	Layers       []Layer
	ArtifactType string
	Annotations  map[string]string
}

// Signer makes signatures. A keyless Signer asks its VirtualSigstore's
// Fulcio for a fresh short-lived certificate for every signature; a key
// Signer signs with its ECDSA key and, when it has a VirtualSigstore, logs
// the signature in that Sigstore's Rekor.
//
// A Signer is safe for concurrent use.
type Signer struct {
	vs       *ca.VirtualSigstore
	key      *ecdsa.PrivateKey
	identity string
	issuer   string
}

// NewKeyless returns a Signer whose certificates name identity (SAN, as an
// e-mail address) and issuer (the Fulcio OIDC issuer extension). vs acts as
// Fulcio, Rekor and TSA.
func NewKeyless(vs *ca.VirtualSigstore, identity, issuer string) *Signer {
	return &Signer{vs: vs, identity: identity, issuer: issuer}
}

// NewKey returns a Signer that signs with key. vs, when not nil, is the
// transparency log (and TSA) it may use; nil means no log at all, like
// `cosign sign --key k --tlog-upload=false`.
func NewKey(key *ecdsa.PrivateKey, vs *ca.VirtualSigstore) *Signer {
	return &Signer{vs: vs, key: key}
}

// Keyless reports whether s signs with Fulcio certificates.
func (s *Signer) Keyless() bool { return s.key == nil }

// Option adjusts how one signature is made and logged.
type Option func(*config)

type config struct {
	tlog       bool
	tsa        bool
	tsaOverSig bool
	twoSigs    bool
	intoto     bool
	proof      bool
	set        bool
	at         time.Time
	logIndex   int64
	predicate  string
	bundleType string
}

func newConfig(s *Signer, opts []Option) config {
	c := config{tlog: s.vs != nil, set: true, proof: true, logIndex: 42}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithoutTLog makes a signature no transparency log has seen (no SET, no
// entry). Default: logged whenever the Signer has a VirtualSigstore.
func WithoutTLog() Option { return func(c *config) { c.tlog = false } }

// WithTimestamp adds an RFC 3161 timestamp from the VirtualSigstore's TSA.
// Default: none for legacy layers, always for bundles.
func WithTimestamp() Option { return func(c *config) { c.tsa = true } }

// WithTimestampOverSignature adds an RFC 3161 timestamp over a legacy
// attestation's DSSE signature bytes, as cosign v3 writes it (it builds the
// layer from a Sigstore bundle), instead of over the whole envelope JSON,
// as cosign v2 does.
func WithTimestampOverSignature() Option {
	return func(c *config) { c.tsa, c.tsaOverSig = true, true }
}

// WithSignatureTwice writes a legacy attestation's envelope with its
// signature listed twice (what only a crafted envelope has); the log entry
// and the timestamp are made over that envelope.
func WithSignatureTwice() Option { return func(c *config) { c.twoSigs = true } }

// WithoutTimestamp leaves RFC 3161 timestamps out of bundles.
func WithoutTimestamp() Option { return func(c *config) { c.tsa = false } }

// WithIntotoEntry logs a legacy attestation as an intoto 0.0.1 entry, as
// cosign before v2.0 did, instead of a dsse 0.0.1 entry.
func WithIntotoEntry() Option { return func(c *config) { c.intoto = true } }

// WithIntegratedTime sets the log's integrated time. Default: the time of
// signing (for keyless signatures, not before the certificate's NotBefore).
func WithIntegratedTime(t time.Time) Option { return func(c *config) { c.at = t } }

// WithLogIndex sets the log index of the entry. Default 42.
func WithLogIndex(i int64) Option { return func(c *config) { c.logIndex = i } }

// WithoutInclusionProof makes a bundle entry carry only a SET (which
// bundles v0.2+ reject). Default: inclusion proof and checkpoint.
func WithoutInclusionProof() Option { return func(c *config) { c.proof = false } }

// WithoutSET makes a bundle entry carry only an inclusion proof.
func WithoutSET() Option { return func(c *config) { c.set = false } }

// WithPredicateAnnotation overrides the predicateType annotation of a
// legacy attestation layer (default: the statement's predicateType).
func WithPredicateAnnotation(p string) Option { return func(c *config) { c.predicate = p } }

// signed is one raw signature with the material that verifies it.
type signed struct {
	sig     []byte
	cert    *x509.Certificate // keyless
	pubPEM  []byte            // PEM of cert (keyless) or public key (key)
	chain   []*x509.Certificate
	defTime time.Time
}

// signRaw signs the sha256 digest of msg.
func (s *Signer) signRaw(msg []byte) (*signed, error) {
	sum := sha256.Sum256(msg)
	if s.key != nil {
		sig, err := ecdsa.SignASN1(rand.Reader, s.key, sum[:])
		if err != nil {
			return nil, fmt.Errorf("%w: signing with key: %v", ErrSign, err)
		}
		pub, err := PublicKeyPEM(&s.key.PublicKey)
		if err != nil {
			return nil, err
		}
		return &signed{sig: sig, pubPEM: pub, defTime: time.Now().Truncate(time.Second)}, nil
	}
	if s.vs == nil {
		return nil, fmt.Errorf("%w: keyless signer without a VirtualSigstore", ErrInput)
	}
	cert, priv, err := s.vs.GenerateLeafCert(s.identity, s.issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: issuing leaf certificate: %v", ErrSign, err)
	}
	cs, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: leaf key %T cannot sign", ErrSign, priv)
	}
	sig, err := cs.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: signing with leaf key: %v", ErrSign, err)
	}
	var chain []*x509.Certificate
	for _, a := range s.vs.FulcioCertificateAuthorities() {
		if f, ok := a.(*root.FulcioCertificateAuthority); ok {
			chain = append(chain, f.Intermediates...)
			chain = append(chain, f.Root)
		}
	}
	// Logged now, as a real log would: within the certificate's validity
	// (its NotBefore is the issuing second) and never after the moment a
	// verifier later looks at it.
	at := time.Now().Truncate(time.Second)
	if at.Before(cert.NotBefore) {
		at = cert.NotBefore
	}
	return &signed{sig: sig, cert: cert, pubPEM: CertPEM(cert), chain: chain, defTime: at}, nil
}

// PublicKeyPEM encodes a public key as a PKIX "PUBLIC KEY" PEM block.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: marshalling public key: %v", ErrSign, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func x509MarshalPKIX(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: marshalling public key: %v", ErrSign, err)
	}
	return der, nil
}

// CertPEM encodes certificates as concatenated PEM blocks.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyID is the hex sha256 of a public key's PKIX DER encoding.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: marshalling public key: %v", ErrSign, err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

func checkDigest(d string) error {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 64 {
		return fmt.Errorf("%w: digest %q is not sha256:<64 hex>", ErrInput, d)
	}
	if _, err := hex.DecodeString(hexPart); err != nil {
		return fmt.Errorf("%w: digest %q: %v", ErrInput, d, err)
	}
	return nil
}
