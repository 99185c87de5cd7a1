// Package serve holds what the test servers of internal/testenv share about running an
// http.Server on a loopback listener.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// grace is how long Stop waits for in-flight requests before closing connections.
const grace = 2 * time.Second

// Stop shuts srv down; what names the server in the error. Shutdown waits for in-flight
// requests, but it also waits up to five seconds for connections a client pool opened and never
// used (net/http treats them as busy until then). Those carry nothing, so after a short grace
// they are simply closed. A nil srv (never started) is fine.
func Stop(srv *http.Server, what string) error {
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if serr := srv.Shutdown(ctx); serr != nil {
		if cerr := srv.Close(); cerr != nil {
			return fmt.Errorf("shut down %s: %w", what, errors.Join(serr, cerr))
		}
	}
	return nil
}

// Listen listens on addr, which must be a loopback host and port such as "127.0.0.1:0" (a port
// of 0 picks a free one; "" means "127.0.0.1:0"): the test servers never listen beyond this
// machine.
func Listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("parse listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("listen address %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}
