package akv

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/secretshift/secretshift/internal/testenv/serve"
)

// Defaults for Options.
const (
	// DefaultTenant is the tenant id the challenge names and the token endpoint serves.
	DefaultTenant = "5f0c1a3e-7b2d-4c8e-9a61-0d4e8b2f7c35"
	// DefaultClientID and DefaultClientSecret are the client credentials the token endpoint
	// accepts when Options leave them empty.
	DefaultClientID     = "8e2b4d6f-1a3c-4e5f-8b7d-9c0a2e4f6b81"
	DefaultClientSecret = "akv-test-client-secret"
	// DefaultWindow is the throttling window when Options.Window is zero.
	DefaultWindow = 10 * time.Second
)

// Options configures a Server.
type Options struct {
	// WriteLimit is how many writes (PUT, PATCH, DELETE, POST to the vault API) are admitted per
	// Window, counted over a sliding window; more are answered 429 Throttled. 0 means no limit.
	WriteLimit int
	// Window is the throttling window; 0 means DefaultWindow.
	Window time.Duration

	// Tenant is the directory the challenge names and the token endpoint serves; "" means
	// DefaultTenant.
	Tenant string
	// ClientID and ClientSecret are the client credentials the token endpoint accepts; ""
	// means DefaultClientID and DefaultClientSecret.
	ClientID, ClientSecret string

	// RecoverableDays is the vault's soft-delete retention, 7 to 90 days; 0 means 90. Below 90
	// the vault reports recoveryLevel "CustomizedRecoverable+Purgeable", as the vaults of the
	// Go and Python recordings do.
	RecoverableDays int
	// DisableSoftDelete models a vault created before soft delete became mandatory
	// (recoveryLevel "Purgeable"): DELETE removes a secret at once and returns its properties
	// without recoveryId. It exists to replay the 2018 recording; new vaults cannot be made so.
	DisableSoftDelete bool

	// Propagation is how many requests still see the old state after a delete, recover or
	// purge, as Azure's asynchronous processing shows them (see the package documentation).
	// 0 makes every change visible at once.
	Propagation int
}

// Request is one entry of the request log.
type Request struct {
	Time   time.Time
	Method string
	Path   string // URL path, without the query
	Status int
	// Write is true for PUT, PATCH, DELETE and POST to the vault API (the token endpoint's
	// POSTs are not writes).
	Write bool
}

// Server is a Key Vault secrets data-plane test server. Its methods are safe for concurrent use.
type Server struct {
	tenant, clientID, clientSecret string
	recoverableDays                int
	softDelete                     bool

	cert    tls.Certificate
	certPEM []byte
	tokens  *tokenStore
	backup  *backupSealer

	mu       sync.Mutex
	store    *store
	limiter  limiter
	faults   []fault
	requests []Request
	lag      int

	srvMu sync.Mutex
	srv   *http.Server
	url   string
}

// New returns a server configured by opts, with a fresh certificate. It does not listen; call
// Start.
func New(opts Options) (*Server, error) {
	s := &Server{
		tenant:          opts.Tenant,
		clientID:        opts.ClientID,
		clientSecret:    opts.ClientSecret,
		recoverableDays: opts.RecoverableDays,
		softDelete:      !opts.DisableSoftDelete,
		lag:             opts.Propagation,
	}
	if s.tenant == "" {
		s.tenant = DefaultTenant
	}
	if s.clientID == "" {
		s.clientID = DefaultClientID
	}
	if s.clientSecret == "" {
		s.clientSecret = DefaultClientSecret
	}
	if s.recoverableDays == 0 {
		s.recoverableDays = 90
	}
	if s.recoverableDays < 7 || s.recoverableDays > 90 {
		return nil, fmt.Errorf("recoverable days %d: a vault keeps deleted secrets 7 to 90 days", s.recoverableDays)
	}
	if opts.WriteLimit < 0 || opts.Window < 0 || opts.Propagation < 0 {
		return nil, errors.New("write limit, window and propagation must not be negative")
	}
	s.limiter.set(opts.WriteLimit, opts.Window)

	var err error
	if s.cert, s.certPEM, err = newCertificate(); err != nil {
		return nil, err
	}
	if s.tokens, err = newTokenStore(); err != nil {
		return nil, err
	}
	if s.backup, err = newBackupSealer(); err != nil {
		return nil, err
	}
	s.store = newStore()
	return s, nil
}

// Start listens on addr, a loopback host and port such as "127.0.0.1:0" (a port of 0 picks a
// free one; "" means "127.0.0.1:0"), serves HTTPS in the background and returns the base URL,
// e.g. "https://127.0.0.1:41234".
func (s *Server) Start(addr string) (string, error) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		return "", errors.New("key vault test server already started")
	}
	ln, err := serve.Listen(addr)
	if err != nil {
		return "", err
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12},
		// Clients that do not trust the certificate make the server log handshake errors;
		// they carry nothing a test needs.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	// HTTP/1.1 only: an HTTP/2 connection makes Shutdown wait a second for the client to
	// acknowledge GOAWAY, on every Close.
	s.srv.Protocols = new(http.Protocols)
	s.srv.Protocols.SetHTTP1(true)
	s.url = "https://" + ln.Addr().String()
	go func(srv *http.Server) { _ = srv.ServeTLS(ln, "", "") }(s.srv)
	return s.url, nil
}

// URL returns the base URL after Start, or "" before.
func (s *Server) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.url
}

// Close stops serving and discards all data.
func (s *Server) Close() error {
	s.srvMu.Lock()
	srv := s.srv
	s.srv = nil
	s.srvMu.Unlock()

	err := serve.Stop(srv, "key vault test server")
	s.Reset()
	return err
}

// Reset discards every secret (active, deleted and purging), the request log, the throttling
// window and pending injected faults. Issued tokens, the certificate and the settings stay, so
// clients keep working.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store = newStore()
	s.requests = nil
	s.faults = nil
	s.limiter.clear()
}

// SetWriteLimit changes the write limit and window (see Options); n = 0 removes the limit.
// Writes already admitted in the current window still count.
func (s *Server) SetWriteLimit(n int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limiter.set(n, window)
}

// SetPropagation changes Options.Propagation for changes made from now on.
func (s *Server) SetPropagation(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lag = max(n, 0)
}

// Inject makes the next n requests to the vault API, of any method and before authentication,
// answer status (429 gets the Throttled body, other codes a generic error body). A positive
// retryAfter is sent as Retry-After in whole seconds, rounded up; 0 sends none, as the one
// real throttling response on record did. Calls queue up behind each other.
func (s *Server) Inject(status, n int, retryAfter time.Duration) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{status: status, left: n, retryAfter: retryAfter})
}

// Requests returns a copy of the request log, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Counts summarises the request log.
type Counts struct {
	Requests      int // every request, token endpoint included
	Vault         int // requests to the vault API
	Writes        int // vault writes received, refused ones included
	AppliedWrites int // vault writes answered below 400
	Throttled     int // answers 429, from the write limit or Inject
	Unauthorized  int // answers 401 (each SDK's first request to a vault is one)
	Tokens        int // token requests answered 200
}

// Counts returns counters over the request log.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	var c Counts
	for _, r := range s.requests {
		c.Requests++
		if isIdentityPath(r.Path) {
			if r.Status == http.StatusOK && r.Method == http.MethodPost {
				c.Tokens++
			}
			continue
		}
		c.Vault++
		if r.Write {
			c.Writes++
			if r.Status < 400 {
				c.AppliedWrites++
			}
		}
		switch r.Status {
		case http.StatusTooManyRequests:
			c.Throttled++
		case http.StatusUnauthorized:
			c.Unauthorized++
		}
	}
	return c
}

// Handler returns the server's HTTP handler, for serving it some other way than Start.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	write := false
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, Request{
			Time: time.Now(), Method: r.Method, Path: r.URL.Path, Status: rec.status, Write: write,
		})
		s.mu.Unlock()
	}()

	if isIdentityPath(r.URL.Path) {
		s.serveIdentity(rec, r)
		return
	}
	write = isWriteMethod(r.Method)
	setVaultHeaders(rec, r)

	if f := s.nextFault(); f != nil {
		writeError(rec, f.error())
		return
	}
	if e := s.authenticate(r); e != nil {
		rec.Header().Set("WWW-Authenticate", s.challenge())
		writeError(rec, e)
		return
	}
	if !r.URL.Query().Has("api-version") {
		writeError(rec, errMissingAPIVersion())
		return
	}
	if write {
		if e := s.admitWrite(); e != nil {
			writeError(rec, e)
			return
		}
	}
	s.route(rec, r)
}

// nextFault takes one injected fault, or returns nil.
func (s *Server) nextFault() *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return nil
	}
	f := s.faults[0]
	if f.left--; f.left == 0 {
		s.faults = s.faults[1:]
	} else {
		s.faults[0] = f
	}
	return &f
}

func (s *Server) admitWrite() *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if wait, ok := s.limiter.admit(time.Now()); !ok {
		return errThrottled(wait)
	}
	return nil
}

// setVaultHeaders sets the headers every Key Vault response carries (AKV-SHAPES.md §0).
func setVaultHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "-1")
	h.Set("Strict-Transport-Security", "max-age=31536000;includeSubDomains")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("x-ms-keyvault-region", "local")
	h.Set("x-ms-keyvault-service-version", "1.9.3347.1")
	addr, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		addr = r.RemoteAddr
	}
	family := "InterNetwork"
	if strings.Contains(addr, ":") {
		family = "InterNetworkV6"
	}
	h.Set("x-ms-keyvault-network-info", "conn_type=Ipv4;addr="+addr+";act_addr_fam="+family+";")
	h.Set("x-ms-request-id", newGUID())
	if id := r.Header.Get("x-ms-client-request-id"); id != "" {
		h.Set("x-ms-client-request-id", id)
	}
}

func isWriteMethod(m string) bool {
	switch m {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// newGUID returns a random version 4 GUID.
func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// statusRecorder remembers the status written, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
