package vaultapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Fault changes how one request is answered. The zero Fault answers normally.
//
// Fields combine in this order: Delay first; then, when Status is set, the request is answered
// with Status, RetryAfter and Body and never reaches Vault's engine; otherwise it is served
// normally. LoseResponse ignores the other fields.
type Fault struct {
	// Delay holds the request this long before it is answered (less if the client gives up).
	Delay time.Duration

	// Status, when non-zero, is the HTTP status code answered instead of serving the request.
	Status int

	// RetryAfter, when non-empty, is sent as the Retry-After header, e.g. "1".
	RetryAfter string

	// Body is the response body sent with Status. Empty means Vault's error shape:
	// {"errors":["<status text>"]}.
	Body string

	// LoseResponse serves the request normally, so a write takes effect, then closes the
	// connection without sending the answer: the client sees a network error.
	LoseResponse bool
}

// apply carries out f and reports whether it answered the request.
func (f *Fault) apply(w http.ResponseWriter, r *http.Request) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		}
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	body := f.Body
	if body == "" {
		b, _ := json.Marshal(map[string][]string{"errors": {http.StatusText(f.Status)}})
		body = string(b) + "\n"
	}
	if strings.HasPrefix(strings.TrimSpace(body), "{") {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(body))
	return true
}

// serveThenDrop serves r into a buffer that is thrown away, then closes the client connection.
func (s *Server) serveThenDrop(w *statusRecorder, r *http.Request, write bool) {
	buf := &discardWriter{header: http.Header{}}
	s.serveVault(&statusRecorder{ResponseWriter: buf}, r, write)

	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Without a connection to cut (HTTP/2, or a handler test), a 502 is the closest
		// equivalent of an answer lost on the way.
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	_ = conn.Close()
}

type discardWriter struct {
	header http.Header
	body   bytes.Buffer
}

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return d.body.Write(b) }
func (d *discardWriter) WriteHeader(int)             {}

// Stats are request counters since the server was created (or since ResetStats).
type Stats struct {
	// Requests counts every request received, faulted ones included.
	Requests int64
	// Writes counts POST, PUT, PATCH and DELETE requests received, faulted ones included.
	Writes int64
	// AppliedWrites counts POST, PUT, PATCH and DELETE requests that a KV engine answered with
	// success (status below 400).
	AppliedWrites int64
	// Faulted counts requests for which the Faults hook returned a Fault.
	Faulted int64
}

type counters struct {
	requests, writes, appliedWrites, faulted atomic.Int64
}

// Stats returns the request counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests:      s.stats.requests.Load(),
		Writes:        s.stats.writes.Load(),
		AppliedWrites: s.stats.appliedWrites.Load(),
		Faulted:       s.stats.faulted.Load(),
	}
}

// ResetStats sets all request counters to zero.
func (s *Server) ResetStats() {
	s.stats.requests.Store(0)
	s.stats.writes.Store(0)
	s.stats.appliedWrites.Store(0)
	s.stats.faulted.Store(0)
}
