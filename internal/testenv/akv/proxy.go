package akv

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secretshift/secretshift/internal/testenv/serve"
)

// Azure's public-cloud host names that a Proxy answers for.
const (
	// LoginHost is Microsoft Entra ID's authority host. Clients that cannot be given another
	// one sign in there: go-autorest's adal, which External Secrets Operator's azurekv provider
	// uses, takes it from the store's environmentType and ignores AZURE_AUTHORITY_HOST.
	LoginHost = "login.microsoftonline.com"
	// VaultDomain is the domain of public-cloud vaults: https://NAME.vault.azure.net.
	VaultDomain = "vault.azure.net"
)

// Proxy is an HTTPS proxy (HTTP CONNECT) on a loopback port through which a program reaches
// its Server as Azure, under Azure's own host names, for programs that cannot be pointed at
// another authority or vault URL: started with HTTPS_PROXY and SSL_CERT_FILE from Env, they
// sign in at https://login.microsoftonline.com/{tenant} and read https://NAME.vault.azure.net
// unmodified.
//
// A CONNECT to login.microsoftonline.com:443 or to NAME.vault.azure.net:443 (any one-label
// NAME: every vault name is the same Server) is answered 200, and the tunnel's TLS is
// terminated by the proxy with a certificate for those names issued by the Server's own
// certificate; the requests inside are served by the Server's handler in this process. Any
// other CONNECT, and any request that is not a CONNECT, is refused and recorded (Refused). The
// proxy never dials anything: nothing sent to it leaves this process.
type Proxy struct {
	srv     *Server
	url     string
	outer   *http.Server // answers CONNECT on the loopback port
	inner   *http.Server // serves the tunnelled HTTPS with the Server's handler
	tunnels *tunnelListener

	mu      sync.Mutex
	served  map[string]int // Host -> requests served through the proxy
	refused []string
}

// StartProxy starts a Proxy for s on a free 127.0.0.1 port. Close stops it; closing s does
// not.
func (s *Server) StartProxy() (*Proxy, error) {
	cert, err := s.issueCertificate(LoginHost, "*."+VaultDomain)
	if err != nil {
		return nil, err
	}
	ln, err := serve.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{srv: s, url: "http://" + ln.Addr().String(), served: map[string]int{}}
	p.tunnels = &tunnelListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: ln.Addr()}
	quiet := log.New(io.Discard, "", 0) // handshakes of clients that do not trust the certificate
	p.inner = &http.Server{
		Handler:           http.HandlerFunc(p.serveTunnelled),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		ErrorLog:          quiet,
	}
	p.outer = &http.Server{Handler: http.HandlerFunc(p.serveConnect), ReadHeaderTimeout: 10 * time.Second, ErrorLog: quiet}
	// HTTP/1.1 only, as the Server itself (see Start).
	for _, srv := range []*http.Server{p.inner, p.outer} {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
	}
	go func() { _ = p.inner.Serve(p.tunnels) }()
	go func() { _ = p.outer.Serve(ln) }()
	return p, nil
}

// URL returns the proxy's URL, http://127.0.0.1:PORT, the value of HTTPS_PROXY.
func (p *Proxy) URL() string { return p.url }

// Env writes the Server's certificate to dir/akv-ca.pem and returns the environment a
// subprocess needs to reach the Server as Azure through the proxy, as "KEY=value" strings:
// HTTPS_PROXY, NO_PROXY (loopback, where the apiserver and the other test servers listen;
// Go never proxies loopback addresses anyway) and SSL_CERT_FILE (which replaces Go's default
// CA bundle file on Linux; the default CA directories are still read).
func (p *Proxy) Env(dir string) ([]string, error) {
	path, err := p.srv.writeCertFile(dir)
	if err != nil {
		return nil, err
	}
	return []string{"HTTPS_PROXY=" + p.url, "NO_PROXY=127.0.0.1,localhost,::1", "SSL_CERT_FILE=" + path}, nil
}

// Served returns how many requests the Server answered through the proxy for each host name
// (login.microsoftonline.com, NAME.vault.azure.net).
func (p *Proxy) Served() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.served)
}

// Refused returns the requests refused, oldest first: the host:port of a CONNECT to any other
// host, or the method and target of a request that is not a CONNECT.
func (p *Proxy) Refused() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.refused)
}

// Close stops the proxy and ends its tunnels.
func (p *Proxy) Close() error {
	err := serve.Stop(p.outer, "key vault test proxy")
	_ = p.tunnels.Close()
	return errors.Join(err, serve.Stop(p.inner, "key vault test proxy tunnels"))
}

func (p *Proxy) serveConnect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		p.refuse(r.Method + " " + r.RequestURI)
		http.Error(w, "this proxy only tunnels (CONNECT) to "+LoginHost+" and *."+VaultDomain, http.StatusMethodNotAllowed)
		return
	}
	addr := strings.ToLower(r.Host) // the authority form of a CONNECT: host:port
	if !azureAddr(addr) {
		p.refuse(addr)
		http.Error(w, "this proxy only tunnels to "+LoginHost+":443 and *."+VaultDomain+":443", http.StatusForbidden)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot tunnel over this connection", http.StatusInternalServerError)
		return
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = c.Close()
		return
	}
	// Clients wait for the answer before the TLS handshake, so rw holds nothing yet; reading
	// through it anyway loses nothing if one does not wait.
	tc := tls.Server(&bufferedConn{Conn: c, r: rw.Reader}, p.inner.TLSConfig)
	if !p.tunnels.push(tc) {
		_ = tc.Close()
	}
}

func (p *Proxy) serveTunnelled(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.served[strings.ToLower(r.Host)]++
	p.mu.Unlock()
	p.srv.Handler().ServeHTTP(w, r)
}

func (p *Proxy) refuse(what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused = append(p.refused, what)
}

// azureAddr reports whether addr is login.microsoftonline.com:443 or NAME.vault.azure.net:443.
func azureAddr(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "443" {
		return false
	}
	if host == LoginHost {
		return true
	}
	name, ok := strings.CutSuffix(host, "."+VaultDomain)
	return ok && name != "" && !strings.Contains(name, ".")
}

// tunnelListener hands the tunnelled connections to the inner http.Server.
type tunnelListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func (l *tunnelListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// push hands c to Accept; it reports false when the listener is closed.
func (l *tunnelListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *tunnelListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *tunnelListener) Addr() net.Addr { return l.addr }

// bufferedConn reads what the CONNECT request's reader buffered before the connection itself.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
