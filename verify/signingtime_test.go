package verify

import "testing"

func TestSigningTimeNote(t *testing.T) {
	tsa := Timestamp{Kind: "rfc3161"}
	log := Timestamp{Kind: "tlog-integrated"}
	for _, tc := range []struct {
		name string
		ts   []Timestamp
		want string
	}{
		{"TSA only (Rekor v2)", []Timestamp{tsa}, "certificate valid at the signing time vouched by a timestamp authority (the log records no time)"},
		{"log only (legacy, Rekor v1)", []Timestamp{log}, "certificate valid at the signing time vouched by the log's integrated time (no timestamp authority)"},
		{"both", []Timestamp{log, tsa}, "certificate valid at the signing time vouched by both a timestamp authority and the log"},
		{"none", nil, ""},
	} {
		if got := signingTimeNote(tc.ts); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := addNote("a", ""); got != "a" {
		t.Errorf("addNote with an empty note = %q", got)
	}
}
