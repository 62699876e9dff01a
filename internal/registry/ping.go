package registry

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The auth handshake of ggcr (transport.NewWithContext) starts with a ping,
// GET /v2/, to learn the registry's scheme (https, or http for a local or
// insecure one, found by racing both) and its challenge (none, Basic, or
// Bearer with realm and service), then fetches a token for the scopes. Done
// per repository, that is one or two extra round trips (and, on a plain
// HTTP registry, a failed TLS handshake) per image of a catalogue. The
// answer depends on the registry only, so the Client pings each registry
// once and replays the recorded answer to every later handshake: ggcr then
// builds the transport exactly as it would (scheme, basic or bearer
// transport with the repository's own scopes and token, refresh on 401)
// without another request to /v2/.

// pingAnswer is a registry's recorded answer to GET /v2/ (nil: none to replay).
type pingAnswer struct {
	status    int      // 200 or 401
	challenge []string // its WWW-Authenticate values
	url       *url.URL // the URL that answered: its scheme decides http or https
}

// pingCall is a ping in flight, shared by the handshakes waiting for it.
type pingCall struct {
	done     chan struct{}
	answer   *pingAnswer
	err      error
	canceled bool // err came from the caller's context, not from the registry
}

type (
	pingRecordKey struct{}
	pingReplayKey struct{}
)

// pingRecorder collects the answers to GET /v2/ during one transport.Ping
// (it may race https and http), by scheme.
type pingRecorder struct {
	mu       sync.Mutex
	byScheme map[string]*pingAnswer
}

// ping returns reg's answer to GET /v2/, pinging it (through base) once per
// Client. Concurrent callers wait for the ping in flight and share its
// outcome; a failure is not kept: the next caller pings again (the Client's
// retry policy decides when).
func (c *Client) ping(ctx context.Context, reg name.Registry, base http.RoundTripper) (*pingAnswer, error) {
	key := reg.Scheme() + "://" + reg.RegistryStr()
	for {
		c.mu.Lock()
		if a, ok := c.pings[key]; ok {
			c.mu.Unlock()
			return a, nil
		}
		call, waiting := c.pinging[key]
		if !waiting {
			call = &pingCall{done: make(chan struct{})}
			c.pinging[key] = call
		}
		c.mu.Unlock()
		if waiting {
			select {
			case <-call.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if call.canceled { // the caller that pinged gave up, not the registry
				continue
			}
			return call.answer, call.err
		}
		call.answer, call.err = pingOnce(ctx, reg, base)
		call.canceled = call.err != nil && ctx.Err() != nil
		c.mu.Lock()
		delete(c.pinging, key)
		if call.err == nil {
			c.pings[key] = call.answer
		}
		c.mu.Unlock()
		close(call.done)
		return call.answer, call.err
	}
}

// pingOnce runs ggcr's transport.Ping and records the answer it chose.
func pingOnce(ctx context.Context, reg name.Registry, base http.RoundTripper) (*pingAnswer, error) {
	rec := &pingRecorder{byScheme: map[string]*pingAnswer{}}
	ch, err := transport.Ping(context.WithValue(ctx, pingRecordKey{}, rec), reg, base)
	if err != nil {
		return nil, err
	}
	scheme := "https"
	if ch.Insecure {
		scheme = "http"
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	// nil when the answer came from elsewhere (a /v2/ redirected to another
	// path): every handshake then pings for itself, as ggcr alone does.
	return rec.byScheme[scheme], nil
}

// replaying returns ctx in which pingTransport answers the next GET /v2/
// with a (ctx itself when a is nil). The answer is given once: the
// handshake pings once, anything after it goes to the registry.
func replaying(ctx context.Context, a *pingAnswer) context.Context {
	if a == nil {
		return ctx
	}
	return context.WithValue(ctx, pingReplayKey{}, &replay{answer: a})
}

type replay struct {
	answer *pingAnswer
	used   atomic.Bool
}

// pingTransport records (during pingOnce) or replays (during a handshake
// given a recorded answer) the answer to GET /v2/; it passes every other
// request through.
type pingTransport struct{ inner http.RoundTripper }

func (t *pingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.URL.Path != "/v2/" {
		return t.inner.RoundTrip(req)
	}
	if r, ok := req.Context().Value(pingReplayKey{}).(*replay); ok && r.answer.url.Host == req.URL.Host && r.used.CompareAndSwap(false, true) {
		a := r.answer
		answered := req.Clone(req.Context())
		u := *a.url
		answered.URL = &u
		return &http.Response{
			Status:     http.StatusText(a.status),
			StatusCode: a.status,
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     http.Header{"Www-Authenticate": a.challenge},
			Body:       http.NoBody,
			Request:    answered,
		}, nil
	}
	resp, err := t.inner.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if rec, ok := req.Context().Value(pingRecordKey{}).(*pingRecorder); ok &&
		(resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized) {
		u := *req.URL
		rec.mu.Lock()
		rec.byScheme[u.Scheme] = &pingAnswer{status: resp.StatusCode, challenge: resp.Header.Values("WWW-Authenticate"), url: &u}
		rec.mu.Unlock()
	}
	return resp, nil
}
