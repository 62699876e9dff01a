package trust_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-oci/airlock/trust"
)

// The examples use the real Sigstore repository fixture, copied into the
// repository's testdata/ (see testdata/README.md).
const fixture = "../testdata/sigstore-tuf"

// Verify a TUF source carried across the gap against a pinned root, as an
// import on 2026-08-22 would have.
func ExampleStore_Verify() {
	dir, err := os.MkdirTemp("", "trust-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := trust.OpenStore(dir)
	if err != nil {
		log.Fatal(err)
	}
	root, err := os.ReadFile(filepath.Join(fixture, "metadata", "5.root.json"))
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Init("sigstore", root, "https://tuf-repo-cdn.sigstore.dev"); err != nil {
		log.Fatal(err)
	}
	now := time.Date(2026, 8, 22, 12, 0, 0, 0, time.UTC)
	res, err := store.Verify(trust.DirFiles(fixture), trust.TimePolicy{Now: now}, true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pin:", res.Pin)
	for _, r := range res.Roles {
		fmt.Printf("%s v%d expires %s\n", r.Name, r.Version, r.Expires.Format(time.DateOnly))
	}
	tr, err := trust.LoadTrustedRoot(res.TrustedRoot)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Rekor logs in trusted_root.json:", len(tr.RekorLogs()))

	// Months later, at the real clock, the same files are refused.
	_, err = store.Verify(trust.DirFiles(fixture), trust.TimePolicy{Now: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}, false)
	fmt.Println(strings.SplitN(err.Error(), ";", 2)[0])
	// Output:
	// pin: sigstore
	// root v15 expires 2026-11-20
	// timestamp v762 expires 2026-08-28
	// snapshot v165 expires 2036-05-15
	// targets v14 expires 2036-05-09
	// registry.npmjs.org v8 expires 2026-10-13
	// Rekor logs in trusted_root.json: 2
	// pin "sigstore": TUF metadata expired: root v15 expired 2026-11-20T13:58:18Z, 5d10h before the reference time 2026-11-26T00:00:00Z (root, targets and delegated targets get no staleness allowance)
}

// Capture a repository on the connected side. Here an httptest server
// serves the Sigstore fixture; in production the source is trust.PublicGood().
func ExampleCapture() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		if !strings.HasPrefix(p, "targets/") {
			p = "metadata/" + p
		}
		http.ServeFile(w, r, filepath.Join(fixture, filepath.FromSlash(p)))
	}))
	defer srv.Close()
	root, err := os.ReadFile(filepath.Join(fixture, "metadata", "5.root.json"))
	if err != nil {
		log.Fatal(err)
	}
	c, err := trust.Capture(context.Background(),
		trust.Source{Name: "sigstore", URL: srv.URL, Root: root},
		trust.WithHTTPClient(srv.Client()),
		// The fixture's timestamp expired on 2026-08-28.
		trust.WithUnsafeCaptureTime(time.Date(2026, 8, 22, 12, 0, 0, 0, time.UTC)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(c.Files), "files")
	for _, name := range c.Targets {
		fmt.Println(name)
	}
	// Output:
	// 19 files
	// signing_config.json
	// signing_config.v0.2.json
	// signing_config_rekor_v2.v0.2.json
	// trusted_root.json
}

func ExampleLoadPublicKey() {
	k, err := trust.LoadPublicKey([]byte(`-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
-----END PUBLIC KEY-----`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%T\n", k)
	// Output: ed25519.PublicKey
}
