package trust

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// OperatorConfigured is how material loaded by hand is named in reports:
// it is trusted because an operator configured it, not because TUF vouched
// for it.
const OperatorConfigured = "operator-configured"

// MaterialMaxLength caps an operator-configured file.
const MaterialMaxLength = 4 << 20

// LoadPublicKey parses a PEM public key: PKIX "PUBLIC KEY" (cosign.pub) or
// PKCS#1 "RSA PUBLIC KEY"; ECDSA, Ed25519 or RSA (at least 2048 bits).
// Text around the PEM block is ignored; more than one key is an error.
func LoadPublicKey(data []byte) (crypto.PublicKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: public key: no PEM block", ErrInvalid)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, fmt.Errorf("%w: public key: more than one PEM block", ErrInvalid)
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: public key: PEM block %q (want PUBLIC KEY)", ErrInvalid, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrInvalid, err)
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return k, nil
	case ed25519.PublicKey:
		return k, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: public key: RSA key of %d bits (want at least 2048)", ErrInvalid, k.N.BitLen())
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: public key: unsupported type %T", ErrInvalid, key)
}

// LoadTrustedRoot parses a trusted_root.json (sigstore-go's
// root.NewTrustedRootFromJSON) with an error that says what was wrong.
func LoadTrustedRoot(data []byte) (*root.TrustedRoot, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: trusted_root.json is empty", ErrInvalid)
	}
	if len(data) > MaterialMaxLength {
		return nil, fmt.Errorf("%w: trusted_root.json is %d bytes, limit %d", ErrTooLarge, len(data), MaterialMaxLength)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: trusted_root.json: %v", ErrInvalid, err)
	}
	return tr, nil
}

// Material is operator-configured trust material read from a file.
type Material struct {
	// Path is the file it came from; Origin is always OperatorConfigured.
	Path, Origin string
	// Exactly one of these is set.
	PublicKey   crypto.PublicKey
	TrustedRoot *root.TrustedRoot
}

// String names the material for reports: "operator-configured public key /etc/cosign.pub".
func (m *Material) String() string {
	kind := "public key"
	if m.TrustedRoot != nil {
		kind = "trusted root"
	}
	return m.Origin + " " + kind + " " + m.Path
}

// LoadPublicKeyFile reads a public key an operator configured.
func LoadPublicKeyFile(path string) (*Material, error) {
	data, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	k, err := LoadPublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Material{Path: path, Origin: OperatorConfigured, PublicKey: k}, nil
}

// LoadTrustedRootFile reads a trusted_root.json an operator configured.
func LoadTrustedRootFile(path string) (*Material, error) {
	data, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	tr, err := LoadTrustedRoot(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Material{Path: path, Origin: OperatorConfigured, TrustedRoot: tr}, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading operator-configured material: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaterialMaxLength+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > MaterialMaxLength {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrTooLarge, path, MaterialMaxLength)
	}
	return data, nil
}
