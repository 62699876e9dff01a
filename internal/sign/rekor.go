package sign

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/tlog"
)

// LogEntry is a Rekor v1 entry as the log answered it: the canonical body,
// where it sits, and the signed entry timestamp (SET) over those fields.
type LogEntry struct {
	Body           []byte
	Kind           string // hashedrekord, dsse, intoto
	Version        string // 0.0.1
	IntegratedTime int64
	LogIndex       int64
	LogID          string // hex sha256 of the log's PKIX public key
	SET            []byte
}

type hashOut struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"value"`
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// HashedRekordBody is the canonical hashedrekord 0.0.1 body for a signature
// over an artifact with the given sha256 digest, verified by pemKey (PEM
// certificate or public key).
func HashedRekordBody(artifactSHA256 []byte, sig, pemKey []byte) []byte {
	type pk struct {
		Content []byte `json:"content"`
	}
	type sigT struct {
		Content   []byte `json:"content"`
		PublicKey pk     `json:"publicKey"`
	}
	body := struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			Data struct {
				Hash hashOut `json:"hash"`
			} `json:"data"`
			Signature sigT `json:"signature"`
		} `json:"spec"`
	}{APIVersion: "0.0.1", Kind: "hashedrekord"}
	body.Spec.Data.Hash = hashOut{"sha256", hex.EncodeToString(artifactSHA256)}
	body.Spec.Signature = sigT{Content: sig, PublicKey: pk{Content: pemKey}}
	out, _ := json.Marshal(body) // plain strings and bytes: cannot fail
	return out
}

// DSSEBody is the canonical dsse 0.0.1 body for a DSSE envelope (its JSON
// bytes as submitted) with one signature verified by pemKey.
func DSSEBody(envelopeJSON, payload []byte, sigB64 string, pemKey []byte) []byte {
	type sigT struct {
		Signature string `json:"signature"`
		Verifier  []byte `json:"verifier"`
	}
	body := struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			EnvelopeHash hashOut `json:"envelopeHash"`
			PayloadHash  hashOut `json:"payloadHash"`
			Signatures   []sigT  `json:"signatures"`
		} `json:"spec"`
	}{APIVersion: "0.0.1", Kind: "dsse"}
	body.Spec.EnvelopeHash = hashOut{"sha256", sha256Hex(envelopeJSON)}
	body.Spec.PayloadHash = hashOut{"sha256", sha256Hex(payload)}
	body.Spec.Signatures = []sigT{{Signature: sigB64, Verifier: pemKey}}
	out, _ := json.Marshal(body)
	return out
}

// IntotoBody is the canonical intoto 0.0.1 body (older cosign): the hash of
// the envelope JSON as submitted, the hash of its decoded payload and the
// verifying key or certificate.
func IntotoBody(envelopeJSON, payload, pemKey []byte) []byte {
	body := struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			Content struct {
				Hash        hashOut `json:"hash"`
				PayloadHash hashOut `json:"payloadHash"`
			} `json:"content"`
			PublicKey []byte `json:"publicKey"`
		} `json:"spec"`
	}{APIVersion: "0.0.1", Kind: "intoto"}
	body.Spec.Content.Hash = hashOut{"sha256", sha256Hex(envelopeJSON)}
	body.Spec.Content.PayloadHash = hashOut{"sha256", sha256Hex(payload)}
	body.Spec.PublicKey = pemKey
	out, _ := json.Marshal(body)
	return out
}

// logEntry enters body into the VirtualSigstore's Rekor: it signs a SET over
// the entry at the configured time and index.
func (s *Signer) logEntry(body []byte, kind string, c config, def time.Time) (*LogEntry, error) {
	if s.vs == nil {
		return nil, ErrNoLog
	}
	logID, err := s.vs.RekorLogID()
	if err != nil {
		return nil, fmt.Errorf("%w: rekor log id: %v", ErrSign, err)
	}
	at := c.at
	if at.IsZero() {
		at = def
	}
	e := &LogEntry{Body: body, Kind: kind, Version: "0.0.1", IntegratedTime: at.Unix(), LogIndex: c.logIndex, LogID: logID}
	e.SET, err = s.vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(body),
		IntegratedTime: e.IntegratedTime,
		LogIndex:       e.LogIndex,
		LogID:          logID,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: signing entry timestamp: %v", ErrSign, err)
	}
	return e, nil
}

// CosignBundleAnnotation renders e as cosign's dev.sigstore.cosign/bundle
// annotation value.
func (e *LogEntry) CosignBundleAnnotation() string {
	v := struct {
		SignedEntryTimestamp []byte
		Payload              struct {
			Body           string `json:"body"`
			IntegratedTime int64  `json:"integratedTime"`
			LogIndex       int64  `json:"logIndex"`
			LogID          string `json:"logID"`
		}
	}{SignedEntryTimestamp: e.SET}
	v.Payload.Body = base64.StdEncoding.EncodeToString(e.Body)
	v.Payload.IntegratedTime = e.IntegratedTime
	v.Payload.LogIndex = e.LogIndex
	v.Payload.LogID = e.LogID
	out, _ := json.Marshal(v)
	return string(out)
}

// RFC3161Annotation renders a DER timestamp response as cosign's
// dev.sigstore.cosign/rfc3161timestamp annotation value.
func RFC3161Annotation(der []byte) string {
	out, _ := json.Marshal(struct{ SignedRFC3161Timestamp []byte }{der})
	return string(out)
}
