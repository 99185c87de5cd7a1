package benchkit

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
)

// VaultServer is a vault-testserver process (internal/cmd/vault-testserver: Vault's KV engine
// served from memory) on 127.0.0.1, with its request log (-log) in a file, so that a benchmark
// can count what a command sent.
type VaultServer struct {
	Addr  string
	Token string
	// IsFolder, when set, tells Requests which metadata paths (below the mount, such as
	// "bench/team-01") are folders: a GET of one is a LIST (see RequestTally).
	IsFolder func(path string) bool

	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan error

	stopOnce sync.Once
	stopRU   *syscall.Rusage
	stopErr  error
}

// StartVaultServer starts bin (a vault-testserver binary) on a free loopback port with the
// root token token and request logging on, its log in dir, and waits until it listens.
func StartVaultServer(bin, dir, token string) (*VaultServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &VaultServer{Token: token, logPath: filepath.Join(dir, "vault-requests.log"), done: make(chan error, 1)}
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
			return nil, fmt.Errorf("vault-testserver exited before listening (%v): %s", err, FirstLines(b, 5))
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
func (s *VaultServer) Pid() int { return s.cmd.Process.Pid }

// CPU returns the user+system CPU time the server process has used so far.
func (s *VaultServer) CPU() time.Duration {
	d, err := ProcCPU(s.Pid())
	if err != nil {
		return 0
	}
	return d
}

// LogOffset is the current size of the request log; requests logged after it belong to the
// next phase. The server writes a request's line just after answering it, so callers wait a
// moment (Settle) after their last request before taking the offset.
func (s *VaultServer) LogOffset() int64 {
	fi, err := s.logFile.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Settle waits for a server's request log to catch up with the requests already answered.
func Settle() { time.Sleep(250 * time.Millisecond) }

// Requests tallies the request log between byte offsets from and to (to < 0: the end).
func (s *VaultServer) Requests(from, to int64) (RequestTally, error) {
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
	return TallyRequests(r, s.IsFolder)
}

// Stop sends SIGTERM to the server (it discards its data on exit) and returns its rusage.
// Later calls return the same.
func (s *VaultServer) Stop() (*syscall.Rusage, error) {
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

// RequestStat is how many requests of one kind the server answered, and the time it spent
// on them (from receiving the request to writing the answer, as its log says).
type RequestStat struct {
	N    int
	Time time.Duration
}

// RequestTally counts requests by "METHOD kind status". kind is data or metadata for a KV
// mount's data/ and metadata/ paths, and the path itself for sys/ and auth/. Vault's client
// sends a LIST as a GET of the folder's path with ?list=true, and the log shows no query: a
// LIST counts as "GET metadata", unless the caller says which paths are folders, and then as
// "GET metadata (LIST)".
type RequestTally map[string]RequestStat

// TallyRequests reads a vault-testserver request log ("METHOD /v1/path STATUS duration").
// isFolder, if not nil, says which metadata paths below the mount are folders.
func TallyRequests(r io.Reader, isFolder func(path string) bool) (RequestTally, error) {
	t := RequestTally{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || !strings.HasPrefix(f[1], "/v1/") {
			continue
		}
		d, _ := time.ParseDuration(f[3])
		p := strings.TrimPrefix(f[1], "/v1/")
		kind := pathKind(p)
		if _, rest, _ := strings.Cut(p, "/"); kind == "metadata" && f[0] == "GET" && isFolder != nil && isFolder(strings.TrimPrefix(rest, "metadata/")) {
			kind = "metadata (LIST)"
		}
		k := f[0] + " " + kind + " " + f[2]
		st := t[k]
		st.N++
		st.Time += d
		t[k] = st
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
func (t RequestTally) Total() int {
	n := 0
	for _, st := range t {
		n += st.N
	}
	return n
}

// Count is the number of requests of the kinds given ("GET data 200", ...).
func (t RequestTally) Count(kinds ...string) int {
	n := 0
	for _, k := range kinds {
		n += t[k].N
	}
	return n
}

// ServerTime is the time the server spent answering all of them.
func (t RequestTally) ServerTime() time.Duration {
	var d time.Duration
	for _, st := range t {
		d += st.Time
	}
	return d
}

// Writes counts POST, PUT, PATCH and DELETE requests, whatever their answer.
func (t RequestTally) Writes() int {
	n := 0
	for k, st := range t {
		switch strings.Fields(k)[0] {
		case "POST", "PUT", "PATCH", "DELETE":
			n += st.N
		}
	}
	return n
}

// Lines returns "count  METHOD kind status  (server mean per request)" lines, most frequent
// first.
func (t RequestTally) Lines() []string {
	keys := t.byCount()
	out := make([]string, len(keys))
	for i, k := range keys {
		st := t[k]
		out[i] = fmt.Sprintf("%7d  %-32s server %s each", st.N, k, PerItem(st.Time, st.N))
	}
	return out
}

// CountLines returns "count  METHOD kind status" lines, most frequent first: Lines without the
// server's time.
func (t RequestTally) CountLines() []string {
	keys := t.byCount()
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%7d  %s", t[k].N, k)
	}
	return out
}

// byCount returns the kinds, most frequent first, then in order.
func (t RequestTally) byCount() []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if t[keys[i]].N != t[keys[j]].N {
			return t[keys[i]].N > t[keys[j]].N
		}
		return keys[i] < keys[j]
	})
	return keys
}
