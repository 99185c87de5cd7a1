package faults

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is what the proxy does with one request.
type Kind string

// The kinds of answer the proxy gives.
const (
	// Forward passes the request to Vault and its answer back.
	Forward Kind = "forward"
	// Reset closes the client's connection with a TCP reset, without forwarding or answering.
	Reset Kind = "reset"
	// Throttle answers 429 Too Many Requests with Retry-After: 1, without forwarding.
	Throttle Kind = "throttle"
	// Unavailable answers 503 Service Unavailable, without forwarding.
	Unavailable Kind = "unavailable"
	// Stall holds the request for Action.Delay, then forwards it (also when the client has
	// given up by then: a write may apply after its client stopped waiting).
	Stall Kind = "stall"
	// Truncate forwards the request, so a write applies, then sends the answer's headers
	// with its full Content-Length, half of its body, and closes the connection.
	Truncate Kind = "truncate"
	// Down stops the proxy: it closes its listener (new connections are refused) and resets
	// this and every later request's connection.
	Down Kind = "down"
)

// Action is the proxy's answer to one request.
type Action struct {
	Kind  Kind
	Delay time.Duration
}

// Decide returns the action for the n-th request the proxy sees (from 1).
type Decide func(n int) Action

// Proxy is a reverse proxy on 127.0.0.1 in front of one store's API (Vault over HTTP, or Key
// Vault over HTTPS: NewTLSProxy), faulting the requests its Decide picks.
type Proxy struct {
	// Addr is the proxy's URL, for VAULT_ADDR or AZURE_KEYVAULT_URL.
	Addr string
	// dataPrefix is the path below which the store's data requests go (Vault's KV mount:
	// /v1/secret/; Key Vault: /secrets).
	dataPrefix string
	// shape is the shape of the error answers the proxy makes: the store's own.
	shape errorShape

	decide Decide
	target *url.URL
	rp     *httputil.ReverseProxy
	tr     *http.Transport
	ln     net.Listener
	srv    *http.Server
	seen   atomic.Int64
	down   atomic.Bool
	// firstKV is the number of the first request below dataPrefix (0: none yet).
	firstKV atomic.Int64

	mu       sync.Mutex
	injected map[Kind]int
}

// NewProxy listens on a free loopback port and forwards to the Vault at target; decide nil
// forwards all.
func NewProxy(target string, decide Decide) (*Proxy, error) {
	p, err := newProxy(target, decide, nil, false)
	if err != nil {
		return nil, err
	}
	p.dataPrefix = "/v1/secret/"
	go func() { _ = p.srv.Serve(p.ln) }()
	return p, nil
}

// NewTLSProxy listens with TLS on a free loopback port, presenting cert (the Key Vault test
// server's own, which its clients trust), and forwards to the Key Vault at target, trusting
// roots; decide nil forwards all. The Host header is kept, so the IDs the vault answers with
// name the proxy, as the client expects.
func NewTLSProxy(target string, decide Decide, cert tls.Certificate, roots *x509.CertPool) (*Proxy, error) {
	return newTLSProxy(target, decide, cert, roots, "/secrets", keyVaultErrors)
}

// NewKubeProxy is NewTLSProxy in front of a kube-apiserver: the data requests are the API's
// (/api/, /apis/, after the discovery requests), the errors are Status objects, and the
// Host header is the apiserver's.
func NewKubeProxy(target string, decide Decide, cert tls.Certificate, roots *x509.CertPool) (*Proxy, error) {
	return newTLSProxy(target, decide, cert, roots, "/api/v1/", kubeErrors)
}

// errorShape is how a store words an error answer.
type errorShape int

const (
	vaultErrors errorShape = iota
	keyVaultErrors
	kubeErrors
)

func newTLSProxy(target string, decide Decide, cert tls.Certificate, roots *x509.CertPool, prefix string, shape errorShape) (*Proxy, error) {
	p, err := newProxy(target, decide, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, shape == keyVaultErrors)
	if err != nil {
		return nil, err
	}
	p.Addr = "https://" + p.ln.Addr().String()
	p.dataPrefix, p.shape = prefix, shape
	p.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	go func() { _ = p.srv.ServeTLS(p.ln, "", "") }()
	return p, nil
}

func newProxy(target string, decide Decide, upstream *tls.Config, keepHost bool) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("parse store address %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if decide == nil {
		decide = func(int) Action { return Action{Kind: Forward} }
	}
	p := &Proxy{Addr: "http://" + ln.Addr().String(), decide: decide, target: u, ln: ln, injected: map[Kind]int{},
		tr: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second, TLSClientConfig: upstream}}
	p.rp = &httputil.ReverseProxy{Transport: p.tr, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		if keepHost {
			pr.Out.Host = pr.In.Host
		}
	}}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	return p, nil
}

// Close stops the proxy and drops its connections.
func (p *Proxy) Close() {
	_ = p.srv.Close()
	p.tr.CloseIdleConnections()
}

// Seen is the number of requests the proxy received.
func (p *Proxy) Seen() int { return int(p.seen.Load()) }

// FirstKV is the number of the first request to the KV mount (below /v1/secret/), 0 when
// there was none: the requests before it open the connection (token, mount and version
// checks).
func (p *Proxy) FirstKV() int { return int(p.firstKV.Load()) }

// Injected is the number of faulted requests, per kind.
func (p *Proxy) Injected() map[Kind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Kind]int, len(p.injected))
	for k, v := range p.injected {
		out[k] = v
	}
	return out
}

func (p *Proxy) count(k Kind) {
	p.mu.Lock()
	p.injected[k]++
	p.mu.Unlock()
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(p.seen.Add(1))
	if strings.HasPrefix(r.URL.Path, p.dataPrefix) {
		p.firstKV.CompareAndSwap(0, int64(n))
	}
	a := p.decide(n)
	if p.down.Load() {
		a = Action{Kind: Down}
	}
	if a.Kind != Forward {
		p.count(a.Kind)
	}
	switch a.Kind {
	case Reset:
		reset(w)
	case Down:
		if p.down.CompareAndSwap(false, true) {
			_ = p.ln.Close()
		}
		reset(w)
	case Throttle:
		w.Header().Set("Retry-After", "1")
		p.fail(w, http.StatusTooManyRequests, p.reason("Throttled", "TooManyRequests"), "rate limit quota exceeded (fault proxy)")
	case Unavailable:
		p.fail(w, http.StatusServiceUnavailable, p.reason("ServiceUnavailable", "ServiceUnavailable"), "service unavailable (fault proxy)")
	case Stall:
		// Held for the full stall even when the client gives up: the request still reaches
		// Vault, as a slow network delivers it.
		time.Sleep(a.Delay)
		p.rp.ServeHTTP(w, r.WithContext(context.WithoutCancel(r.Context())))
	case Truncate:
		p.truncate(w, r)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// reset closes the client's connection with a TCP reset (linger 0), answering nothing; over
// HTTP/2, where the connection is shared, it resets the request's stream.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = raw.Close()
}

// fail answers an error as the store does: Vault's {"errors":[...]}, or Key Vault's
// {"error":{"code","message"}}, or the apiserver's Status object.
func (p *Proxy) fail(w http.ResponseWriter, status int, code, msg string) {
	switch p.shape {
	case keyVaultErrors:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "{\"error\":{\"code\":%q,\"message\":%q}}\n", code, msg)
	case kubeErrors:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":%q,\"reason\":%q,\"code\":%d}\n", msg, code, status)
	default:
		vaultError(w, status, msg)
	}
}

func vaultError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"errors\":[%q]}\n", msg)
}

// truncate forwards r to Vault, reads the whole answer, and sends its status and headers
// with the full Content-Length but only half of the body before closing the connection.
func (p *Proxy) truncate(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(context.WithoutCancel(r.Context()))
	out.URL.Scheme, out.URL.Host, out.Host, out.RequestURI = p.target.Scheme, p.target.Host, p.target.Host, ""
	if p.shape == keyVaultErrors {
		out.Host = r.Host
	}
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		p.fail(w, http.StatusBadGateway, "BadGateway", "fault proxy: "+err.Error())
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	conn, bw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 (a TLS proxy): no connection to take over, so the stream gets the headers
		// and half the body, then a reset.
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body[:len(body)/2])
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	h := resp.Header.Clone()
	h.Del("Transfer-Encoding")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	h.Set("Connection", "close")
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %s\r\n", resp.Status)
	_ = h.Write(&b)
	b.WriteString("\r\n")
	b.Write(body[:len(body)/2])
	_, _ = bw.Write(b.Bytes())
	_ = bw.Flush()
}

// reason is the error code of the proxy's answer: Key Vault's, or the apiserver's reason.
func (p *Proxy) reason(keyVault, kube string) string {
	if p.shape == kubeErrors {
		return kube
	}
	return keyVault
}
