package vaultapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretshift/secretshift/internal/testenv/serve"

	uuid "github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/logical"
)

// DefaultRootToken is the root token used when Options.RootToken is empty, the same as
// "vault server -dev -dev-root-token-id=root".
const DefaultRootToken = "root"

// maxRequestSize is Vault's default listener max_request_size (32 MiB).
const maxRequestSize = 32 << 20

// Options configures a Server.
type Options struct {
	// RootToken is the only token the server accepts. Empty means DefaultRootToken.
	RootToken string

	// KVv2Mounts and KVv1Mounts are the paths of the KV engines mounted at start, without
	// trailing slash, e.g. "secret". When both are nil, KV version 2 is mounted at "secret" as
	// "vault server -dev" does; pass an empty non-nil slice to start without mounts.
	KVv2Mounts []string
	KVv1Mounts []string

	// Faults, when set, is asked about every request before anything else happens; a non-nil
	// Fault changes how that request is answered. It may be replaced later with SetFaults.
	Faults func(r *http.Request) *Fault

	// RequestLog, when set, receives one line per request: method, path, status and duration.
	// Request and response bodies are never logged.
	RequestLog io.Writer
}

// Server is an in-memory Vault API server. Its methods are safe for concurrent use.
type Server struct {
	rootToken    string
	rootAccessor string
	clusterID    string
	faults       atomic.Pointer[func(*http.Request) *Fault]
	stats        counters
	started      time.Time

	logMu sync.Mutex
	log   io.Writer

	mountsMu sync.RWMutex
	mounts   map[string]*mount // by path with trailing slash

	srvMu sync.Mutex
	srv   *http.Server
	url   string
}

// New returns a server with the mounts of opts. It does not listen; use Start, or serve Handler.
func New(opts Options) (*Server, error) {
	s := &Server{
		rootToken: opts.RootToken,
		started:   time.Now(),
		log:       opts.RequestLog,
		mounts:    map[string]*mount{},
	}
	if s.rootToken == "" {
		s.rootToken = DefaultRootToken
	}
	var err error
	if s.clusterID, err = uuid.GenerateUUID(); err != nil {
		return nil, fmt.Errorf("generate cluster id: %w", err)
	}
	accessor := make([]byte, 12)
	if _, err := rand.Read(accessor); err != nil {
		return nil, fmt.Errorf("generate root token accessor: %w", err)
	}
	s.rootAccessor = base64.RawURLEncoding.EncodeToString(accessor)
	if opts.Faults != nil {
		s.SetFaults(opts.Faults)
	}
	v1, v2 := opts.KVv1Mounts, opts.KVv2Mounts
	if v1 == nil && v2 == nil {
		v2 = []string{"secret"}
	}
	for _, p := range v2 {
		if err := s.Mount(p, 2); err != nil {
			s.closeMounts()
			return nil, err
		}
	}
	for _, p := range v1 {
		if err := s.Mount(p, 1); err != nil {
			s.closeMounts()
			return nil, err
		}
	}
	return s, nil
}

// RootToken returns the token the server accepts.
func (s *Server) RootToken() string { return s.rootToken }

// SetFaults replaces the fault hook; nil removes it.
func (s *Server) SetFaults(f func(r *http.Request) *Fault) {
	if f == nil {
		s.faults.Store(nil)
		return
	}
	s.faults.Store(&f)
}

// Handler returns the HTTP handler serving the Vault API under /v1/.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start listens on addr, a loopback host and port such as "127.0.0.1:8200" ("" or a port of 0
// picks a free port), serves in the background and returns the base URL, e.g.
// "http://127.0.0.1:41234".
func (s *Server) Start(addr string) (string, error) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		return "", errors.New("vault api server already started")
	}
	ln, err := serve.Listen(addr)
	if err != nil {
		return "", err
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	s.url = "http://" + ln.Addr().String()
	go func(srv *http.Server) { _ = srv.Serve(ln) }(s.srv)
	return s.url, nil
}

// URL returns the base URL after Start, or "" before.
func (s *Server) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.url
}

// Close stops serving (when started) and discards all mounts and their data.
func (s *Server) Close() error {
	s.srvMu.Lock()
	srv := s.srv
	s.srv = nil
	s.srvMu.Unlock()

	err := serve.Stop(srv, "vault api server")
	s.closeMounts()
	return err
}

// serveHTTP is the entry point of every request.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { s.logRequest(r, rec.status, time.Since(start)) }()

	s.stats.requests.Add(1)
	write := isWriteMethod(r.Method)
	if write {
		s.stats.writes.Add(1)
	}

	if hook := s.faults.Load(); hook != nil {
		if f := (*hook)(r); f != nil {
			s.stats.faulted.Add(1)
			if f.LoseResponse {
				s.serveThenDrop(rec, r, write)
				return
			}
			if f.apply(rec, r) {
				return
			}
		}
	}
	s.serveVault(rec, r, write)
}

// serveVault answers r as Vault would.
func (s *Server) serveVault(w *statusRecorder, r *http.Request, write bool) {
	if ns := r.Header.Get("X-Vault-Namespace"); ns != "" {
		w.Header().Set("X-Vault-Namespace", ns)
	}
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		logical.RespondError(w, http.StatusNotFound, nil)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/")

	// Vault answers these before authentication.
	switch path {
	case "sys/health":
		s.serveHealth(w, r)
		return
	case "sys/seal-status":
		s.serveSealStatus(w, r)
		return
	}

	req, status, err := buildRequest(w, r, path)
	if err != nil || status != 0 {
		logical.RespondError(w, status, err)
		return
	}
	if !s.authorized(r) {
		logical.RespondError(w, http.StatusForbidden, logical.ErrPermissionDenied)
		return
	}

	switch {
	case strings.HasPrefix(path, "sys/"), strings.HasPrefix(path, "auth/token/"):
		s.serveSystem(w, r, req)
	default:
		ok := s.serveEngine(w, r, req)
		if ok && write {
			s.stats.appliedWrites.Add(1)
		}
	}
}

// authorized reports whether r carries the root token.
func (s *Server) authorized(r *http.Request) bool {
	token := r.Header.Get("X-Vault-Token")
	if token == "" {
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			token = strings.TrimSpace(v)
		}
	}
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.rootToken)) == 1
}

func (s *Server) logRequest(r *http.Request, status int, d time.Duration) {
	if s.log == nil {
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.log, "%s %s %d %s\n", r.Method, r.URL.Path, status, d.Round(time.Microsecond))
}

func isWriteMethod(m string) bool {
	switch m {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// statusRecorder remembers the status code written, for the request log and counters.
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

// Unwrap lets http.ResponseController reach the connection (for LoseResponse).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
