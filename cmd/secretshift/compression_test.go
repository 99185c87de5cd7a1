package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretshift/secretshift/kube"
)

// --disable-compression (and disable-compression in the kubeconfig) stop client-go asking the
// API server for gzip, as kubectl's flag does; by default it asks. (Over TLS, as clusters are
// served: for plain http client-go uses http.DefaultTransport, which always asks.)
func TestDisableCompression(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Header.Get("Accept-Encoding"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"SecretList","apiVersion":"v1","metadata":{},"items":[]}`)
	}))
	defer srv.Close()
	kubeconfig := func(extra string) string {
		path := filepath.Join(t.TempDir(), "kubeconfig")
		body := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true%s}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, srv.URL, extra)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name       string
		kubeconfig string
		flag       bool
		wantGzip   bool
	}{
		{"default", kubeconfig(""), false, true},
		{"flag", kubeconfig(""), true, false},
		{"kubeconfig", kubeconfig(", disable-compression: true"), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &factory{Kubeconfig: tc.kubeconfig, NoCompression: tc.flag}
			cfg, err := f.restConfig()
			if err != nil {
				t.Fatal(err)
			}
			cs, err := kube.NewClient(cfg, kube.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			asked = nil
			mu.Unlock()
			if _, err := cs.CoreV1().Secrets("").List(context.Background(), metav1.ListOptions{}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(asked) != 1 {
				t.Fatalf("%d requests, want 1", len(asked))
			}
			if got := asked[0] == "gzip"; got != tc.wantGzip {
				t.Errorf("Accept-Encoding %q, want gzip asked for: %v", asked[0], tc.wantGzip)
			}
		})
	}
}
