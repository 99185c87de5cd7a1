// Package vaultkv starts vault-testserver processes and reads what they hold over Vault's own
// HTTP API, for the reliability sections that check a store from outside secretshift.
package vaultkv

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Server is a vault-testserver process on 127.0.0.1 (Vault's KV v2 engine served from
// memory); each trial or case starts its own, so that each begins with an empty store.
type Server struct {
	Addr  string
	Token string
	cmd   *exec.Cmd
	done  chan error
}

// Start starts bin on a free loopback port with root token token, its output in dir,
// and waits until it says where it listens.
func Start(bin, dir, token string) (*Server, error) {
	logPath := filepath.Join(dir, "vault-testserver.log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &Server{Token: token, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "-addr", "127.0.0.1:0", "-root-token", token)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "VAULT_ADDR="); ok {
				s.Addr = v
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("vault-testserver exited before listening (%v), see %s", err, logPath)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("vault-testserver did not report its address within 20s")
		}
	}
}

// Stop ends the server (it discards its data on exit).
func (s *Server) Stop() {
	// An error means the process has exited already; the wait below returns at once then.
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Entry is what the store holds for one path: its versions and the latest data.
type Entry struct {
	CurrentVersion int
	Versions       int
	base64Keys     string
	data           map[string]any
}

// ErrNotStored is a path the store holds nothing at.
var ErrNotStored = errors.New("nothing stored")

// Read fetches the metadata and the current data of path (below the secret/ mount) through
// Vault's HTTP API.
func (s *Server) Read(client *http.Client, path string) (*Entry, error) {
	var meta struct {
		Data struct {
			CurrentVersion int               `json:"current_version"`
			CustomMetadata map[string]string `json:"custom_metadata"`
			Versions       map[string]any    `json:"versions"`
		} `json:"data"`
	}
	if err := s.get(client, "/v1/secret/metadata/"+escapePath(path), &meta); err != nil {
		return nil, err
	}
	var data struct {
		Data struct {
			Data map[string]any `json:"data"`
		} `json:"data"`
	}
	if err := s.get(client, "/v1/secret/data/"+escapePath(path), &data); err != nil {
		return nil, err
	}
	return &Entry{CurrentVersion: meta.Data.CurrentVersion, Versions: len(meta.Data.Versions),
		base64Keys: meta.Data.CustomMetadata["secretshift-base64-keys"], data: data.Data.Data}, nil
}

func (s *Server) get(client *http.Client, p string, into any) error {
	req, err := http.NewRequest(http.MethodGet, s.Addr+p, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", s.Token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return ErrNotStored
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("GET %s: HTTP %d", p, resp.StatusCode)
	}
	return json.Unmarshal(b, into)
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// Values are the KV data of e as bytes, decoding the keys the base64 marker names ("*" for
// all), as providers/vault stores them.
func (e *Entry) Values() (map[string][]byte, error) {
	encoded := strings.Split(e.base64Keys, ",")
	out := make(map[string][]byte, len(e.data))
	for k, v := range e.data {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("key %q holds no string", k)
		}
		got := []byte(s)
		if e.base64Keys == "*" || slices.Contains(encoded, k) {
			raw, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("key %q is marked base64 but is not", k)
			}
			got = raw
		}
		out[k] = got
	}
	return out, nil
}

// SameValues says whether the KV data of e are exactly the Secret's values.
func (e *Entry) SameValues(want map[string][]byte) bool {
	got, err := e.Values()
	if err != nil || len(got) != len(want) {
		return false
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok || string(g) != string(v) {
			return false
		}
	}
	return true
}
