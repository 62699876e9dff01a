// Package human formats values for people to read: sizes and platforms, the
// same way in reports, summaries and errors; and it splits a list into the
// blocks of a summary (Blocks), so that the report, inspect, export and
// import group alike images the same way.
//
// It is a leaf: it imports nothing of this module.
package human

import (
	"fmt"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Bytes formats a size in binary units: "512 B", "1.5 KiB", "2.0 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Platform formats os/architecture[/variant], as "linux/arm64/v8".
func Platform(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}
