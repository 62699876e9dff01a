package airlock

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/sign"
)

// fakeFulcio issues self-signed certificates valid for life, counting calls.
type fakeFulcio struct {
	life  time.Duration
	calls int
}

func (f *fakeFulcio) GetCertificate(context.Context, sign.Keypair, *sign.CertificateProviderOptions) ([]byte, error) {
	f.calls++
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(f.calls)), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(f.life)}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
}

// TestOnceCertificate: every signature of an export shares one Fulcio
// certificate while it has time left, and a new one is asked for when it
// is about to expire (a split export signs its parts manifest last).
func TestOnceCertificate(t *testing.T) {
	for _, tc := range []struct {
		life  time.Duration
		calls int
	}{{10 * time.Minute, 1}, {30 * time.Second, 3}} {
		f := &fakeFulcio{life: tc.life}
		c := &onceCertificate{p: f}
		for range 3 {
			if _, err := c.GetCertificate(context.Background(), nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		if f.calls != tc.calls {
			t.Errorf("certificates valid for %s: Fulcio asked %d times for 3 signatures, want %d", tc.life, f.calls, tc.calls)
		}
	}
}
