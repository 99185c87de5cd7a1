//go:build linux

package vault

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

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
			return nil, fmt.Errorf("vault-testserver exited before listening (%v): %s", err, firstLines(b, 5))
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
	d, err := procCPU(s.Pid())
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

// procCPU reads a process's user+system CPU time from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after its closing parenthesis are
	// plain: state is field 3, utime field 14, stime field 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// selfCPU is the user+system CPU time of this process.
func selfCPU() time.Duration { return rusageCPU(syscall.RUSAGE_SELF) }

// childrenCPU is the user+system CPU time of this process's finished, waited-for descendants.
func childrenCPU() time.Duration { return rusageCPU(syscall.RUSAGE_CHILDREN) }

func rusageCPU(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return cpuOf(&ru)
}

func cpuOf(ru *syscall.Rusage) time.Duration {
	if ru == nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runResult is what run measured of one command.
type runResult struct {
	wall   time.Duration
	ru     *syscall.Rusage
	stderr string
	// peakRSS is the highest VmHWM (bytes) seen in /proc/<pid>/status, read every
	// peakPollEvery while the command ran. rusage's Maxrss cannot be used for this on Linux: at
	// exec the kernel carries the high-water mark of the address space being left into the new
	// program, and Go starts children with vfork semantics, so a child's Maxrss is never below
	// the peak RSS this test process had reached when it started the child (golang/go#32054).
	peakRSS int64
	// parentPeak is this process's VmHWM when the command started: the floor under ru.Maxrss.
	parentPeak int64
}

// peakPollEvery is how often run samples the command's VmHWM. The high-water mark only grows,
// so a sample can miss only what the command adds in its last interval.
const peakPollEvery = 10 * time.Millisecond

// run runs a command to completion, stdout into a file and stderr kept, and measures it. A
// non-zero exit is an error quoting the end of stderr.
func run(ctx context.Context, dir string, env []string, stdoutPath string, name string, args ...string) (runResult, error) {
	var res runResult
	out, err := os.Create(stdoutPath)
	if err != nil {
		return res, err
	}
	defer out.Close()
	var eb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, out, &eb
	res.parentPeak = procStatusBytes("self", "VmHWM")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	// Start returns after the child has exec'd, so its status describes the new program.
	status := fmt.Sprint(cmd.Process.Pid)
	stop, polled := make(chan struct{}), make(chan int64)
	go func() {
		var peak int64
		t := time.NewTicker(peakPollEvery)
		defer t.Stop()
		for {
			peak = max(peak, procStatusBytes(status, "VmHWM"))
			select {
			case <-stop:
				polled <- peak
				return
			case <-t.C:
			}
		}
	}()
	err = cmd.Wait()
	res.wall = time.Since(start)
	close(stop)
	res.peakRSS = <-polled
	if cmd.ProcessState != nil {
		res.ru, _ = cmd.ProcessState.SysUsage().(*syscall.Rusage)
	}
	res.stderr = eb.String()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args[:min(2, len(args))], " "), err, lastLines(eb.Bytes(), 15))
	}
	return res, err
}

// procStatusBytes reads a "kB" field such as VmHWM from /proc/<pid>/status; 0 when the process
// is gone or the field is missing.
func procStatusBytes(pid, field string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
