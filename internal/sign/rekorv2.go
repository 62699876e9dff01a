package sign

import (
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// BundleAttestationRekorV2 signs statement keyless as a Sigstore bundle
// v0.3 logged in the VirtualSigstore's Rekor v2 log: a hashedrekord 0.0.2
// entry over the DSSE PAE with an inclusion proof against a signed
// checkpoint (note format), no SET and no integrated time, and an RFC 3161
// timestamp as the trusted signing time (WithoutTimestamp leaves it out,
// which verifiers must then refuse). This is the shape sigstore-go's
// VirtualSigstore gives Rekor v2 entries, and the one cosign v3.1 writes
// (its signer, sigstore-go v1.2.2, logs every DSSE envelope to Rekor v2 as
// hashedrekord 0.0.2 over the PAE); cosign v2.6 (sigstore-go v1.1.4) uses
// dsse 0.0.2 entries instead, which sigstore-go v1.3.0 cannot check.
func (s *Signer) BundleAttestationRekorV2(statement []byte, opts ...Option) ([]byte, error) {
	if s.vs == nil || s.key != nil {
		return nil, fmt.Errorf("%w: Rekor v2 fixtures need a keyless signer", ErrInput)
	}
	c := s.bundleConfig(opts)
	te, err := s.vs.AttestHashedRekordV2(s.identity, s.issuer, statement)
	if err != nil {
		return nil, fmt.Errorf("%w: Rekor v2 attestation: %v", ErrSign, err)
	}
	entries, err := te.TlogEntries()
	if err != nil || len(entries) != 1 {
		return nil, fmt.Errorf("%w: Rekor v2 entry: %v", ErrSign, err)
	}
	tle, ok := protojsonClone(entries[0].TransparencyLogEntry())
	if !ok {
		return nil, fmt.Errorf("%w: Rekor v2 entry has no protobuf form", ErrSign)
	}
	tle.IntegratedTime = 0 // Rekor v2 has no integrated time
	vc, err := te.VerificationContent()
	if err != nil || vc.Certificate() == nil {
		return nil, fmt.Errorf("%w: Rekor v2 certificate: %v", ErrSign, err)
	}
	sc, err := te.SignatureContent()
	if err != nil || sc.EnvelopeContent() == nil {
		return nil, fmt.Errorf("%w: Rekor v2 envelope: %v", ErrSign, err)
	}
	env := sc.EnvelopeContent().RawEnvelope()
	de := &protodsse.Envelope{Payload: statement, PayloadType: env.PayloadType}
	for _, sg := range env.Signatures {
		raw, err := base64Std().DecodeString(sg.Sig)
		if err != nil {
			return nil, fmt.Errorf("%w: envelope signature: %v", ErrSign, err)
		}
		de.Signatures = append(de.Signatures, &protodsse.Signature{Sig: raw, Keyid: sg.KeyID})
	}
	vm := &protobundle.VerificationMaterial{
		Content:     &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
		TlogEntries: []*protorekor.TransparencyLogEntry{tle},
	}
	if c.tsa {
		tss, err := te.Timestamps()
		if err != nil {
			return nil, fmt.Errorf("%w: timestamps: %v", ErrSign, err)
		}
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{}
		for _, ts := range tss {
			vm.TimestampVerificationData.Rfc3161Timestamps = append(vm.TimestampVerificationData.Rfc3161Timestamps, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
		}
	}
	out, err := protojson.Marshal(&protobundle.Bundle{
		MediaType: MediaTypeBundleV03, VerificationMaterial: vm,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: de},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: marshalling bundle: %v", ErrSign, err)
	}
	return out, nil
}

func protojsonClone(t *protorekor.TransparencyLogEntry) (*protorekor.TransparencyLogEntry, bool) {
	if t == nil {
		return nil, false
	}
	b, err := protojson.Marshal(t)
	if err != nil {
		return nil, false
	}
	var out protorekor.TransparencyLogEntry
	if protojson.Unmarshal(b, &out) != nil {
		return nil, false
	}
	return &out, true
}
