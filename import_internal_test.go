package airlock

import (
	"testing"

	"github.com/airlock-oci/airlock/internal/transfer"
)

// The receipt's note describes a tag's typed outcome; nothing reads it back.
func TestTagNote(t *testing.T) {
	for _, tc := range []struct {
		out  transfer.TagOutcome
		note string
	}{
		{transfer.TagNew, ""},
		{transfer.TagPresent, "already there"},
		{transfer.TagForced, "moved (forced)"},
		{transfer.TagConflict, "not moved: points at another digest (forcing moves it)"},
	} {
		if got := tagNote(tc.out); got != tc.note {
			t.Errorf("%s: note %q, want %q", tc.out, got, tc.note)
		}
	}
}
