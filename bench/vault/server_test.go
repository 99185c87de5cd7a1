//go:build linux

package vault

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/secretshift/secretshift/bench/internal/benchkit"
)

// vaultServer is a vault-testserver process on 127.0.0.1 with its request log in a file.
type vaultServer struct {
	Addr  string
	Token string

	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan error

	stopOnce sync.Once
	stopRU   *syscall.Rusage
	stopErr  error
}

// startVaultServer starts bin on a free loopback port with request logging on (-log), and
// waits until it listens.
func startVaultServer(bin, dir, token string) (*vaultServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &vaultServer{Token: token, logPath: filepath.Join(dir, "vault-requests.log"), done: make(chan error, 1)}
	f, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	s.logFile = f
	s.cmd = exec.Command(bin, "-addr", "127.0.0.1:0", "-root-token", token, "-log")
	s.cmd.Stdout, s.cmd.Stderr = f, f
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if err := s.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.done <- s.cmd.Wait() }()

	deadline := time.Now().Add(20 * time.Second)
	for s.Addr == "" {
		b, _ := os.ReadFile(s.logPath)
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "VAULT_ADDR="); ok {
				s.Addr = v
			}
		}
		if s.Addr != "" {
			break
		}
		select {
		case err := <-s.done:
			s.done <- err
			f.Close()
			return nil, fmt.Errorf("vault-testserver exited before listening (%v): %s", err, benchkit.FirstLines(b, 5))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_, _ = s.Stop()
			return nil, errors.New("vault-testserver did not report its address within 20s")
		}
	}
	return s, nil
}

// Pid is the server's process id.
func (s *vaultServer) Pid() int { return s.cmd.Process.Pid }

// CPU returns the user+system CPU time the server process has used so far.
func (s *vaultServer) CPU() time.Duration {
	d, err := benchkit.ProcCPU(s.Pid())
	if err != nil {
		return 0
	}
	return d
}

// LogOffset is the current size of the request log; requests logged after it belong to the
// next phase. The server writes a request's line just after answering it, so callers wait a
// moment after their last request before taking the offset.
func (s *vaultServer) LogOffset() int64 {
	fi, err := s.logFile.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Requests tallies the request log between byte offsets from and to (to < 0: the end).
func (s *vaultServer) Requests(from, to int64) (requestTally, error) {
	f, err := os.Open(s.logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return nil, err
	}
	var r io.Reader = f
	if to >= 0 {
		r = io.LimitReader(f, to-from)
	}
	return tallyRequests(r)
}

// Stop sends SIGTERM to the server (it discards its data on exit) and returns its rusage.
// Later calls return the same.
func (s *vaultServer) Stop() (*syscall.Rusage, error) {
	s.stopOnce.Do(func() {
		defer s.logFile.Close()
		// An error here means the process has exited already; Wait below reports how.
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case s.stopErr = <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			s.stopErr = <-s.done
		}
		s.stopRU, _ = s.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	})
	return s.stopRU, s.stopErr
}

// requestTally counts requests by "METHOD kind status", kind being data, metadata or the path
// for anything outside a KV mount's data/ and metadata/.
type requestTally map[string]int

// tallyRequests reads the vault-testserver request log ("METHOD /v1/path STATUS duration").
func tallyRequests(r io.Reader) (requestTally, error) {
	t := requestTally{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || !strings.HasPrefix(f[1], "/v1/") {
			continue
		}
		t[f[0]+" "+pathKind(strings.TrimPrefix(f[1], "/v1/"))+" "+f[2]]++
	}
	return t, sc.Err()
}

// pathKind reduces a request path to what it touches, without the Secret's name.
func pathKind(p string) string {
	mount, rest, _ := strings.Cut(p, "/")
	switch {
	case mount == "sys" || mount == "auth":
		return p
	case strings.HasPrefix(rest, "data/"):
		return "data"
	case strings.HasPrefix(rest, "metadata/"):
		return "metadata"
	}
	return mount + "/other"
}

// Total is the number of requests.
func (t requestTally) Total() int {
	n := 0
	for _, c := range t {
		n += c
	}
	return n
}

// Writes counts POST, PUT, PATCH and DELETE requests, whatever their answer.
func (t requestTally) Writes() int {
	n := 0
	for k, c := range t {
		switch strings.Fields(k)[0] {
		case "POST", "PUT", "PATCH", "DELETE":
			n += c
		}
	}
	return n
}

// Lines returns "count  METHOD kind status" lines, most frequent first.
func (t requestTally) Lines() []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if t[keys[i]] != t[keys[j]] {
			return t[keys[i]] > t[keys[j]]
		}
		return keys[i] < keys[j]
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%7d  %s", t[k], k)
	}
	return out
}
