package trust

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func pemKey(t testing.TB, typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkix(t testing.TB, pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemKey(t, "PUBLIC KEY", der)
}

func TestLoadPublicKey(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	rsa2k, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1k, _ := rsa.GenerateKey(rand.Reader, 1024)
	tests := []struct {
		name string
		data []byte
		want error
		typ  string
	}{
		{"ecdsa (cosign.pub)", pkix(t, &ec.PublicKey), nil, "*ecdsa.PublicKey"},
		{"ecdsa with text around", append(append([]byte("# corp key\n"), pkix(t, &ec.PublicKey)...), "\n"...), nil, "*ecdsa.PublicKey"},
		{"ed25519", pkix(t, ed), nil, "ed25519.PublicKey"},
		{"rsa pkix", pkix(t, &rsa2k.PublicKey), nil, "*rsa.PublicKey"},
		{"rsa pkcs1", pemKey(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsa2k.PublicKey)), nil, "*rsa.PublicKey"},
		{"rsa too small", pkix(t, &rsa1k.PublicKey), ErrInvalid, ""},
		{"not PEM", []byte("hello"), ErrInvalid, ""},
		{"empty", nil, ErrInvalid, ""},
		{"private key", pemKey(t, "PRIVATE KEY", []byte{1, 2, 3}), ErrInvalid, ""},
		{"garbage DER", pemKey(t, "PUBLIC KEY", []byte{0x30, 0x03, 1, 2, 3}), ErrInvalid, ""},
		{"two keys", append(pkix(t, ed), pkix(t, &ec.PublicKey)...), ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadPublicKey(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil {
				if got := typeName(k); got != tt.typ {
					t.Errorf("type %s, want %s", got, tt.typ)
				}
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *ecdsa.PublicKey:
		return "*ecdsa.PublicKey"
	case ed25519.PublicKey:
		return "ed25519.PublicKey"
	case *rsa.PublicKey:
		return "*rsa.PublicKey"
	}
	return "?"
}

func TestLoadTrustedRoot(t *testing.T) {
	dir := sigstoreFixture(t)
	good := readFixture(t, dir, fixtureTrustedRoot)
	tr, err := LoadTrustedRoot(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.RekorLogs()) < 2 || len(tr.FulcioCertificateAuthorities()) == 0 || len(tr.TimestampingAuthorities()) == 0 {
		t.Errorf("production trusted root: %d logs, %d CAs, %d TSAs", len(tr.RekorLogs()), len(tr.FulcioCertificateAuthorities()), len(tr.TimestampingAuthorities()))
	}
	for name, data := range map[string][]byte{
		"empty":      nil,
		"not JSON":   []byte("nope"),
		"truncated":  good[:len(good)/2],
		"wrong type": []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`),
	} {
		if _, err := LoadTrustedRoot(data); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}

	// From files, named as operator-configured.
	d := t.TempDir()
	p := filepath.Join(d, "trusted_root.json")
	os.WriteFile(p, good, 0o600)
	m, err := LoadTrustedRootFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Origin != OperatorConfigured || m.String() != "operator-configured trusted root "+p {
		t.Errorf("material = %s", m)
	}
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	kp := filepath.Join(d, "cosign.pub")
	os.WriteFile(kp, pkix(t, ed), 0o600)
	km, err := LoadPublicKeyFile(kp)
	if err != nil || km.String() != "operator-configured public key "+kp || km.PublicKey == nil {
		t.Errorf("key material %v, %v", km, err)
	}
	if _, err := LoadPublicKeyFile(filepath.Join(d, "missing.pub")); err == nil || !strings.Contains(err.Error(), "operator-configured") {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(d, "big.json")
	os.WriteFile(big, make([]byte, MaterialMaxLength+1), 0o600)
	if _, err := LoadTrustedRootFile(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big file: %v", err)
	}
}
