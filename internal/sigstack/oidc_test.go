package sigstack

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
)

// The issuer's token verifies against the key its discovery document
// points at, and carries the claims Fulcio's email issuer type reads.
func TestIssuerToken(t *testing.T) {
	iss, err := StartIssuer()
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	get := func(url string, v any) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	get(iss.URL+"/.well-known/openid-configuration", &disc)
	if disc.Issuer != iss.URL {
		t.Fatalf("issuer %q, want %q", disc.Issuer, iss.URL)
	}
	var jwks struct{ Keys []struct{ N, E, Kid string } }
	get(disc.JWKSURI, &jwks)
	if len(jwks.Keys) != 1 {
		t.Fatalf("%d keys", len(jwks.Keys))
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(dec(jwks.Keys[0].N)), E: int(new(big.Int).SetBytes(dec(jwks.Keys[0].E)).Int64())}

	tok, err := iss.Token("alice@airlock.test")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], dec(parts[2])); err != nil {
		t.Fatalf("token signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(dec(parts[1]), &claims); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"iss": iss.URL, "aud": "sigstore", "sub": "alice@airlock.test", "email": "alice@airlock.test", "email_verified": true} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	// A damaged signature does not verify.
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], dec(parts[2])[1:]); err == nil {
		t.Error("a truncated signature verified")
	}
}
