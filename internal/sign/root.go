package sign

import (
	"encoding/hex"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
)

// TrustedRootJSON serialises vs's trust material as a trusted_root.json
// (media type application/vnd.dev.sigstore.trustedroot+json;version=0.1)
// that round-trips through root.NewTrustedRootFromJSON: each Rekor log's ID
// is set to its raw key id (VirtualSigstore leaves the hex string there,
// which would not be found again after the round trip).
//
// CT logs are left out: VirtualSigstore's certificates carry no SCTs, and a
// trusted root that lists a CT log makes verifiers require them. Extra Rekor
// v2 logs (RekorV2Log) are listed next to VirtualSigstore's Rekor.
func TrustedRootJSON(vs *ca.VirtualSigstore, extra ...*RekorV2Log) ([]byte, error) {
	logs := vs.RekorLogs()
	for k, l := range logs {
		id, err := hex.DecodeString(k)
		if err != nil {
			return nil, fmt.Errorf("%w: rekor log id %q: %v", ErrSign, k, err)
		}
		l.ID = id
	}
	for _, x := range extra {
		logs[x.LogID()] = x.TransparencyLog()
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(),
		map[string]*root.TransparencyLog{}, vs.TimestampingAuthorities(), logs)
	if err != nil {
		return nil, fmt.Errorf("%w: building trusted root: %v", ErrSign, err)
	}
	out, err := tr.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%w: marshalling trusted root: %v", ErrSign, err)
	}
	return out, nil
}
