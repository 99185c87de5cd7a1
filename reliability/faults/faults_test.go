package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secretshift/secretshift/internal/testenv"
)

// TestFaultCases runs every case on 100 Secrets, the stall shortened to 2s and one retry
// per request. It fails when a
// run loses a Secret, writes one twice, hangs, panics, leaks a canary value, stops without
// saying what was done and that a re-run resumes, or cannot be completed by a re-run; and
// when it cannot run at all (vault-testserver missing): integration tests never skip.
func TestFaultCases(t *testing.T) {
	if testing.Short() {
		t.Skip("fault cases build secretshift and run vault-testserver; skipped with -short")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tools := os.Getenv("SECRETSHIFT_TOOLS_BIN")
	if tools == "" {
		tools = filepath.Join(root, ".tools", "bin")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "secretshift")
	build := exec.Command("go", "build", "-o", bin, "./cmd/secretshift")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/secretshift: %v\n%s", err, out)
	}
	// A fixed seed keeps `make test` repeatable; `make reliability` draws a new one each run.
	seed := uint64(20261207)
	if v := os.Getenv("FAULTS_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d", seed)
	// One retry instead of the default: with the server gone every remaining Secret waits out
	// its retries, which would take the test past a minute.
	for store, args := range map[string][]string{Vault: {"--vault-max-retries", "1"}, AzureKV: {"--azure-max-retries", "1"}} {
		t.Run(store, func(t *testing.T) {
			res := Run(Options{Store: store, Bin: bin, Tools: tools, Dir: filepath.Join(dir, store), Secrets: 100, Seed: seed, Stall: 2 * time.Second, Args: args})
			checkCases(t, res)
		})
	}
	// The Secrets read from a kube-apiserver through the proxy, into Vault directly.
	t.Run("cluster", func(t *testing.T) {
		k, err := testenv.StartKube(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer k.Stop()
		ca, err := os.ReadFile(k.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		res := Run(Options{Store: Vault, Cluster: &Cluster{Server: k.Server, CA: ca, Token: k.Token}, Bin: bin, Tools: tools, Dir: filepath.Join(dir, "cluster"),
			Secrets: 100, Seed: seed, Stall: 2 * time.Second, Args: []string{"--vault-max-retries", "1"}})
		checkCases(t, res)
	})
}

func checkCases(t *testing.T, res *Result) {
	t.Helper()
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	t.Logf("calibration: %d requests (%d opening) in %.1fs; bound %.0fs", res.Requests, res.Opening, res.CalibrationSeconds, res.BoundSeconds)
	for _, c := range res.Cases {
		t.Logf("%s: %d requests, injected %v; exit %d %q (%.1fs); re-run exit %d %v; lost %d, duplicates %d, mismatched %d, audit verify %d (%.1fs)",
			c.Name, c.Requests, c.Injected, c.Exit, c.LastErrors, c.FirstSeconds, c.RerunExit, c.RerunCounts, c.Lost, c.Duplicates, c.Mismatched, c.AuditVerifyExit, c.Seconds)
		if !c.Pass {
			t.Errorf("%s: %s", c.Name, strings.Join(c.Problems, "; "))
		}
	}
	if len(res.Cases) != len(Cases) {
		t.Errorf("%d cases ran, want %d", len(res.Cases), len(Cases))
	}
}

// TestProxyFaults: each kind does to the client what its case promises, so a case cannot pass
// because its fault never happened.
func TestProxyFaults(t *testing.T) {
	var hits int
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		_ = json.NewEncoder(w).Encode(map[string]string{"data": strings.Repeat("x", 100)})
	}))
	defer backend.Close()
	kinds := []Kind{Forward, Reset, Throttle, Unavailable, Truncate, Down}
	p, err := NewProxy(backend.URL, func(n int) Action { return Action{Kind: kinds[(n-1)%len(kinds)]} })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	get := func() (*http.Response, []byte, error) {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		resp, err := c.Get(p.Addr + "/v1/x")
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	if resp, _, err := get(); err != nil || resp.StatusCode != 200 {
		t.Fatalf("forward: %v %v", resp, err)
	}
	if _, _, err := get(); err == nil {
		t.Error("reset: the request succeeded")
	}
	if resp, _, err := get(); err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("throttle: %v %v", resp, err)
	}
	if resp, _, err := get(); err != nil || resp.StatusCode != 503 {
		t.Errorf("unavailable: %v %v", resp, err)
	}
	before := hits
	if _, b, err := get(); err == nil || hits != before+1 || bytes.Contains(b, []byte("}")) {
		t.Errorf("truncate: err %v, backend hits %d (want %d), body %q", err, hits, before+1, b)
	}
	if _, _, err := get(); err == nil {
		t.Error("down: the request succeeded")
	}
	if _, _, err := get(); err == nil {
		t.Error("after down: the request succeeded")
	}
	if p.Seen() != 6 {
		t.Errorf("seen %d, want 6 (the listener is closed after down)", p.Seen())
	}
}
