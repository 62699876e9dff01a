package transfer

import "errors"

// ErrMissingAtTarget means a delta bundle left out a blob (the receipt it
// was exported against said the target held it) that the target does not
// hold and that cannot be mounted from another of its repositories.
var ErrMissingAtTarget = errors.New("blob expected at the target is missing")
