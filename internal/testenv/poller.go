package testenv

import (
	"bytes"
	"context"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// SecretPoller GETs Secrets in a tight loop, one goroutine each, while a test hands them from
// one owner to another, and counts the answers a pod starting meanwhile would suffer from: not
// found, or another UID, type or bytes than the Secret as given.
type SecretPoller struct {
	polls, notFound, changed atomic.Int64
	stop                     chan struct{}
	wg                       sync.WaitGroup
}

// StartSecretPoller polls every Secret of secrets (as read from the server: their UIDs are
// compared when set) until Finish.
func StartSecretPoller(t testing.TB, cfg *rest.Config, secrets []*corev1.Secret) *SecretPoller {
	t.Helper()
	// A client of its own, without client-go's rate limit: as tight a loop as the server allows.
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.RateLimiter = -1, nil
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &SecretPoller{stop: make(chan struct{})}
	for _, want := range secrets {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				select {
				case <-p.stop:
					return
				default:
				}
				got, err := cs.CoreV1().Secrets(want.Namespace).Get(context.Background(), want.Name, metav1.GetOptions{})
				p.polls.Add(1)
				switch {
				case apierrors.IsNotFound(err):
					p.notFound.Add(1)
				case err != nil:
					t.Logf("poll %s/%s: %v", want.Namespace, want.Name, err)
					time.Sleep(10 * time.Millisecond)
				case want.UID != "" && got.UID != want.UID || got.Type != want.Type || !maps.EqualFunc(got.Data, want.Data, bytes.Equal):
					p.changed.Add(1)
				}
			}
		}()
	}
	return p
}

// Finish stops polling and returns the counts.
func (p *SecretPoller) Finish() (polls, notFound, changed int64) {
	close(p.stop)
	p.wg.Wait()
	return p.polls.Load(), p.notFound.Load(), p.changed.Load()
}
