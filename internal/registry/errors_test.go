package registry

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDiscoverErrorsAreNotNone(t *testing.T) {
	const unauthorized = `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`
	legacyTag := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/manifests/sha256-") }
	referrers := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/referrers/") }
	status := func(match func(*http.Request) bool, code int, body string, times int32) func(*atomic.Int32) func(http.ResponseWriter, *http.Request) bool {
		return func(n *atomic.Int32) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !match(r) || (times > 0 && n.Load() >= times) {
					return false
				}
				n.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				w.Write([]byte(body))
				return true
			}
		}
	}
	drop := func(match func(*http.Request) bool) func(*atomic.Int32) func(http.ResponseWriter, *http.Request) bool {
		return func(n *atomic.Int32) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !match(r) {
					return false
				}
				n.Add(1)
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return true
			}
		}
	}
	tests := []struct {
		name     string
		api      bool
		fault    func(*atomic.Int32) func(http.ResponseWriter, *http.Request) bool
		want     error // nil: success
		wantHits int32 // requests the fault answered (0: don't check, <0: at least)
		inMsg    string
	}{
		{"401 on legacy tag", true, status(legacyTag, 401, unauthorized, 0), ErrUnauthorized, 1, "401"},
		{"403 on referrers", true, status(referrers, 403, `{"errors":[{"code":"DENIED","message":"nope"}]}`, 0), ErrDenied, 1, "DENIED"},
		{"429 always", true, status(referrers, 429, `{"errors":[{"code":"TOOMANYREQUESTS"}]}`, 0), ErrRateLimited, 3, "429"},
		{"429 then ok", true, status(referrers, 429, "", 2), nil, 2, ""},
		{"500 always on referrers", true, status(referrers, 500, "boom", 0), ErrUnavailable, 3, "500"},
		{"500 always on fallback tag", false, status(func(r *http.Request) bool {
			return strings.Contains(r.URL.Path, "/manifests/sha256-") && !strings.Contains(r.URL.Path, ".")
		}, 500, "boom", 0), ErrUnavailable, 3, "boom"},
		{"503 on a platform manifest", true, status(func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/manifests/sha256:") }, 503, "", 0), ErrUnavailable, 3, "503"},
		{"dropped connection", true, drop(referrers), ErrUnavailable, -3, "referrers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			reg := newTestRegistry(t, tc.api)
			f := setupMulti(t, reg)
			base, err := testClient().Discover(ctx, f.repo.Tag("latest"), DiscoverOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var hits atomic.Int32
			reg.setFault(tc.fault(&hits))
			// One job: the fault's hit count then measures the retries of one request.
			d, err := testClient(WithJobs(1)).Discover(ctx, f.repo.Tag("latest"), DiscoverOptions{})
			if tc.wantHits < 0 && hits.Load() < -tc.wantHits {
				// net/http itself resends idempotent requests on dropped reused connections.
				t.Errorf("fault answered %d requests, want at least %d", hits.Load(), -tc.wantHits)
			}
			if tc.wantHits > 0 && hits.Load() != tc.wantHits {
				t.Errorf("fault answered %d requests, want %d", hits.Load(), tc.wantHits)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(d.Attached) != len(base.Attached) {
					t.Errorf("attached %v, want %v", kinds(d), kinds(base))
				}
				return
			}
			if d != nil || !errors.Is(err, tc.want) || !errors.Is(err, ErrRegistry) {
				t.Fatalf("got %v, %v; want error wrapping %v", d, err, tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, f.repo.String()) || !strings.Contains(msg, "sha256:") || !strings.Contains(msg, tc.inMsg) {
				t.Errorf("error does not name image, digest and answer: %s", msg)
			}
		})
	}
}

func TestStatusErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		code int
		want error
	}{
		{404, ErrNotFound}, {401, ErrUnauthorized}, {403, ErrDenied}, {429, ErrRateLimited},
		{500, ErrUnavailable}, {502, ErrUnavailable}, {408, ErrUnavailable}, {400, ErrRegistry},
	} {
		err := error(&StatusError{Method: "GET", URL: "https://r/v2/x", StatusCode: tc.code})
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrRegistry) {
			t.Errorf("%d: %v does not wrap %v", tc.code, err, tc.want)
		}
		if tc.want != ErrNotFound && errors.Is(err, ErrNotFound) {
			t.Errorf("%d reads as not found", tc.code)
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, true)
	for _, c := range []*Client{New(WithRetries(-1)), New(WithBackoff(time.Second, time.Millisecond)), New(WithKeychain(nil)), New(WithTransport(nil))} {
		if _, err := c.Discover(ctx, reg.repo("x").Tag("y"), DiscoverOptions{}); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("err = %v, want ErrInvalidOption", err)
		}
	}
	if _, err := testClient().Discover(ctx, reg.repo("x").Tag("y"), DiscoverOptions{MaxDepth: -1}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("err = %v", err)
	}
	if _, err := testClient().ParseReference("UPPER/Case:tag"); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("err = %v", err)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	reg := newTestRegistry(t, true)
	f := setupMulti(t, reg)
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/referrers/") {
			w.WriteHeader(503)
			return true
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c := testClient(WithRetries(1000), WithBackoff(10*time.Millisecond, 10*time.Millisecond))
	start := time.Now()
	_, err := c.Discover(ctx, f.repo.Tag("latest"), DiscoverOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("err = %v after %v", err, time.Since(start))
	}
}

func TestTimeoutIsRetriedThenReported(t *testing.T) {
	for _, slowTimes := range []int32{1, 100} {
		reg := newTestRegistry(t, true)
		f := setupMulti(t, reg)
		var n atomic.Int32
		reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
			if strings.Contains(r.URL.Path, "/referrers/") && n.Add(1) <= slowTimes {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
				return true
			}
			return false
		})
		_, err := testClient(WithTimeout(100*time.Millisecond)).Discover(context.Background(), f.repo.Tag("latest"), DiscoverOptions{})
		if slowTimes == 1 && err != nil {
			t.Errorf("one slow answer: %v", err)
		}
		if slowTimes > 1 && (!errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no answer within")) {
			t.Errorf("always slow: %v", err)
		}
	}
}

func TestRetryAfterIsHonouredUpToCeiling(t *testing.T) {
	reg := newTestRegistry(t, true)
	repo := reg.repo("ra")
	img := reg.writeImage(repo, "v1", randomImage(t, "", ""))
	var n atomic.Int32
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/v1") && n.Add(1) == 1 {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	start := time.Now()
	desc, err := testClient(WithBackoff(time.Millisecond, 200*time.Millisecond)).Resolve(context.Background(), repo.Tag("v1"))
	if err != nil || desc.Digest != img.Digest {
		t.Fatal(desc, err)
	}
	if el := time.Since(start); el < 190*time.Millisecond || el > 5*time.Second {
		t.Errorf("waited %v, want the 200ms ceiling", el)
	}
}
