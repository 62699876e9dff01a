package sign

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// BundleSignature signs artifact as a Sigstore bundle v0.3 (JSON) with a
// message signature. The entry is a hashedrekord 0.0.1 with an inclusion
// proof, a signed checkpoint and a SET; an RFC 3161 timestamp is included
// unless WithoutTimestamp. Key signers without a log make a bundle with no
// entries.
func (s *Signer) BundleSignature(artifact []byte, opts ...Option) ([]byte, error) {
	c := s.bundleConfig(opts)
	sd, err := s.signRaw(artifact)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(artifact)
	b := &protobundle.Bundle{
		MediaType: MediaTypeBundleV03,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]},
			Signature:     sd.sig,
		}},
	}
	var body []byte
	if c.tlog {
		body = HashedRekordBody(sum[:], sd.sig, sd.pubPEM)
	}
	return s.finishBundle(b, sd, body, "hashedrekord", c)
}

// BundleAttestation signs statement (in-toto JSON) as a Sigstore bundle
// v0.3 with a DSSE envelope, logged as a dsse 0.0.1 entry with inclusion
// proof, checkpoint and SET, and timestamped unless WithoutTimestamp.
func (s *Signer) BundleAttestation(statement []byte, opts ...Option) ([]byte, error) {
	c := s.bundleConfig(opts)
	sd, env, err := s.signEnvelope(statement)
	if err != nil {
		return nil, err
	}
	b := &protobundle.Bundle{
		MediaType: MediaTypeBundleV03,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload:     statement,
			PayloadType: MediaTypeInToto,
			Signatures:  []*protodsse.Signature{{Sig: sd.sig}},
		}},
	}
	var body []byte
	if c.tlog {
		body = DSSEBody(env, statement, b64(sd.sig), sd.pubPEM)
	}
	return s.finishBundle(b, sd, body, "dsse", c)
}

func (s *Signer) bundleConfig(opts []Option) config {
	if s.vs != nil {
		opts = append([]Option{WithTimestamp()}, opts...)
	}
	return newConfig(s, opts)
}

func (s *Signer) finishBundle(b *protobundle.Bundle, sd *signed, body []byte, kind string, c config) ([]byte, error) {
	vm := &protobundle.VerificationMaterial{}
	if sd.cert != nil {
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: sd.cert.Raw}}
	} else {
		id, err := KeyID(&s.key.PublicKey)
		if err != nil {
			return nil, err
		}
		vm.Content = &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: id}}
	}
	if body != nil {
		e, err := s.logEntry(body, kind, c, sd.defTime)
		if err != nil {
			return nil, err
		}
		logID, _ := hex.DecodeString(e.LogID)
		tle := &protorekor.TransparencyLogEntry{
			LogIndex:          e.LogIndex,
			LogId:             &protocommon.LogId{KeyId: logID},
			KindVersion:       &protorekor.KindVersion{Kind: e.Kind, Version: e.Version},
			IntegratedTime:    e.IntegratedTime,
			CanonicalizedBody: e.Body,
		}
		if c.set {
			tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: e.SET}
		}
		if c.proof {
			p, err := s.vs.GetInclusionProof(e.Body)
			if err != nil {
				return nil, fmt.Errorf("%w: inclusion proof: %v", ErrSign, err)
			}
			root, err := hex.DecodeString(*p.RootHash)
			if err != nil {
				return nil, fmt.Errorf("%w: inclusion proof root: %v", ErrSign, err)
			}
			var hashes [][]byte
			for _, h := range p.Hashes {
				hb, err := hex.DecodeString(h)
				if err != nil {
					return nil, fmt.Errorf("%w: inclusion proof hash: %v", ErrSign, err)
				}
				hashes = append(hashes, hb)
			}
			tle.InclusionProof = &protorekor.InclusionProof{
				LogIndex: *p.LogIndex, RootHash: root, TreeSize: *p.TreeSize, Hashes: hashes,
				Checkpoint: &protorekor.Checkpoint{Envelope: *p.Checkpoint},
			}
		}
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{tle}
	}
	if c.tsa && s.vs != nil {
		tsr, err := s.vs.TimestampResponse(sd.sig)
		if err != nil {
			return nil, fmt.Errorf("%w: timestamping: %v", ErrSign, err)
		}
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tsr}},
		}
	}
	b.VerificationMaterial = vm
	out, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: marshalling bundle: %v", ErrSign, err)
	}
	return out, nil
}

// CosignSignBundle is what `cosign sign --new-bundle-format` attaches to
// repo@digest: an OCI 1.1 referrer artifact whose one layer is a Sigstore
// bundle v0.3 holding a DSSE attestation with predicate type
// https://sigstore.dev/cosign/sign/v1 about the image digest.
func (s *Signer) CosignSignBundle(repo, digest string, opts ...Option) (Artifact, error) {
	if err := checkDigest(digest); err != nil {
		return Artifact{}, err
	}
	st, err := Statement(repo, digest, PredicateCosignSign, map[string]any{})
	if err != nil {
		return Artifact{}, err
	}
	return s.AttestationBundle(st, opts...)
}

// AttestationBundle wraps BundleAttestation(statement) as an OCI 1.1
// referrer artifact, as `cosign attest --new-bundle-format` attaches it.
func (s *Signer) AttestationBundle(statement []byte, opts ...Option) (Artifact, error) {
	pred, err := predicateType(statement)
	if err != nil {
		return Artifact{}, err
	}
	bj, err := s.BundleAttestation(statement, opts...)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{
		ArtifactType: MediaTypeBundleV03,
		Layers: []Layer{{MediaType: MediaTypeBundleV03, Data: bj, Annotations: map[string]string{
			AnnotationBundleType: "dsse-envelope", AnnotationBundlePredic: pred,
		}}},
	}, nil
}

// SignatureBundle wraps BundleSignature(artifact) as an OCI 1.1 referrer
// artifact (message signature over the given bytes, e.g. an image manifest).
func (s *Signer) SignatureBundle(artifact []byte, opts ...Option) (Artifact, error) {
	bj, err := s.BundleSignature(artifact, opts...)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{
		ArtifactType: MediaTypeBundleV03,
		Layers: []Layer{{MediaType: MediaTypeBundleV03, Data: bj, Annotations: map[string]string{
			AnnotationBundleType: "message-signature",
		}}},
	}, nil
}

func b64(b []byte) string { return base64Std().EncodeToString(b) }
