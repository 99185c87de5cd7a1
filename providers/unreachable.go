package providers

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"syscall"

	"golang.org/x/net/http2"
)

// Unreachable marks err as ErrBusy when it is a request that never reached the store (the
// connection refused, the host not found) after the adapter's own retries: every other request
// would fail the same way, so the engine stops the run at once, saying what was done, instead of
// trying each remaining Secret in turn; running the same command again once the store answers
// finishes it. Any other error is returned as it is. store names the store in the message.
func Unreachable(store string, err error) error {
	var op *net.OpError
	if err == nil || !errors.As(err, &op) || op.Op != "dial" {
		return err
	}
	return &unreachableError{store: store, err: err}
}

type unreachableError struct {
	store string
	err   error
}

func (e *unreachableError) Error() string   { return e.store + " unreachable: " + e.err.Error() }
func (e *unreachableError) Unwrap() []error { return []error{ErrBusy, e.err} }

// NoAnswer reports whether err is a request that got no answer from the store: the connection
// refused, reset or closed, the HTTP/2 stream reset, the answer cut short, a timeout. A
// certificate the client does not trust is not one: it answers the same way every time.
func NoAnswer(err error) bool {
	if err == nil {
		return false
	}
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify) {
		return false
	}
	var ne net.Error
	var ue *url.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.As(err, &ue) ||
		(errors.As(err, &ne) && ne.Timeout()) || errors.As(err, new(http2.StreamError))
}
