package verify

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
)

var errNilKey = errors.New("nil public key")

// keyID is the hex sha256 of a public key's PKIX DER encoding, the id
// reports and policies use for keys.
func keyID(pub crypto.PublicKey) (string, error) {
	if pub == nil {
		return "", errNilKey
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("marshalling public key: %w", err)
	}
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:]), nil
}

// keySigner is the Signer for key k: its name, its key id, and, when the
// operator loaded the same key under several names, every one of them
// (policies name keys by file, and match by key id: docs/policy.md).
func (tm *TrustMaterial) keySigner(k Key, kid string) *Signer {
	s := &Signer{Key: k.Name, KeyID: kid}
	for _, o := range tm.Keys {
		if o.Name == k.Name {
			continue
		}
		if id, err := keyID(o.Public); err == nil && id == kid {
			if len(s.Keys) == 0 {
				s.Keys = []string{k.Name}
			}
			s.Keys = append(s.Keys, o.Name)
		}
	}
	return s
}
