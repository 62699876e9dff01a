package sign

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// SimpleSigningPayload is the payload `cosign sign` signs for an image:
// repo is the docker reference (no tag or digest), digest "sha256:<hex>".
func SimpleSigningPayload(repo, digest string) []byte {
	r, _ := json.Marshal(repo)
	d, _ := json.Marshal(digest)
	return []byte(`{"critical":{"identity":{"docker-reference":` + string(r) +
		`},"image":{"docker-manifest-digest":` + string(d) +
		`},"type":"cosign container image signature"},"optional":null}`)
}

// CosignSignature makes one layer of a legacy cosign signature manifest for
// the image repo@digest. Options: WithoutTLog (no bundle annotation),
// WithTimestamp (RFC 3161 over the signature bytes), WithIntegratedTime,
// WithLogIndex.
func (s *Signer) CosignSignature(repo, digest string, opts ...Option) (Layer, error) {
	if err := checkDigest(digest); err != nil {
		return Layer{}, err
	}
	return s.CosignSignaturePayload(SimpleSigningPayload(repo, digest), opts...)
}

// CosignSignaturePayload signs an arbitrary payload into a legacy signature
// layer (tests use it for payloads cosign would not write).
func (s *Signer) CosignSignaturePayload(payload []byte, opts ...Option) (Layer, error) {
	c := newConfig(s, opts)
	sd, err := s.signRaw(payload)
	if err != nil {
		return Layer{}, err
	}
	ann := map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sd.sig)}
	if sd.cert != nil {
		ann[AnnotationCertificate] = string(sd.pubPEM)
		ann[AnnotationChain] = string(CertPEM(sd.chain...))
	}
	if c.tlog {
		sum := sha256.Sum256(payload)
		e, err := s.logEntry(HashedRekordBody(sum[:], sd.sig, sd.pubPEM), "hashedrekord", c, sd.defTime)
		if err != nil {
			return Layer{}, err
		}
		ann[AnnotationBundle] = e.CosignBundleAnnotation()
	}
	if c.tsa {
		if s.vs == nil {
			return Layer{}, fmt.Errorf("%w: timestamp wanted but no TSA", ErrNoLog)
		}
		tsr, err := s.vs.TimestampResponse(sd.sig)
		if err != nil {
			return Layer{}, fmt.Errorf("%w: timestamping: %v", ErrSign, err)
		}
		ann[AnnotationRFC3161] = RFC3161Annotation(tsr)
	}
	return Layer{MediaType: MediaTypeSimpleSigning, Data: payload, Annotations: ann}, nil
}

// Envelope is a DSSE envelope as cosign writes it.
type Envelope struct {
	PayloadType string         `json:"payloadType"`
	Payload     []byte         `json:"payload"`
	Signatures  []EnvelopeSign `json:"signatures"`
}

// EnvelopeSign is one DSSE signature.
type EnvelopeSign struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

// signEnvelope signs statement as an in-toto DSSE envelope.
func (s *Signer) signEnvelope(statement []byte) (*signed, []byte, error) {
	sd, err := s.signRaw(dsse.PAE(MediaTypeInToto, statement))
	if err != nil {
		return nil, nil, err
	}
	env, err := json.Marshal(Envelope{PayloadType: MediaTypeInToto, Payload: statement, Signatures: []EnvelopeSign{{Sig: sd.sig}}})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: marshalling envelope: %v", ErrSign, err)
	}
	return sd, env, nil
}

// CosignAttestation makes one layer of a legacy cosign attestation manifest:
// a DSSE envelope around statement (an in-toto statement JSON), logged as a
// dsse 0.0.1 entry (or intoto 0.0.1 with WithIntotoEntry). WithTimestamp
// timestamps the whole envelope JSON, as cosign v2 does for attestations;
// WithTimestampOverSignature the signature bytes, as cosign v3 does.
func (s *Signer) CosignAttestation(statement []byte, opts ...Option) (Layer, error) {
	c := newConfig(s, opts)
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(statement, &st); err != nil {
		return Layer{}, fmt.Errorf("%w: statement is not JSON: %v", ErrInput, err)
	}
	sd, env, err := s.signEnvelope(statement)
	if err != nil {
		return Layer{}, err
	}
	if c.twoSigs {
		sig := EnvelopeSign{Sig: sd.sig}
		if env, err = json.Marshal(Envelope{PayloadType: MediaTypeInToto, Payload: statement, Signatures: []EnvelopeSign{sig, sig}}); err != nil {
			return Layer{}, fmt.Errorf("%w: marshalling envelope: %v", ErrSign, err)
		}
	}
	pred := st.PredicateType
	if c.predicate != "" {
		pred = c.predicate
	}
	ann := map[string]string{AnnotationSignature: "", AnnotationPredicate: pred}
	if sd.cert != nil {
		ann[AnnotationCertificate] = string(sd.pubPEM)
		ann[AnnotationChain] = string(CertPEM(sd.chain...))
	}
	if c.tlog {
		var body []byte
		kind := "dsse"
		if c.intoto {
			kind = "intoto"
			body = IntotoBody(env, statement, sd.pubPEM)
		} else {
			body = DSSEBody(env, statement, base64.StdEncoding.EncodeToString(sd.sig), sd.pubPEM)
		}
		e, err := s.logEntry(body, kind, c, sd.defTime)
		if err != nil {
			return Layer{}, err
		}
		ann[AnnotationBundle] = e.CosignBundleAnnotation()
	}
	if c.tsa {
		if s.vs == nil {
			return Layer{}, fmt.Errorf("%w: timestamp wanted but no TSA", ErrNoLog)
		}
		stamped := env
		if c.tsaOverSig {
			stamped = sd.sig
		}
		tsr, err := s.vs.TimestampResponse(stamped)
		if err != nil {
			return Layer{}, fmt.Errorf("%w: timestamping: %v", ErrSign, err)
		}
		ann[AnnotationRFC3161] = RFC3161Annotation(tsr)
	}
	return Layer{MediaType: MediaTypeDSSE, Data: env, Annotations: ann}, nil
}
