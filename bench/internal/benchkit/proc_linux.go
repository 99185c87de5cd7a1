package benchkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// ProcCPU reads a process's user+system CPU time from /proc/<pid>/stat.
func ProcCPU(pid int) (time.Duration, error) {
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

// SelfCPU is the user+system CPU time of this process.
func SelfCPU() time.Duration { return rusageCPU(syscall.RUSAGE_SELF) }

// ChildrenCPU is the user+system CPU time of this process's finished, waited-for descendants.
func ChildrenCPU() time.Duration { return rusageCPU(syscall.RUSAGE_CHILDREN) }

func rusageCPU(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return CPUOf(&ru)
}

// CPUOf is the user+system CPU time in ru; 0 for nil.
func CPUOf(ru *syscall.Rusage) time.Duration {
	if ru == nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Result is what Run measured of one command.
type Result struct {
	// Wall is the time from starting the command to its exit.
	Wall time.Duration
	// Rusage is the command's resource usage (CPU times, Maxrss); nil if it did not start.
	Rusage *syscall.Rusage
	// Stderr is everything the command wrote to standard error.
	Stderr string
	// PeakRSS is the highest VmHWM (bytes) seen in /proc/<pid>/status, read every
	// PeakPollEvery while the command ran. rusage's Maxrss cannot be used for this on Linux: at
	// exec the kernel carries the high-water mark of the address space being left into the new
	// program, and Go starts children with vfork semantics, so a child's Maxrss is never below
	// the peak RSS this test process had reached when it started the child (golang/go#32054).
	PeakRSS int64
	// ParentPeak is this process's VmHWM when the command started: the floor under
	// Rusage.Maxrss.
	ParentPeak int64
}

// CPU is the command's user+system CPU time.
func (r Result) CPU() time.Duration { return CPUOf(r.Rusage) }

// MaxRSS is rusage's Maxrss in bytes (Linux reports KiB); see PeakRSS for why it overstates.
func (r Result) MaxRSS() int64 {
	if r.Rusage == nil {
		return 0
	}
	return r.Rusage.Maxrss * 1024
}

// PeakPollEvery is how often Run samples the command's VmHWM. The high-water mark only grows,
// so a sample can miss only what the command adds in its last interval.
const PeakPollEvery = 10 * time.Millisecond

// Run runs a command to completion in dir with the environment env, stdout into the file
// stdoutPath and stderr kept, and measures it. A non-zero exit is an error quoting the end of
// stderr.
func Run(ctx context.Context, dir string, env []string, stdoutPath string, name string, args ...string) (Result, error) {
	var res Result
	out, err := os.Create(stdoutPath)
	if err != nil {
		return res, err
	}
	defer out.Close()
	var eb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, out, &eb
	res.ParentPeak = ProcStatusBytes("self", "VmHWM")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	// Start returns after the child has exec'd, so its status describes the new program.
	status := fmt.Sprint(cmd.Process.Pid)
	stop, polled := make(chan struct{}), make(chan int64)
	go func() {
		var peak int64
		t := time.NewTicker(PeakPollEvery)
		defer t.Stop()
		for {
			peak = max(peak, ProcStatusBytes(status, "VmHWM"))
			select {
			case <-stop:
				polled <- peak
				return
			case <-t.C:
			}
		}
	}()
	err = cmd.Wait()
	res.Wall = time.Since(start)
	close(stop)
	res.PeakRSS = <-polled
	if cmd.ProcessState != nil {
		res.Rusage, _ = cmd.ProcessState.SysUsage().(*syscall.Rusage)
	}
	res.Stderr = eb.String()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args[:min(2, len(args))], " "), err, LastLines(eb.Bytes(), 15))
	}
	return res, err
}

// ProcStatusBytes reads a "kB" field such as VmHWM from /proc/<pid>/status (pid may be
// "self"); 0 when the process is gone or the field is missing.
func ProcStatusBytes(pid, field string) int64 {
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

// LoadAvg is the 1, 5 and 15 minute load average of /proc/loadavg, as `uptime` shows it, or
// "unknown".
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// Discover times `secretshift discover -f corpus -o json --fingerprint-key hmacKey` (the
// binary secretshift) in the folder wd, with only PATH and HOME=wd in its environment and its
// inventory written to wd/inventory.json: reading, decoding and classifying the manifests,
// which migrate does first.
func Discover(ctx context.Context, wd, secretshift, corpus, hmacKey string) (Result, error) {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + wd}
	return Run(ctx, wd, env, filepath.Join(wd, "inventory.json"), secretshift,
		"discover", "-f", corpus, "-o", "json", "--fingerprint-key", hmacKey)
}
