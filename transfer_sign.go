package airlock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/airlock-oci/airlock/bundle"
	"github.com/airlock-oci/airlock/verify"
)

// Signed, split bundles: the export side signs the bundle (and its parts
// manifest) with a cosign key; the verify side checks the signature against
// the policy's bundle section before judging any image, and reports the
// parts and any repair. docs/bundle-format.md specifies the formats.

const maxKeyFile = 64 << 10

// WithSignKey (Export) signs the bundle with the cosign private key file at
// path ("ENCRYPTED SIGSTORE PRIVATE KEY" or "ENCRYPTED COSIGN PRIVATE KEY"
// as `cosign generate-key-pair` writes it, or an unencrypted PKCS#8/EC/RSA
// PEM key). password is asked for the key's password when it is encrypted;
// nil means no password. The signature is a Sigstore bundle with a DSSE
// in-toto statement of predicate type verify.PredicateBundle; it is not
// logged in a transparency log.
func WithSignKey(path string, password func() ([]byte, error)) Option {
	return func(o *options) error {
		s, err := loadSignKey(path, password)
		if err != nil {
			return &OptionError{Option: "WithSignKey", Value: path, Err: err}
		}
		if o.signer != nil {
			return &OptionError{Option: "WithSignKey", With: []string{"WithKeyless"}}
		}
		o.signer = s
		return nil
	}
}

// WithSplit (Export) writes the bundle as data parts of partSize bytes
// (out.000, out.001, ...), parity Reed–Solomon parity parts (out.p00, ...)
// and the parts manifest out.parts.json, instead of one file at out. An
// interrupted split export run again with the same arguments keeps what it
// already wrote (see bundle.WithSplit).
func WithSplit(partSize int64, parity int) Option {
	return func(o *options) error {
		if partSize < bundle.MinPartSize {
			return fmt.Errorf("%w: split size %d is below the minimum %d bytes", ErrUsage, partSize, bundle.MinPartSize)
		}
		if parity < 0 || parity > bundle.MaxParityParts {
			return fmt.Errorf("%w: parity %d: want 0 to %d parts", ErrUsage, parity, bundle.MaxParityParts)
		}
		o.partSize, o.parity = partSize, parity
		return nil
	}
}

// bundleSigner signs DSSE envelopes with a key, or keylessly.
type bundleSigner struct {
	signer  signature.Signer
	keyID   string         // hex sha256 of the PKIX public key, the Sigstore bundle's key hint
	keyless *keylessSigner // WithKeyless: signer and keyID are unset
}

func loadSignKey(path string, password func() ([]byte, error)) (*bundleSigner, error) {
	data, err := readFileLimited(path, maxKeyFile)
	if err != nil {
		return nil, err
	}
	pf := func(bool) ([]byte, error) {
		if password == nil {
			return nil, nil
		}
		return password()
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(data, pf)
	if err != nil {
		return nil, fmt.Errorf("loading private key (wrong COSIGN_PASSWORD?): %w", err)
	}
	s, err := signature.LoadDefaultSigner(priv)
	if err != nil {
		return nil, fmt.Errorf("loading signer: %w", err)
	}
	pub, err := s.PublicKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &bundleSigner{signer: s, keyID: hex.EncodeToString(sum[:])}, nil
}

type statementSubject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// sign makes a Sigstore bundle v0.3 with a DSSE envelope holding an in-toto
// statement about subjects (name -> "sha256:<hex>").
// Keyless, the bundle carries the Fulcio certificate, the log entries and
// the timestamps instead of the key hint; the statement is the same.
func (s *bundleSigner) sign(ctx context.Context, subjects []statementSubject, pred verify.BundlePredicate) ([]byte, error) {
	st := struct {
		Type          string                 `json:"_type"`
		Subject       []statementSubject     `json:"subject"`
		PredicateType string                 `json:"predicateType"`
		Predicate     verify.BundlePredicate `json:"predicate"`
	}{"https://in-toto.io/Statement/v1", subjects, verify.PredicateBundle, pred}
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	const payloadType = "application/vnd.in-toto+json"
	if s.keyless != nil {
		b, err := s.keyless.sign(ctx, payloadType, payload)
		if err != nil {
			return nil, err
		}
		return protojson.Marshal(b)
	}
	sig, err := s.signer.SignMessage(bytes.NewReader(dsse.PAE(payloadType, payload)))
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	b := &protobundle.Bundle{
		MediaType: bundle.MediaTypeSigstoreBundle,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: payloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: s.keyID}},
		},
	}
	return protojson.Marshal(b)
}

func subject(name, digest string) statementSubject {
	return statementSubject{Name: name, Digest: map[string]string{"sha256": strings.TrimPrefix(digest, "sha256:")}}
}

// writerOptions are the bundle.Writer options for a split or signed export.
func (o *options) splitOptions(ctx context.Context, pred *verify.BundlePredicate) []bundle.WriterOption {
	if o.partSize == 0 {
		return nil
	}
	opts := []bundle.WriterOption{bundle.WithSplit(o.partSize, o.parity)}
	if o.signer != nil {
		opts = append(opts, bundle.WithPartsSigner(func(d string) ([]byte, error) {
			return o.signer.sign(ctx, []statementSubject{subject("parts.json", d)}, *pred)
		}))
	}
	return opts
}

// signBundle adds the bundle signature to w: a statement naming index.json
// (as it will be written, without the signature's own entry) and the
// inventory document. Called once everything else is in the index.
func (o *options) signBundle(ctx context.Context, w *bundle.Writer, inv *bundle.Inventory, pred *verify.BundlePredicate) error {
	if o.signer == nil {
		return nil
	}
	idx, err := bundle.SignedIndexDigest(w.IndexEntries())
	if err != nil {
		return err
	}
	raw, err := inv.Marshal() // exactly what PutInventory stored
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	invDigest := "sha256:" + hex.EncodeToString(sum[:])
	*pred = verify.BundlePredicate{
		Exporter: verify.BundleExporter{Name: inv.Exporter.Name, Version: inv.Exporter.Version},
		Time:     inv.Exporter.Time,
		Sources:  pred.Sources,
	}
	sig, err := o.signer.sign(ctx, []statementSubject{subject("index.json", idx), subject("inventory.json", invDigest)}, *pred)
	if err != nil {
		return fmt.Errorf("signing the bundle: %w", err)
	}
	if _, err := w.PutBundleSignature(sig); err != nil {
		return fmt.Errorf("storing the bundle signature: %w", err)
	}
	return nil
}

// exportedBytes is the size of what an export wrote: the plain tar, or
// every part and the parts manifest.
func (o *options) exportedBytes(out string) int64 {
	if o.partSize == 0 {
		if fi, err := os.Stat(out); err == nil {
			return fi.Size()
		}
		return 0
	}
	raw, err := os.ReadFile(bundle.PartsPath(out))
	if err != nil {
		return 0
	}
	var p bundle.Parts
	if json.Unmarshal(raw, &p) != nil {
		return 0
	}
	n := int64(len(raw))
	for _, f := range p.Data {
		n += f.Size
	}
	if p.Parity != nil {
		for _, f := range p.Parity.Parts {
			n += f.Size
		}
	}
	return n
}

// bundleExists reports whether path names a bundle: a file, or the parts
// manifest of a split bundle.
func bundleExists(path string) error {
	_, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, perr := os.Stat(bundle.PartsPath(path)); perr == nil {
			return nil
		}
	}
	return err
}

// recordParts puts what reading a split bundle found into the report.
func recordParts(rep *verify.Report, r *bundle.Reader) {
	st := r.Parts()
	if st == nil {
		return
	}
	p := &verify.Parts{Manifest: st.Path, DataParts: st.DataParts, ParityParts: st.ParityParts, Repaired: st.Repaired}
	for _, d := range st.Damaged {
		p.Damaged = append(p.Damaged, verify.DamagedPart{Name: d.Name, Reason: d.Reason})
	}
	rep.Parts = p
}

// judgeBundleSignature checks the bundle's own signature (and its parts
// manifest's) against the trust material and the policy's bundle signers.
// It reports true when a required signature did not verify: the bundle
// then fails before any image is judged.
func (o *options) judgeBundleSignature(v *verified, tm *verify.TrustMaterial, copts verify.Options) (stop bool, err error) {
	r := v.reader
	sig, manifest, err := r.BundleSignature()
	present := err == nil
	if err != nil && !errors.Is(err, bundle.ErrNotFound) {
		// A malformed signature artifact: reported as a failed signature.
		present = true
	}
	if !present && len(o.policy.BundleSigners) == 0 {
		return false, nil
	}
	var f verify.Finding
	invDigest := ""
	if present {
		if err != nil {
			f = verify.Finding{Status: verify.StatusFailed, Reason: err.Error()}
		} else {
			idx, ierr := bundle.SignedIndexDigest(r.Index().Manifests)
			inv, verr := r.InventoryDigest()
			if err := errors.Join(ierr, verr); err != nil {
				return false, err
			}
			invDigest = inv
			f = verify.CheckBundle(sig, verify.Artifact{Digest: idx}, tm, copts)
			f.Manifest = manifest.String()
		}
	}
	res := o.policy.CheckBundleSignature(present, f, invDigest)
	if st := r.Parts(); st != nil && res.Status == verify.BundleSigVerified {
		var pf *verify.Finding
		if len(st.Manifest.Signature) > 0 {
			d, err := st.Manifest.SignedDigest()
			if err != nil {
				return false, err
			}
			g := verify.CheckBundle(st.Manifest.Signature, verify.Artifact{Digest: d}, tm, copts)
			pf = &g
		}
		res.CheckPartsSignature(pf)
	}
	v.report.BundleSignature = res
	if !res.OK() {
		v.report.Images = []verify.ImageResult{}
		return true, nil
	}
	return false, nil
}

// bundleTime is the exporter's clock for the inventory: whole seconds, so
// that a re-run of an interrupted split export lays the archive out the
// same way and keeps its parts.
func bundleTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// InspectedSignature is what a bundle signature claims, unverified.
type InspectedSignature struct {
	// Manifest is the digest of the signature's artifact manifest.
	Manifest string `json:"manifest"`
	// KeyHint is the signing key's id (hex sha256 of its public key), for
	// key signatures; Certificate says a keyless signature carries one.
	KeyHint     string `json:"keyHint,omitempty"`
	Certificate bool   `json:"certificate,omitempty"`
	// Claimed: the signed statement's predicate, as written by the signer.
	Predicate *verify.BundlePredicate `json:"predicate,omitempty"`
	// Error says why the signature could not be read.
	Error string `json:"error,omitempty"`
}

// inspectSignature reads the bundle signature without verifying it.
func inspectSignature(r *bundle.Reader) *InspectedSignature {
	sig, manifest, err := r.BundleSignature()
	if errors.Is(err, bundle.ErrNotFound) {
		return nil
	}
	is := &InspectedSignature{Manifest: manifest.String()}
	if err != nil {
		is.Error = err.Error()
		return is
	}
	pb := new(protobundle.Bundle)
	if err := protojson.Unmarshal(sig, pb); err != nil {
		is.Error = "sigstore bundle: " + err.Error()
		return is
	}
	vm := pb.GetVerificationMaterial()
	is.KeyHint = vm.GetPublicKey().GetHint()
	is.Certificate = vm.GetCertificate() != nil || vm.GetX509CertificateChain() != nil
	if env := pb.GetDsseEnvelope(); env != nil {
		var st struct {
			Predicate verify.BundlePredicate `json:"predicate"`
		}
		if err := json.Unmarshal(env.Payload, &st); err == nil {
			is.Predicate = &st.Predicate
		} else {
			is.Error = "statement: " + err.Error()
		}
	}
	return is
}

// WithBundleKey (Verify, Import) requires the bundle itself to be signed
// by the public key file at path, in addition to the policy's bundle:
// signers (the quick flag --bundle-key). The report names the key by its
// absolute path.
func WithBundleKey(path string) Option {
	return func(o *options) error {
		abs, err := filepath.Abs(path)
		if err != nil {
			return &OptionError{Option: "WithBundleKey", Value: path, Err: err}
		}
		o.bundleKeys = append(o.bundleKeys, abs)
		return nil
	}
}

// applyBundleKeys adds the --bundle-key signers to the policy.
func (o *options) applyBundleKeys() error {
	if len(o.bundleKeys) == 0 || o.policy == nil {
		return nil
	}
	ids := make([]verify.Identity, len(o.bundleKeys))
	for i, k := range o.bundleKeys {
		ids[i] = verify.Identity{Key: k}
	}
	p, err := o.policy.WithBundleSigners(ids...)
	if err != nil {
		return &OptionError{Option: "WithBundleKey", Err: err}
	}
	o.policy, o.bundleKeys = p, nil
	return nil
}

// ExportedTransfer says how a bundle was signed, split and thinned.
type ExportedTransfer struct {
	Signed bool `json:"signed"`
	// KeyID of the signing key (hex sha256 of its public key).
	KeyID string `json:"keyId,omitempty"`
	// Keyless says who signed keylessly, and through which services.
	Keyless *KeylessSigned `json:"keyless,omitempty"`
	// Parts and ParityParts count the files of a split bundle; PartsFile
	// is its parts manifest.
	Parts       int    `json:"parts,omitempty"`
	ParityParts int    `json:"parityParts,omitempty"`
	PartsFile   string `json:"partsFile,omitempty"`
	// Omitted blobs (and their bytes) a --since file says the target holds.
	Omitted      int   `json:"omitted,omitempty"`
	OmittedBytes int64 `json:"omittedBytes,omitempty"`
}

func (o *options) exportedTransfer(out string, inv *bundle.Inventory) *ExportedTransfer {
	if o.signer == nil && o.partSize == 0 && len(inv.Omitted) == 0 {
		return nil
	}
	t := &ExportedTransfer{Signed: o.signer != nil, Omitted: len(inv.Omitted)}
	if o.signer != nil {
		t.KeyID = o.signer.keyID
		if o.signer.keyless != nil {
			t.Keyless = o.signer.keyless.signed()
		}
	}
	for _, b := range inv.Omitted {
		t.OmittedBytes += b.Size
	}
	if o.partSize > 0 {
		t.PartsFile = bundle.PartsPath(out)
		if raw, err := os.ReadFile(t.PartsFile); err == nil {
			var p bundle.Parts
			if json.Unmarshal(raw, &p) == nil {
				t.Parts = len(p.Data)
				if p.Parity != nil {
					t.ParityParts = len(p.Parity.Parts)
				}
			}
		}
	}
	return t
}
