package sign_test

import (
	"fmt"

	"github.com/airlock-oci/airlock/internal/sign"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
)

// A legacy cosign signature layer, as `cosign sign` pushes it to the tag
// sha256-<hex>.sig, signed keyless through an in-memory Sigstore.
func ExampleSigner_CosignSignature() {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		panic(err)
	}
	s := sign.NewKeyless(vs, "builder@example.com", "https://issuer.example")
	l, err := s.CosignSignature("registry.example/app", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if err != nil {
		panic(err)
	}
	fmt.Println(l.MediaType)
	fmt.Println(string(l.Data))
	_, logged := l.Annotations[sign.AnnotationBundle]
	fmt.Println("logged:", logged)
	// Output:
	// application/vnd.dev.cosign.simplesigning.v1+json
	// {"critical":{"identity":{"docker-reference":"registry.example/app"},"image":{"docker-manifest-digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},"type":"cosign container image signature"},"optional":null}
	// logged: true
}
