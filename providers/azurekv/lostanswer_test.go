package azurekv

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretshift/secretshift/internal/testenv/akv"
)

// loseAnswers sends every request to the vault, and for the first n PUTs (writes of a new
// version) drops the answer after the vault applied the write, as a connection cut on the
// way back does.
type loseAnswers struct {
	next policy.Transporter
	left atomic.Int64
}

func (l *loseAnswers) Do(req *http.Request) (*http.Response, error) {
	resp, err := l.next.Do(req)
	if err == nil && req.Method == http.MethodPut && l.left.Add(-1) >= 0 {
		resp.Body.Close()
		return nil, io.ErrUnexpectedEOF
	}
	return resp, err
}

// A write whose answer is lost after the vault applied it is neither sent again (Key Vault
// would keep a second version of the same value) nor reported as failed: the adapter reads
// the secret and finds its own write there.
func TestWriteWhoseAnswerWasLostIsNotSentAgain(t *testing.T) {
	srv := startAKV(t, akv.Options{})
	lose := &loseAnswers{next: newTransport(srv.CertPool())}
	lose.left.Store(2)
	p := openAKV(t, srv, func(c *Config) {
		c.clientOptions = &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: lose}}
	})
	s := testSecret()
	tg, _ := write(t, p, s, "hmac-sha256:abc")
	c := sdkClient(t, srv)
	for key := range s.Data {
		name := memberName(tg.Address, key)
		if n := versionCount(t, c, name); n != 1 {
			t.Errorf("%s: %d versions after a write whose answer was lost, want 1", name, n)
		}
	}
	if lose.left.Load() >= 0 {
		t.Fatal("no answer was lost: the test proves nothing")
	}
}
