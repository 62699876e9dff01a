package verify

import (
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
)

// checkIntoto handles legacy attestations logged as intoto 0.0.1 entries.
func checkIntoto(f Finding, envJSON []byte, env *legacyEnvelope, vm *protobundle.VerificationMaterial, entry *protorekor.TransparencyLogEntry, tm *TrustMaterial, opts Options) Finding {
	return unverifiable(f, fmt.Errorf("%w: intoto %s entries (older cosign) are not checked by this version", ErrUnsupportedEntry, entry.KindVersion.Version))
}
