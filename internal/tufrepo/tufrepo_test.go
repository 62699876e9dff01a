package tufrepo

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// The repository must be one a real go-tuf client accepts.
func TestRealClientAccepts(t *testing.T) {
	r, err := New(time.Now().Add(24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddTarget("trusted_root.json", []byte(`{"hello":"world"}`)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()

	dir := t.TempDir()
	cfg, err := config.New(srv.URL, r.RootJSON())
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir = dir
	cfg.LocalTargetsDir = filepath.Join(dir, "targets")
	cfg.RemoteTargetsURL = srv.URL + "/targets"
	cfg.PrefixTargetsWithHash = true
	up, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Refresh(); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	ti, err := up.GetTargetInfo("trusted_root.json")
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := up.DownloadTarget(ti, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"hello":"world"}` {
		t.Fatalf("target = %q", data)
	}
	if got := up.GetTrustedMetadataSet().Targets["targets"].Signed.Version; got != 2 {
		t.Fatalf("targets version = %d, want 2", got)
	}
	// A tampered target is refused by the client.
	for p := range r.files {
		if filepath.Dir(p) == "targets" {
			r.files[p] = []byte(`{"hello":"wOrld"}`)
		}
	}
	os.RemoveAll(cfg.LocalTargetsDir)
	if _, _, err := up.DownloadTarget(ti, filepath.Join(dir, "x"), ""); err == nil {
		t.Fatal("tampered target accepted")
	}
}
