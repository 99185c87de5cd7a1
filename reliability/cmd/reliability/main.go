// Command reliability runs secretshift's reliability suite (package reliability) and writes
// reliability-report.md and reliability-report.json. `make reliability` runs it from the
// module root:
//
//	go run ./reliability/cmd/reliability [-out DIR] [-only fuzz,tamper,crash,disk,faults,checklist]
//
// FUZZTIME (default 2m) is each fuzz target's -fuzztime, FUZZPARALLEL (default 1) its
// -parallel. CRASH_TRIALS (default 20) is the number of crash trials per store, CRASH_SECRETS
// (default 2000) the Secrets of each, CRASH_SEED (default: the clock) their seed;
// TAMPER_CLI_PER_KIND (default 30; 0 for all) how many tamper cases of each kind also run
// through `secretshift audit verify` (the library verifies every case);
// SECRETSHIFT_TOOLS_BIN (default .tools/bin) holds vault-testserver (crash and faults
// sections) and sops. The disk section mounts tmpfs folders in a private mount namespace: it
// needs root and unshare(1), and fails without them. The exit status is 0 when every section passed, 1 otherwise.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/secretshift/secretshift/reliability"
)

func main() { os.Exit(run()) }

func run() int {
	out := flag.String("out", ".", "folder for reliability-report.md and reliability-report.json")
	only := flag.String("only", "", "comma-separated sections to run (fuzz, tamper, crash, disk, faults, checklist); default all")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	fuzzTime := envOr("FUZZTIME", "2m")
	parallel, err := strconv.Atoi(envOr("FUZZPARALLEL", "1"))
	if err != nil || parallel < 1 {
		fmt.Fprintln(os.Stderr, "reliability: FUZZPARALLEL must be a positive number")
		return 1
	}
	tamperCLI, err := strconv.Atoi(envOr("TAMPER_CLI_PER_KIND", "30"))
	if err != nil || tamperCLI < 0 {
		fmt.Fprintln(os.Stderr, "reliability: TAMPER_CLI_PER_KIND must be 0 (every case) or a positive number")
		return 1
	}
	want := func(name string) bool {
		if *only == "" {
			return true
		}
		for _, s := range strings.Split(*only, ",") {
			if strings.TrimSpace(s) == name {
				return true
			}
		}
		return false
	}
	scratch, err := os.MkdirTemp("", "secretshift-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	defer os.RemoveAll(scratch)

	rep := &reliability.Report{Started: time.Now(), Commit: commit(root), GoVersion: runtime.Version(), Pass: true}
	if want("fuzz") {
		fmt.Fprintf(os.Stderr, "fuzz: %d targets, %s each\n", len(reliability.FuzzTargets), fuzzTime)
		rep.Sections = append(rep.Sections, reliability.FuzzSection(ctx, root, fuzzTime, parallel, reliability.FuzzTargets))
	}
	// The sections that run the secretshift binary share one build.
	bin := filepath.Join(scratch, "secretshift")
	var buildErr error
	built := false
	build := func() error {
		if !built {
			built = true
			fmt.Fprintln(os.Stderr, "building secretshift")
			cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/secretshift")
			cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
			buildErr = cmd.Run()
		}
		return buildErr
	}
	if want("tamper") {
		fmt.Fprintln(os.Stderr, "tamper: full matrix")
		if err := build(); err != nil {
			rep.Sections = append(rep.Sections, reliability.Section{Name: "tamper", Title: "Audit log tamper matrix", Ran: "not run: go build ./cmd/secretshift failed: " + err.Error()})
		} else {
			rep.Sections = append(rep.Sections, reliability.TamperSection(bin, filepath.Join(root, "testdata", "demo"), scratch, tamperCLI))
		}
	}
	if want("crash") {
		o, err := crashOptions(root)
		switch {
		case err != nil:
			fmt.Fprintln(os.Stderr, "reliability:", err)
			return 1
		case build() != nil:
			rep.Sections = append(rep.Sections, reliability.Section{Name: "crash", Title: "Crash trials", Ran: "not run: go build ./cmd/secretshift failed: " + buildErr.Error()})
		default:
			rep.Sections = append(rep.Sections, reliability.CrashSection(bin, scratch, o))
		}
	}
	if want("disk") {
		if err := build(); err != nil {
			rep.Sections = append(rep.Sections, reliability.Section{Name: "disk", Title: "Disk faults", Ran: "not run: go build ./cmd/secretshift failed: " + err.Error()})
		} else {
			rep.Sections = append(rep.Sections, reliability.DiskSection(bin, scratch))
		}
	}
	if want("faults") {
		if err := build(); err != nil {
			rep.Sections = append(rep.Sections, reliability.Section{Name: "faults", Title: "Network faults (Vault through a fault proxy)", Ran: "not run: go build ./cmd/secretshift failed: " + err.Error()})
		} else {
			rep.Sections = append(rep.Sections, reliability.FaultSection(bin, scratch, envOr("SECRETSHIFT_TOOLS_BIN", filepath.Join(root, ".tools", "bin"))))
		}
	}
	if want("checklist") {
		fmt.Fprintf(os.Stderr, "checklist: the tests of %d rows\n", len(reliability.Checklist))
		rep.Sections = append(rep.Sections, reliability.ChecklistSection(ctx, root, reliability.Checklist))
	}
	for _, s := range rep.Sections {
		rep.Pass = rep.Pass && s.Pass
		fmt.Fprintf(os.Stderr, "%s: %d cases, %d passed, %d failed, pass=%v (%.0fs)\n", s.Name, s.Cases, s.Passed, s.Failed, s.Pass, s.Seconds)
	}
	rep.Finished = time.Now()
	if err := rep.Write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "reliability: write report:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", filepath.Join(*out, "reliability-report.md"), filepath.Join(*out, "reliability-report.json"))
	if !rep.Pass {
		return 1
	}
	return 0
}

// crashOptions reads CRASH_TRIALS, CRASH_SECRETS, CRASH_SEED and SECRETSHIFT_TOOLS_BIN.
func crashOptions(root string) (reliability.CrashOptions, error) {
	o := reliability.CrashOptions{Tools: envOr("SECRETSHIFT_TOOLS_BIN", filepath.Join(root, ".tools", "bin")), Seed: uint64(time.Now().UnixNano())}
	var err error
	if o.Trials, err = strconv.Atoi(envOr("CRASH_TRIALS", "20")); err != nil || o.Trials < 1 {
		return o, fmt.Errorf("CRASH_TRIALS must be a positive number")
	}
	if o.Secrets, err = strconv.Atoi(envOr("CRASH_SECRETS", "2000")); err != nil || o.Secrets < 10 {
		return o, fmt.Errorf("CRASH_SECRETS must be a number of Secrets, at least 10")
	}
	if v := os.Getenv("CRASH_SEED"); v != "" {
		if o.Seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			return o, fmt.Errorf("CRASH_SEED must be a non-negative number")
		}
	}
	return o, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// moduleRoot is the folder of the main module's go.mod.
func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run from inside the secretshift module")
	}
	return filepath.Dir(mod), nil
}

func commit(root string) string {
	head, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(head))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain").Output(); err == nil && len(st) > 0 {
		c += "+dirty"
	}
	return c
}
