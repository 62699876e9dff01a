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
