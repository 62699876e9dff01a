package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// MaxManifestSize caps every manifest (and referrers page) read from a registry.
const MaxManifestSize = 4 << 20

// maxErrorBody caps how much of an error answer is read.
const maxErrorBody = 16 << 10

// Defaults of the Client options.
const (
	DefaultRetries    = 3
	DefaultBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	DefaultUserAgent  = "airlock"
	// DefaultTimeout bounds the wait for a registry's answer (response headers,
	// or the auth handshake) per attempt; streaming a body, either way, is not bounded.
	DefaultTimeout = 60 * time.Second
	// DefaultJobs is how many requests Discover has in flight at once.
	DefaultJobs = 4
)

// Client talks to registries. It is safe for concurrent use; create it with New.
type Client struct {
	keychain  authn.Keychain
	insecure  map[string]bool
	plainHTTP bool
	base      http.RoundTripper
	policy    retryPolicy
	log       *slog.Logger
	userAgent string
	timeout   time.Duration
	jobs      int
	err       error // from option validation; returned by every call

	mu         sync.Mutex
	transports map[string]http.RoundTripper // registry + scopes -> authenticated transport
	pings      map[string]*pingAnswer       // registry -> its answer to GET /v2/ (ping.go)
	pinging    map[string]*pingCall         // registry -> the ping in flight
	locks      map[string]*sync.Mutex       // fallback tag read-modify-write
	noAPI      map[string]bool              // repository -> answered that it has no referrers API
}

// Option configures a Client.
type Option func(*Client)

// WithKeychain sets where credentials come from. Default: authn.DefaultKeychain
// (docker config and credential helpers).
func WithKeychain(k authn.Keychain) Option {
	return func(c *Client) {
		if k == nil {
			c.err = errors.Join(c.err, fmt.Errorf("%w: nil keychain", ErrInvalidOption))
			return
		}
		c.keychain = k
	}
}

// WithInsecureRegistries lets the named registries (host[:port]) be reached
// over plain HTTP. Default: none (HTTPS, except what go-containerregistry
// already treats as local: localhost, loopback and RFC 1918 addresses).
func WithInsecureRegistries(hosts ...string) Option {
	return func(c *Client) {
		for _, h := range hosts {
			c.insecure[strings.TrimSpace(h)] = true
		}
	}
}

// WithPlainHTTP allows plain HTTP for every registry (name.Insecure). Default false.
func WithPlainHTTP(on bool) Option { return func(c *Client) { c.plainHTTP = on } }

// WithTransport sets the underlying round tripper; authentication is layered
// on top of it. Default: remote.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *Client) {
		if rt == nil {
			c.err = errors.Join(c.err, fmt.Errorf("%w: nil transport", ErrInvalidOption))
			return
		}
		c.base = rt
	}
}

// WithRetries sets how many times a transient failure (408, 429, 5xx, reset
// or dropped connections, timeouts) is retried. Default DefaultRetries; 0 disables.
func WithRetries(n int) Option {
	return func(c *Client) {
		if n < 0 {
			c.err = errors.Join(c.err, fmt.Errorf("%w: retries %d < 0", ErrInvalidOption, n))
			return
		}
		c.policy.retries = n
	}
}

// WithBackoff sets the wait before the first retry (doubled each time, with
// jitter) and its ceiling, which also caps a registry's Retry-After.
// Defaults DefaultBackoff and DefaultMaxBackoff.
func WithBackoff(initial, ceiling time.Duration) Option {
	return func(c *Client) {
		if initial < 0 || ceiling < initial {
			c.err = errors.Join(c.err, fmt.Errorf("%w: backoff %v..%v", ErrInvalidOption, initial, ceiling))
			return
		}
		c.policy.initial, c.policy.ceiling = initial, ceiling
	}
}

// WithTimeout sets how long one attempt waits for a registry to answer
// (response headers, auth handshake), counted once the request (an upload's
// content included) is sent, before it counts as a transient failure and is
// retried. Streaming a body either way is not bounded: use the context.
// Default DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d <= 0 {
			c.err = errors.Join(c.err, fmt.Errorf("%w: timeout %v", ErrInvalidOption, d))
			return
		}
		c.timeout = d
	}
}

// WithJobs sets how many lookups Discover runs concurrently. Default DefaultJobs.
func WithJobs(n int) Option {
	return func(c *Client) {
		if n < 1 {
			c.err = errors.Join(c.err, fmt.Errorf("%w: jobs %d < 1", ErrInvalidOption, n))
			return
		}
		c.jobs = n
	}
}

// WithLogger sets where the client logs (retries, fallbacks). Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// WithUserAgent sets the User-Agent header. Default DefaultUserAgent.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a Client. Invalid options do not panic: every call of the
// returned Client then fails with an error wrapping ErrInvalidOption.
func New(opts ...Option) *Client {
	c := &Client{
		keychain:   authn.DefaultKeychain,
		insecure:   map[string]bool{},
		base:       remote.DefaultTransport,
		policy:     retryPolicy{retries: DefaultRetries, initial: DefaultBackoff, ceiling: DefaultMaxBackoff},
		log:        slog.New(slog.DiscardHandler),
		userAgent:  DefaultUserAgent,
		timeout:    DefaultTimeout,
		jobs:       DefaultJobs,
		transports: map[string]http.RoundTripper{},
		pings:      map[string]*pingAnswer{},
		pinging:    map[string]*pingCall{},
		locks:      map[string]*sync.Mutex{},
		noAPI:      map[string]bool{},
	}
	for _, o := range opts {
		o(c)
	}
	c.policy.log = c.log
	return c
}

// ParseReference parses an image reference, applying the plain-HTTP settings.
func (c *Client) ParseReference(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("%w: reference %q: %w", ErrInvalidOption, s, err)
	}
	if c.isInsecure(ref.Context().RegistryStr()) {
		ref, err = name.ParseReference(s, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("%w: reference %q: %w", ErrInvalidOption, s, err)
		}
	}
	return ref, nil
}

// ParseRepository parses a repository name, applying the plain-HTTP settings.
func (c *Client) ParseRepository(s string) (name.Repository, error) {
	repo, err := name.NewRepository(s)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%w: repository %q: %w", ErrInvalidOption, s, err)
	}
	if c.isInsecure(repo.RegistryStr()) {
		repo, err = name.NewRepository(s, name.Insecure)
		if err != nil {
			return name.Repository{}, fmt.Errorf("%w: repository %q: %w", ErrInvalidOption, s, err)
		}
	}
	return repo, nil
}

func (c *Client) isInsecure(host string) bool { return c.plainHTTP || c.insecure[host] }

// scheme returns the scheme to build URLs with; the ping done by
// transport.NewWithContext corrects it for local registries.
func (c *Client) scheme(reg name.Registry) string {
	if c.isInsecure(reg.RegistryStr()) {
		return "http"
	}
	return reg.Scheme()
}

func (c *Client) registryOf(repo name.Repository) name.Registry {
	reg := repo.Registry
	if c.isInsecure(reg.RegistryStr()) {
		if r, err := name.NewRegistry(reg.RegistryStr(), name.Insecure); err == nil {
			return r
		}
	}
	return reg
}

// transportFor returns an authenticated round tripper for repo with the
// given scopes, cached per registry and scope set. The registry is pinged
// (GET /v2/: http or https, and its auth challenge) once per Client; every
// repository's handshake reuses that answer and only fetches its own token.
func (c *Client) transportFor(ctx context.Context, repo name.Repository, scopes []string) (http.RoundTripper, error) {
	reg := c.registryOf(repo)
	scopes = slices.Clone(scopes)
	slices.Sort(scopes)
	key := reg.RegistryStr() + " " + strings.Join(scopes, " ")
	c.mu.Lock()
	t, ok := c.transports[key]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	auth, err := authn.Resolve(ctx, c.keychain, reg)
	if err != nil {
		return nil, fmt.Errorf("resolving credentials for %s: %w", reg.RegistryStr(), err)
	}
	base := transport.NewUserAgent(&pingTransport{inner: &attemptTransport{inner: c.base, timeout: c.timeout}}, c.userAgent)
	answer, err := c.ping(ctx, reg, base)
	if err != nil {
		return nil, c.handshakeError(ctx, reg, err)
	}
	// A *transport.Wrapper: ggcr's remote, given it, adds no handshake and no retries of its own.
	t, err = transport.NewWithContext(replaying(ctx, answer), reg, auth, base, scopes)
	if err != nil {
		return nil, c.handshakeError(ctx, reg, err)
	}
	c.mu.Lock()
	c.transports[key] = t
	c.mu.Unlock()
	return t, nil
}

// handshakeError maps a failed ping or token exchange onto the Client's errors.
func (c *Client) handshakeError(ctx context.Context, reg name.Registry, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return &StatusError{Method: http.MethodGet, URL: c.scheme(reg) + "://" + reg.RegistryStr() + "/v2/ (auth handshake)", StatusCode: terr.StatusCode, Message: trimMessage(terr.Error())}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("contacting %s: %w", reg.RegistryStr(), ctx.Err())
	}
	return &netError{op: "contacting " + reg.RegistryStr(), err: err}
}

func pullScope(repo name.Repository) []string { return []string{repo.Scope(transport.PullScope)} }
func pushScope(repo name.Repository) []string {
	return []string{repo.Scope(transport.PushScope)} // "push,pull"
}

// request describes one HTTP exchange; body is reopened on every attempt.
type request struct {
	method      string
	repo        name.Repository
	scopes      []string
	url         string // absolute
	accept      []string
	contentType string
	header      http.Header
	body        func() (io.ReadCloser, error)
	length      int64
	ok          []int
}

func (c *Client) url(repo name.Repository, p string, q url.Values) string {
	u := url.URL{Scheme: c.scheme(c.registryOf(repo)), Host: repo.RegistryStr(), Path: "/v2/" + repo.RepositoryStr() + "/" + p}
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// send performs one attempt. On a status outside r.ok it returns a
// *StatusError (body read and closed); on a transport failure a *netError.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	scopes := r.scopes
	if scopes == nil {
		scopes = pullScope(r.repo)
	}
	t, err := c.transportFor(ctx, r.repo, scopes)
	if err != nil {
		return nil, err
	}
	var body io.ReadCloser
	if r.body != nil {
		if body, err = r.body(); err != nil {
			return nil, err
		}
	}
	rctx, ra := withRetryAfter(ctx)
	req, err := http.NewRequestWithContext(rctx, r.method, r.url, body)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, fmt.Errorf("%w: building request %s %s: %w", ErrInvalidOption, r.method, r.url, err)
	}
	if body != nil {
		req.ContentLength = r.length
	}
	if len(r.accept) > 0 {
		req.Header.Set("Accept", strings.Join(r.accept, ", "))
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Transport: t}).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", r.method, redactURL(r.url), ctx.Err())
		}
		return nil, &netError{op: r.method + " " + redactURL(r.url), err: err}
	}
	if slices.Contains(r.ok, resp.StatusCode) {
		return resp, nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	return nil, statusError(&StatusError{Method: r.method, URL: redactURL(r.url), StatusCode: resp.StatusCode, Message: trimMessage(string(msg))}, *ra)
}

// remoteOptions are the options of one call of ggcr's remote on repo: the
// Client's authenticated transport for scopes (a *transport.Wrapper, so
// remote adds neither a handshake nor retries: the Client's policy retries
// the whole call) and a context in which attemptTransport records a
// Retry-After for remoteError.
func (c *Client) remoteOptions(ctx context.Context, repo name.Repository, scopes []string) ([]remote.Option, *time.Duration, error) {
	t, err := c.transportFor(ctx, repo, scopes)
	if err != nil {
		return nil, nil, err
	}
	rctx, ra := withRetryAfter(ctx)
	return []remote.Option{remote.WithTransport(t), remote.WithContext(rctx)}, ra, nil
}

// remoteError maps a failure of ggcr's remote onto the Client's errors: a
// registry's status answer becomes a *StatusError (so 401, 403, 429 and 5xx
// are classified as for every other request), a failure to reach the
// registry a *netError (retried). Anything else is one of remote's own
// checks, returned with ok false for the caller to judge.
func remoteError(ctx context.Context, err error, wait time.Duration) (_ error, ok bool) {
	var terr *transport.Error
	var uerr *url.Error
	switch {
	case errors.As(err, &terr):
		se := &StatusError{StatusCode: terr.StatusCode}
		if terr.Request != nil {
			se.Method, se.URL = terr.Request.Method, redactURL(terr.Request.URL.String())
		}
		var msgs []string // none for HEAD: its answers have no body
		for _, d := range terr.Errors {
			msgs = append(msgs, d.String())
		}
		se.Message = trimMessage(strings.Join(msgs, "; "))
		return statusError(se, wait), true
	case ctx.Err() != nil:
		return fmt.Errorf("%w (%w)", ctx.Err(), err), true
	case errors.As(err, &uerr):
		return &netError{op: uerr.Op + " " + redactURL(uerr.URL), err: uerr.Err}, true
	}
	return err, false
}

// attemptTransport sits below authentication, so it sees every round trip
// (the client's own and those of ggcr's remote): it bounds the wait for a
// registry's answer, counted from the end of the request body (an upload
// is not bounded: the context is), and records a Retry-After for the
// retry policy in the request's context (withRetryAfter).
type attemptTransport struct {
	inner   http.RoundTripper
	timeout time.Duration
}

func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	var timedOut atomic.Bool
	timer := time.AfterFunc(t.timeout, func() { timedOut.Store(true); cancel() })
	var mu sync.Mutex // answered, and the timer once answered
	answered := false
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		timer.Stop() // started once the body is sent
		out.Body = &startWhenSent{ReadCloser: req.Body, start: func() {
			mu.Lock()
			defer mu.Unlock()
			if !answered {
				timer.Reset(t.timeout)
			}
		}}
	}
	resp, err := t.inner.RoundTrip(out)
	mu.Lock()
	answered = true
	timer.Stop()
	mu.Unlock()
	if timedOut.Load() && err == nil {
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		cancel()
		if timedOut.Load() && req.Context().Err() == nil {
			err = fmt.Errorf("no answer within %v: %w", t.timeout, err)
		}
		return nil, err
	}
	if box, ok := req.Context().Value(retryAfterKey{}).(*time.Duration); ok {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			*box = time.Duration(s) * time.Second
		}
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// startWhenSent calls start once the request body has been read to its
// end, or closed.
type startWhenSent struct {
	io.ReadCloser
	start func()
	once  sync.Once
}

func (b *startWhenSent) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(b.start)
	}
	return n, err
}

func (b *startWhenSent) Close() error {
	b.once.Do(b.start)
	return b.ReadCloser.Close()
}

// cancelOnClose releases the attempt's context when the body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

type retryAfterKey struct{}

// withRetryAfter returns a context for one attempt in which
// attemptTransport records the registry's Retry-After (0: none).
func withRetryAfter(ctx context.Context) (context.Context, *time.Duration) {
	box := new(time.Duration)
	return context.WithValue(ctx, retryAfterKey{}, box), box
}

// retryAfter carries a registry's Retry-After with its status.
type retryAfter struct {
	*StatusError
	wait time.Duration
}

func (e *retryAfter) Unwrap() error { return e.StatusError }

// statusError attaches a Retry-After (when there was one) to se.
func statusError(se *StatusError, wait time.Duration) error {
	if wait > 0 {
		return &retryAfter{StatusError: se, wait: wait}
	}
	return se
}

func trimMessage(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return s
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}

func transient(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		switch se.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var ne *netError
	return errors.As(err, &ne)
}

// retryPolicy is the Client's one retry policy, configured once by
// WithRetries and WithBackoff: which failures are transient (408, 429, 5xx,
// reset or dropped connections, timeouts, a blob stream that breaks), how
// many times they are retried and how long to wait (doubled each time, with
// jitter, a registry's Retry-After honoured up to the ceiling). Requests,
// uploads and blob streams (which resume where they broke, blob.go) all go
// through it. ggcr's transport.NewRetry does not fit: it ignores
// Retry-After, sleeps without watching the context, cannot resend a
// streamed request body and never sees a body that breaks after the headers.
type retryPolicy struct {
	retries          int
	initial, ceiling time.Duration
	log              *slog.Logger
}

// retry runs fn under the Client's policy; fn performs one complete attempt
// (request and reading of the answer).
func (c *Client) retry(ctx context.Context, what string, fn func() error) error {
	if c.err != nil {
		return c.err
	}
	return c.policy.do(ctx, what, fn)
}

// do runs fn until it succeeds, fails permanently or the retries are spent.
func (p retryPolicy) do(ctx context.Context, what string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		if err := p.again(ctx, what, attempt, err); err != nil {
			return err
		}
	}
}

// again is called after the attempt-th attempt failed with err. It returns
// nil once it has waited and another attempt is due, else the error to
// report (with the attempts it took recorded).
func (p retryPolicy) again(ctx context.Context, what string, attempt int, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%s: %w (last error: %w)", what, cerr, err)
	}
	if !transient(err) || attempt > p.retries || ctx.Err() != nil {
		var se *StatusError
		var ne *netError
		if errors.As(err, &se) {
			se.Attempts = attempt
		} else if errors.As(err, &ne) {
			ne.attempts = attempt
		}
		return err
	}
	wait := p.initial << (attempt - 1)
	if wait > p.ceiling || wait <= 0 {
		wait = p.ceiling
	}
	wait += time.Duration(rand.Int64N(int64(wait)/10 + 1))
	var ra *retryAfter
	if errors.As(err, &ra) && ra.wait > wait {
		wait = min(ra.wait, p.ceiling)
	}
	p.log.LogAttrs(ctx, slog.LevelWarn, "retrying", slog.String("what", what), slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String("error", err.Error()))
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s: %w (last error: %w)", what, ctx.Err(), err)
	case <-timer.C:
		return nil
	}
}
