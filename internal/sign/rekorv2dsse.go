package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	rekornote "github.com/sigstore/rekor-tiles/v2/pkg/note"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/signature"
	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"
)

// RekorV2Log is an in-memory Rekor v2 (tile-based) log with its own key,
// for what VirtualSigstore cannot make: dsse 0.0.2 entries, as cosign 2.6
// logs image signatures and attestations to Rekor v2. Each entry is alone in
// a tree of size one whose checkpoint the log signs (C2SP signed note).
//
// A RekorV2Log is safe for concurrent use.
type RekorV2Log struct {
	key     *ecdsa.PrivateKey
	baseURL string
	start   time.Time
}

// NewRekorV2Log makes a log served (nominally) at baseURL; its checkpoint
// origin is the URL's host name, as Rekor v2 and its verifiers use.
func NewRekorV2Log(baseURL string) (*RekorV2Log, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: log key: %v", ErrSign, err)
	}
	return &RekorV2Log{key: k, baseURL: baseURL, start: time.Now().Add(-time.Hour).Truncate(time.Second)}, nil
}

// LogID is the hex sha256 of the log's PKIX public key.
func (l *RekorV2Log) LogID() string {
	id, _ := KeyID(&l.key.PublicKey) // a P-256 key always marshals
	return id
}

// TransparencyLog is the log as a trusted root lists it.
func (l *RekorV2Log) TransparencyLog() *root.TransparencyLog {
	id, _ := hex.DecodeString(l.LogID())
	return &root.TransparencyLog{
		BaseURL: l.baseURL, ID: id, ValidityPeriodStart: l.start,
		HashFunc: crypto.SHA256, PublicKey: &l.key.PublicKey, SignatureHashFunc: crypto.SHA256,
	}
}

// BundleAttestationDSSEV2 signs statement (keyless or with a key) as a
// Sigstore bundle v0.3 whose one log entry is a Rekor v2 dsse 0.0.2 entry in
// log: payload hash and signatures with their verifier, an inclusion proof
// and a signed checkpoint, and an RFC 3161 timestamp from the
// VirtualSigstore's TSA (unless WithoutTimestamp).
func (s *Signer) BundleAttestationDSSEV2(statement []byte, log *RekorV2Log, opts ...Option) ([]byte, error) {
	if s.vs == nil || log == nil {
		return nil, fmt.Errorf("%w: dsse 0.0.2 fixtures need a VirtualSigstore (TSA) and a Rekor v2 log", ErrInput)
	}
	c := s.bundleConfig(opts)
	sd, _, err := s.signEnvelope(statement)
	if err != nil {
		return nil, err
	}
	ver := &rekortilespb.Verifier{KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256}
	vm := &protobundle.VerificationMaterial{}
	if sd.cert != nil {
		ver.Verifier = &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: sd.cert.Raw}}
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: sd.cert.Raw}}
	} else {
		der, err := x509MarshalPKIX(&s.key.PublicKey)
		if err != nil {
			return nil, err
		}
		ver.Verifier = &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: der}}
		id, _ := KeyID(&s.key.PublicKey)
		vm.Content = &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: id}}
	}
	sum := sha256.Sum256(statement)
	entry := &rekortilespb.Entry{Kind: "dsse", ApiVersion: "0.0.2", Spec: &rekortilespb.Spec{Spec: &rekortilespb.Spec_DsseV002{DsseV002: &rekortilespb.DSSELogEntryV002{
		PayloadHash: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]},
		Signatures:  []*rekortilespb.Signature{{Content: sd.sig, Verifier: ver}},
	}}}}
	js, err := protojson.Marshal(entry)
	if err != nil {
		return nil, fmt.Errorf("%w: marshalling entry: %v", ErrSign, err)
	}
	body, err := jsoncanonicalizer.Transform(js)
	if err != nil {
		return nil, fmt.Errorf("%w: canonicalising entry: %v", ErrSign, err)
	}
	tle, err := log.include(body, "dsse", "0.0.2")
	if err != nil {
		return nil, err
	}
	vm.TlogEntries = []*protorekor.TransparencyLogEntry{tle}
	if c.tsa {
		tsr, err := s.vs.TimestampResponse(sd.sig)
		if err != nil {
			return nil, fmt.Errorf("%w: timestamping: %v", ErrSign, err)
		}
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tsr}}}
	}
	out, err := protojson.Marshal(&protobundle.Bundle{
		MediaType: MediaTypeBundleV03, VerificationMaterial: vm,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: statement, PayloadType: MediaTypeInToto, Signatures: []*protodsse.Signature{{Sig: sd.sig}},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: marshalling bundle: %v", ErrSign, err)
	}
	return out, nil
}

// include enters body as the only leaf of a tree and signs its checkpoint.
func (l *RekorV2Log) include(body []byte, kind, version string) (*protorekor.TransparencyLogEntry, error) {
	u, err := url.Parse(l.baseURL)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: log base URL %q has no host", ErrInput, l.baseURL)
	}
	sv, err := signature.LoadECDSASignerVerifier(l.key, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: log signer: %v", ErrSign, err)
	}
	ns, err := rekornote.NewNoteSigner(context.Background(), u.Hostname(), sv)
	if err != nil {
		return nil, fmt.Errorf("%w: note signer: %v", ErrSign, err)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(body)
	cp := f_log.Checkpoint{Origin: u.Hostname(), Size: 1, Hash: leaf}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(cp)}, ns)
	if err != nil {
		return nil, fmt.Errorf("%w: signing checkpoint: %v", ErrSign, err)
	}
	id, _ := hex.DecodeString(l.LogID())
	return &protorekor.TransparencyLogEntry{
		LogIndex: 0, LogId: &protocommon.LogId{KeyId: id},
		KindVersion: &protorekor.KindVersion{Kind: kind, Version: version},
		InclusionProof: &protorekor.InclusionProof{
			LogIndex: 0, TreeSize: 1, RootHash: leaf, Hashes: [][]byte{},
			Checkpoint: &protorekor.Checkpoint{Envelope: string(signed)},
		},
		CanonicalizedBody: body,
	}, nil
}
