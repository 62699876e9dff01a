package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleReport evaluates a real policy over a passing and a failing image.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	p := mustPolicy(t, ghPolicy+`    attestations:
      - name: provenance
        predicateType: https://slsa.dev/provenance/v1
        condition: predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/acme/app"
`)
	gh := Signer{Identity: ghWorkflow, Issuer: ghIssuer}
	condStmt := attestation(t, slsaV1, slsaPredicate("https://github.com/acme/app", "https://github.com/actions/runner"), gh, dIndex)
	condStmt.Timestamps = []Timestamp{{Kind: "rfc3161", Time: time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC), Authority: "CN=Test TSA"}}
	good := p.Evaluate(image(keylessSig(ghWorkflow, ghIssuer, dIndex), condStmt))
	// The report keeps findings without statements; evaluation saw them.
	for i := range good.Findings {
		good.Findings[i].Statement = nil
	}
	bad := p.Evaluate(ImageInput{
		Reference: "registry.example.com/team/other:v2", Name: "registry.example.com/team/other", Digest: dOther,
		Platforms: []PlatformInput{{Platform: "linux/amd64", Digest: dAMD64}},
		Findings:  []Finding{keylessSig("https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main", ghIssuer, dOther)},
	})
	good.Targets = []string{"registry.internal.example/team/app:v1.2.3"}
	r := &Report{
		Tool:       Tool{Name: "airlock", Version: "v0.1.0"},
		Bundle:     BundleInfo{Path: "/media/usb/app.tar", Sha256: strings.Repeat("f", 64)},
		VerifiedAt: time.Date(2026, 11, 26, 1, 30, 0, 0, time.UTC),
		Audit:      &AuditTime{At: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Note: "--at"},
		Policy:     &PolicyInfo{Source: "policy.yaml", Sha256: strings.Repeat("9", 64), DefaultAction: ActionRefuse},
		Integrity:  Integrity{OK: true, Blobs: 42, Bytes: 123456789},
		Trust: []TrustSummary{{
			Name: "tuf:sigstore (root v13, timestamp v900)", Kind: "tuf", Origin: "bundle (TUF-verified against pinned root sigstore)",
			Roles: []RoleSummary{{Role: "root", Version: 13, Expires: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}},
			Notes: []string{"timestamp expired 3 days ago; accepted within --max-staleness 30d"}, Used: true,
		}, {Name: "file:bad.json", Kind: "trusted-root", Origin: "operator-configured", Error: "not JSON"}},
		Images: []ImageResult{good, bad},
	}
	r.Finish()
	return r
}

func TestReportJSONRoundTrip(t *testing.T) {
	r := sampleReport(t)
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if raw["schema"] != "airlock.dev/report/v1" {
		t.Fatalf("schema field = %v", raw["schema"])
	}
	if raw["verdict"] != VerdictPolicyFailed {
		t.Fatalf("verdict field = %v", raw["verdict"])
	}
	for _, key := range []string{"tool", "bundle", "verifiedAt", "audit", "policy", "integrity", "trust", "images"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
	img := raw["images"].([]any)[0].(map[string]any)
	for _, key := range []string{"reference", "name", "digest", "findings", "rules", "verdict", "targets"} {
		if _, ok := img[key]; !ok {
			t.Errorf("image JSON lacks %q", key)
		}
	}
	f := img["findings"].([]any)[0].(map[string]any)
	for _, key := range []string{"kind", "status", "signer", "covers", "tlog", "trustMaterial"} {
		if _, ok := f[key]; !ok {
			t.Errorf("finding JSON lacks %q: %v", key, f)
		}
	}
	back, err := ParseReport(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		a, _ := json.Marshal(r)
		b, _ := json.Marshal(back)
		t.Fatalf("round trip differs:\n%s\n%s", a, b)
	}
}

func TestParseReportErrors(t *testing.T) {
	for _, tc := range []struct {
		doc     string
		wantErr error
	}{
		{`{"verdict":"pass"}`, ErrReportSchema},
		{`{"schema":"airlock.dev/report/v2"}`, ErrReportSchema},
		{`not json`, ErrInvalidReport},
		{`{"schema":"airlock.dev/report/v1","images":"x"}`, ErrInvalidReport},
	} {
		if _, err := ParseReport([]byte(tc.doc)); !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrInvalidReport) {
			t.Errorf("ParseReport(%s) = %v, want %v", tc.doc, err, tc.wantErr)
		}
	}
}

func TestSummaryExplainsEveryCheck(t *testing.T) {
	r := sampleReport(t)
	var buf bytes.Buffer
	r.Summary(&buf)
	out := buf.String()
	for _, img := range r.Images {
		if !strings.Contains(out, "image "+img.Reference) {
			t.Errorf("summary lacks the block of %s", img.Reference)
		}
		for _, rr := range img.Rules {
			if rr.Reason == "" || !strings.Contains(out, rr.Reason) {
				t.Errorf("summary lacks reason %q", rr.Reason)
			}
		}
		for i := range img.Findings {
			if !strings.Contains(out, findingLine(&img.Findings[i])) {
				t.Errorf("summary lacks finding line %q", findingLine(&img.Findings[i]))
			}
		}
	}
	for _, want := range []string{
		"bundle:     /media/usb/app.tar (sha256 ffff",
		"audit time: 2026-03-02T00:00:00Z",
		"integrity:  ok: 42 blobs, 117.7 MiB",
		"tuf:sigstore (root v13, timestamp v900) [tuf, bundle (TUF-verified against pinned root sigstore)] used",
		"root v13 expires 2026-12-01T00:00:00Z",
		"note: timestamp expired 3 days ago",
		"file:bad.json [trusted-root, operator-configured] REFUSED: not JSON",
		"[ ok ] acme / signatures: 1 of 1 required signers",
		"[FAIL] acme / signatures: index " + dOther + " 0 of 1 required signers: none",
		"timestamp rfc3161 2026-03-01T12:00:01Z by CN=Test TSA",
		"[ ok ] acme / attestation provenance: verified https://slsa.dev/provenance/v1 attestation",
		"tlog c0d23d6ad406973f index 42 proof set (hashedrekord 0.0.1) integrated 2026-03-01T12:00:00Z",
		"pushed to: registry.internal.example/team/app:v1.2.3",
		"platform: linux/amd64 " + dAMD64,
		"verdict:  PASS",
		"verdict:  POLICY-FAILED",
		"verdict: POLICY-FAILED (exit code 1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q\n%s", want, out)
		}
	}
}

func TestSummaryEscapesTerminalControls(t *testing.T) {
	f := keylessSig("evil\x1b[2J\x1b]0;pwned\x07@x.com\u202e", ghIssuer, dIndex)
	f.Reason = "line1\nline2\r"
	r := &Report{Integrity: Integrity{OK: true}, Images: []ImageResult{mustPolicy(t, ghPolicy).Evaluate(image(f))}}
	var buf bytes.Buffer
	r.Summary(&buf)
	out := buf.String()
	for _, bad := range []string{"\x1b", "\x07", "\u202e", "line1\nline2", "\r"} {
		if strings.Contains(out, bad) {
			t.Errorf("summary passes %q through", bad)
		}
	}
	if !strings.Contains(out, `evil\x1b[2J`) || !strings.Contains(out, `line1\nline2`) {
		t.Errorf("escaped text missing:\n%s", out)
	}
}

func TestExitCodes(t *testing.T) {
	pass := ImageResult{Verdict: VerdictPass}
	fail := ImageResult{Verdict: VerdictPolicyFailed}
	allowed := ImageResult{Verdict: VerdictAllowedByDefault}
	tests := []struct {
		name    string
		r       Report
		code    int
		verdict string
	}{
		{"all pass", Report{Integrity: Integrity{OK: true}, Images: []ImageResult{pass, pass}}, ExitOK, VerdictPass},
		{"allowed by default passes", Report{Integrity: Integrity{OK: true}, Images: []ImageResult{pass, allowed}}, ExitOK, VerdictPass},
		{"one image fails the policy", Report{Integrity: Integrity{OK: true}, Images: []ImageResult{pass, fail}}, ExitPolicy, VerdictPolicyFailed},
		{"an image never evaluated fails", Report{Integrity: Integrity{OK: true}, Images: []ImageResult{pass, {}}}, ExitPolicy, VerdictPolicyFailed},
		{"integrity failure wins", Report{Integrity: Integrity{OK: false, Error: "blob sha256:1 digest mismatch"}, Images: []ImageResult{pass}}, ExitIntegrity, VerdictIntegrityFailed},
		{"integrity failure with policy failure", Report{Integrity: Integrity{Error: "truncated"}, Images: []ImageResult{fail}}, ExitIntegrity, VerdictIntegrityFailed},
		{"a hand-set verdict is ignored", Report{Integrity: Integrity{OK: true}, Images: []ImageResult{fail}, Verdict: VerdictPass}, ExitPolicy, VerdictPolicyFailed},
		{"zero report is not a pass", Report{}, ExitError, VerdictIncomplete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.ExitCode(); got != tc.code {
				t.Errorf("ExitCode = %d, want %d", got, tc.code)
			}
			tc.r.Finish()
			if tc.r.Verdict != tc.verdict || tc.r.Schema != ReportSchema {
				t.Errorf("Finish: verdict %q schema %q, want %q", tc.r.Verdict, tc.r.Schema, tc.verdict)
			}
			var buf bytes.Buffer
			tc.r.Summary(&buf)
			if !strings.Contains(buf.String(), "verdict: "+strings.ToUpper(tc.verdict)) {
				t.Errorf("summary does not end with the verdict:\n%s", buf.String())
			}
		})
	}
}

// TestReportDocExample keeps the example in docs/report.md a valid v1 report
// whose stored verdict matches its contents.
func TestReportDocExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```json\n")
	if !ok {
		t.Fatal("docs/report.md has no json example")
	}
	example, _, _ := strings.Cut(rest, "```")
	r, err := ParseReport([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != r.ComputeVerdict() || r.ExitCode() != ExitPolicy {
		t.Fatalf("example verdict %q, computed %q, exit %d", r.Verdict, r.ComputeVerdict(), r.ExitCode())
	}
	for _, img := range r.Images {
		for _, rr := range img.Rules {
			if rr.Reason == "" {
				t.Errorf("example rule %s/%s has no reason", rr.Name, rr.Requirement)
			}
		}
	}
}

func TestReportJSONEmptyLists(t *testing.T) {
	r := &Report{Integrity: Integrity{OK: true}, Images: []ImageResult{{Verdict: VerdictPass}}}
	r.Finish()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"trust": []`, `"findings": []`, `"rules": []`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, buf.String())
		}
	}
	if r.Trust != nil || r.Images[0].Findings != nil {
		t.Error("WriteJSON changed the report")
	}
	empty := &Report{}
	buf.Reset()
	if err := empty.WriteJSON(&buf); err != nil || !strings.Contains(buf.String(), `"images": []`) {
		t.Errorf("empty report: %v\n%s", err, buf.String())
	}
}

// WriteJSON streams the images one by one; the bytes must be exactly those
// of encoding the whole report at once (json.Encoder, two-space indent),
// empty lists written as [].
func TestReportJSONStreamedSameBytes(t *testing.T) {
	whole := func(r *Report) string {
		out := *r
		if out.Trust == nil {
			out.Trust = []TrustSummary{}
		}
		out.Images = slices.Clone(r.Images)
		if out.Images == nil {
			out.Images = []ImageResult{}
		}
		for i := range out.Images {
			if out.Images[i].Findings == nil {
				out.Images[i].Findings = []Finding{}
			}
			if out.Images[i].Rules == nil {
				out.Images[i].Rules = []RuleResult{}
			}
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&out); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	tricky := sampleReport(t)
	tricky.Warnings = []string{"a <b> & \"images\": [] \n\u2028 warning"}
	tricky.Images = append(tricky.Images, ImageResult{Reference: "x/y:z", Verdict: VerdictPass, Warnings: []string{`"images": []`}})
	one := &Report{Integrity: Integrity{OK: true}, Images: []ImageResult{{Verdict: VerdictPass}}}
	for name, r := range map[string]*Report{"sample": sampleReport(t), "tricky": tricky, "one": one, "empty": {}, "no images": {Images: []ImageResult{}}} {
		var buf bytes.Buffer
		if err := r.WriteJSON(&buf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := whole(r); buf.String() != want {
			t.Errorf("%s: streamed JSON differs from the whole value's:\n%s\nwant:\n%s", name, buf.String(), want)
		}
	}
}
