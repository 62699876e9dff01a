package airlock

import (
	"sync/atomic"

	"github.com/airlock-oci/airlock/verify"
)

// CountEvidenceChecks makes every signature and attestation check counted,
// for tests that prove checks grow with distinct evidence, not listings.
// It returns the counter and a function that restores the real check.
func CountEvidenceChecks() (*atomic.Int64, func()) {
	var n atomic.Int64
	checkEvidence = func(ev verify.Evidence, tm *verify.TrustMaterial, o verify.Options) verify.Finding {
		n.Add(1)
		return verify.Check(ev, tm, o)
	}
	return &n, func() { checkEvidence = verify.Check }
}
