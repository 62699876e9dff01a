package verify_test

import (
	"fmt"

	"github.com/airlock-oci/airlock/artifact"
	"github.com/airlock-oci/airlock/internal/sign"
	"github.com/airlock-oci/airlock/verify"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
)

// Checking a keyless legacy cosign signature offline against a trusted root
// the operator configured. The finding names the signer; whether that
// signer is acceptable is the policy's decision.
func ExampleCheck() {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		panic(err)
	}
	rootJSON, err := sign.TrustedRootJSON(vs)
	if err != nil {
		panic(err)
	}
	tr, err := root.NewTrustedRootFromJSON(rootJSON)
	if err != nil {
		panic(err)
	}
	digest := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	layer, err := sign.NewKeyless(vs, "builder@example.com", "https://issuer.example").CosignSignature("registry.example/app", digest)
	if err != nil {
		panic(err)
	}
	f := verify.Check(verify.Evidence{
		Kind: artifact.KindCosignSignature, Subject: digest,
		MediaType: layer.MediaType, Annotations: layer.Annotations, Data: layer.Data,
	}, &verify.TrustMaterial{Sources: []verify.TrustSource{{Name: "file:trusted_root.json", Root: tr}}}, verify.Options{})
	fmt.Println(f.Status, f.Signer.Identity, f.Signer.Issuer)
	fmt.Println(f.Covers[0] == digest, f.TLog[0].Proof, f.TrustMaterial[0])
	// Output:
	// verified builder@example.com https://issuer.example
	// true set file:trusted_root.json
}
