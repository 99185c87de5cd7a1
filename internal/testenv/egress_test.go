package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExposeLocal puts a server on 127.0.0.1 behind a Service and reaches it through the
// apiserver's service proxy; exposing the Service again moves it to another server.
func TestExposeLocal(t *testing.T) {
	k := RequireKube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := k.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	const ns, name = "expose-local", "hello"
	// The service proxy sees a new EndpointSlice through an informer: poll.
	get := func(want string) {
		t.Helper()
		var got []byte
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			got, err = cs.CoreV1().Services(ns).ProxyGet("http", name, "web", "/greeting", nil).DoRaw(ctx)
			if err == nil && string(got) == want {
				return
			}
		}
		t.Fatalf("service proxy: %q, %v; want %q", got, err, want)
	}
	for _, greeting := range []string{"hello from the first server", "hello from the second server"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/greeting" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprint(w, greeting)
		}))
		defer srv.Close()
		unexpose, err := k.ExposeLocal(ctx, ns, name, "web", 80, strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer unexpose()
		get(greeting)
	}
}

// TestEgressProxy checks the proxy kube-apiserver's cluster egress goes through: a routed
// address reaches its local server, any other address is dialed as asked, half-closes pass,
// removing a route ends its tunnels, a refused dial is a 502, and close ends the tunnels still
// open.
func TestEgressProxy(t *testing.T) {
	// A dir too deep for a socket path: the socket goes to a temporary folder of its own.
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", maxSocketPath))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p, _, err := startEgressProxy(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if p.sockDir == "" {
		t.Fatalf("socket %s in a dir too deep", p.ln.Addr())
	}

	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	p.route("192.0.2.200:80", echo.Addr().String())

	connect := func(addr string) (net.Conn, *bufio.Reader, int) {
		t.Helper()
		c, err := net.Dial("unix", p.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "CONNECT "+addr+" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c, br, resp.StatusCode
	}
	roundTrip := func(c net.Conn, br *bufio.Reader, msg string) {
		t.Helper()
		if _, err := io.WriteString(c, msg+"\n"); err != nil {
			t.Fatal(err)
		}
		got, err := br.ReadString('\n')
		if err != nil || got != msg+"\n" {
			t.Fatalf("echo: %q, %v", got, err)
		}
	}

	routed, br, code := connect("192.0.2.200:80")
	if code != http.StatusOK {
		t.Fatalf("CONNECT routed address: %d", code)
	}
	roundTrip(routed, br, "via route")

	direct, dbr, code := connect(echo.Addr().String())
	if code != http.StatusOK {
		t.Fatalf("CONNECT direct address: %d", code)
	}
	roundTrip(direct, dbr, "direct")
	// A half-close travels through: the echo server sees EOF and closes, and so do we.
	if err := direct.(*net.UnixConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(dbr); err != nil || len(rest) != 0 {
		t.Fatalf("after half-close: %q, %v", rest, err)
	}
	_ = direct.Close()

	// Removing a route (or moving it) closes the tunnels through it, which the apiserver would
	// otherwise go on reusing; a removal meant for another target changes nothing.
	p.unroute("192.0.2.200:80", "127.0.0.1:1")
	if p.target("192.0.2.200:80") != echo.Addr().String() {
		t.Fatal("unroute removed a route to another target")
	}
	roundTrip(routed, br, "still routed")
	kept, kbr, code := connect(echo.Addr().String())
	if code != http.StatusOK {
		t.Fatalf("CONNECT direct address: %d", code)
	}
	roundTrip(kept, kbr, "kept open")
	p.unroute("192.0.2.200:80", echo.Addr().String())
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the tunnel through a removed route is still open")
	}
	_ = routed.Close()
	roundTrip(kept, kbr, "other tunnels stay")

	free, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	refused, _, code := connect(net.JoinHostPort("127.0.0.1", strconv.Itoa(free[0])))
	_ = refused.Close()
	if code != http.StatusBadGateway {
		t.Fatalf("CONNECT to a closed port: %d, want 502", code)
	}

	// close ends the tunnel that is still open and waits for its goroutines.
	done := make(chan error, 1)
	go func() { done <- p.close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("close did not return with a connection open")
	}
	if _, err := kbr.ReadByte(); err == nil {
		t.Fatal("a tunnel is still open after close")
	}
	_ = kept.Close()
	if _, err := net.Dial("unix", p.ln.Addr().String()); err == nil {
		t.Fatal("the proxy still accepts after close")
	}
	if _, err := os.Stat(p.sockDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket folder left after close: %v", err)
	}
}
