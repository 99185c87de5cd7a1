package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/secretshift/secretshift/reliability/crash"
)

// CrashOptions are the crash trials' settings (CRASH_TRIALS, CRASH_SECRETS, CRASH_SEED).
type CrashOptions struct {
	Trials  int
	Secrets int
	Seed    uint64
	// Tools is the folder holding vault-testserver and sops.
	Tools string
}

// CrashSection runs the crash trials (package crash) against Vault, SOPS, Sealed Secrets and
// Azure Key Vault, and of a rotation in Vault.
// bin is the secretshift binary under test, scratch a folder for the trials' working folders.
// Each trial is a case; it passes when the re-run completed and nothing was lost, written
// twice, changed, or left unbalanced in the audit trail.
func CrashSection(bin, scratch string, o CrashOptions) Section {
	start := time.Now()
	s := Section{Name: "crash", Title: "Crash trials", Pass: true,
		Ran: fmt.Sprintf("For Vault (vault-testserver on 127.0.0.1), SOPS files, Sealed Secrets files (sealed offline for a fresh %d-bit controller key and self-signed certificate per run) and Azure Key Vault (the Key Vault test server of internal/testenv/akv on 127.0.0.1 over HTTPS, signed in with a client secret through its token endpoint; per-key layout, --azure-name '%s', --azure-write-rate 0); and rotation (the corpus migrated into Vault uncrashed, then `secretshift rotate --policy` rotating one key of about 8 in 10 entries is the command killed and run again): %d trials each, seed %d. Each trial migrates a fresh corpus of %d Secret manifests (binary values, odd key names) into a fresh store with `secretshift migrate`, SIGKILLs it at a seeded moment uniformly between 5%% and 95%% of an uncrashed calibration run, runs the same command again to completion, then checks: every Secret in the store (lost), one version only (Vault metadata; Key Vault: one version of every key's secret, listed with the azsecrets SDK; SOPS and Sealed Secrets: one migrate.write success record), values byte-exact (Vault: every entry read over HTTP and decoded; Key Vault: every key's secret read with the SDK and decoded as its content type says; Sealed Secrets: every file unsealed with the controller library and the private key; all: `secretshift verify` exit 0, for Sealed Secrets with `--sealed-private-key`), for Sealed Secrets an output folder with no stray (temporary) file and a kustomization.yaml listing exactly the SealedSecret files present, `secretshift audit verify` exit 0, and the audit trail naming every write exactly once as done (migrate.write success, or migrate.verify written_by_earlier_run). Rotation: every rotated entry at version 2 exactly, its rotated key changed, every other key byte-exact, its values those its one rotate.promote success record names (keyed fingerprint), every other entry untouched at version 1 with no promotion on record, and `secretshift audit verify` exit 0.", crash.SealedKeyBits, crash.AzureName, o.Trials, o.Seed, o.Secrets)}
	var md strings.Builder
	var results []*crash.Result
	for _, store := range crash.Stores {
		dir := filepath.Join(scratch, "crash-"+string(store))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			s.Pass = false
			fmt.Fprintf(&md, "\n**error:** %v\n", err)
			continue
		}
		fmt.Fprintf(os.Stderr, "crash: %s, %d trials of %d Secrets\n", store, o.Trials, o.Secrets)
		res := crash.Run(crash.Options{Bin: bin, Tools: o.Tools, Dir: dir, Secrets: o.Secrets, Trials: o.Trials, Seed: o.Seed}, store)
		results = append(results, res)
		s.Cases += o.Trials
		s.Passed += res.Passed
		s.Failed += o.Trials - res.Passed
		if !res.Pass() {
			s.Pass = false
		}
		md.WriteString("\n" + crashMarkdown(res))
		// The trials' folders hold decryptable stores: nothing of them is kept.
		_ = os.RemoveAll(dir)
	}
	s.Markdown = md.String()
	s.Details = results
	s.Seconds = time.Since(start).Seconds()
	return s
}

// crashMarkdown is the table of one store's trials.
func crashMarkdown(r *crash.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s: %d of %d trials passed\n\n", r.Store, r.Passed, len(r.Trials))
	if r.Error != "" {
		fmt.Fprintf(&b, "**error:** %s\n", r.Error)
		return b.String()
	}
	fmt.Fprintf(&b, "%d Secrets per trial; uncrashed calibration run %.2fs.\n\n", r.Secrets, r.CalibrationSeconds)
	b.WriteString("| trial | corpus seed | kill at | killed run left | re-run | lost | duplicates | byte-exact | audit verify | written once in audit | result |\n")
	b.WriteString("|---:|---:|---:|---|---|---:|---:|---|---:|---|---|\n")
	for _, t := range r.Trials {
		killed := fmt.Sprintf("%d journal lines, %d writes recorded", t.JournalLines, t.WritesRecorded)
		if !t.Killed {
			killed = "finished before the kill"
		}
		exact := "yes"
		if t.Mismatched > 0 || t.VerifyExit != 0 {
			exact = fmt.Sprintf("**no** (%d differ, verify exit %d)", t.Mismatched, t.VerifyExit)
		}
		once := fmt.Sprintf("%d of %d", t.AuditOnce, r.Secrets)
		if t.AuditMissing > 0 || t.AuditTwice > 0 {
			once = fmt.Sprintf("**%d of %d** (%d none, %d twice)", t.AuditOnce, r.Secrets, t.AuditMissing, t.AuditTwice)
		}
		res := "pass"
		if !t.Pass {
			res = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %d | %d | %dms (%.0f%%) | %s | exit %d: %s | %d | %d | %s | %d | %s | %s |\n",
			t.N, t.CorpusSeed, t.KillAfterMS, 100*t.KillFraction, killed, t.RerunExit, counts(t.RerunCounts), t.Lost, t.Duplicates, exact, t.AuditVerifyExit, once, res)
	}
	for _, t := range r.Trials {
		for _, p := range t.Problems {
			fmt.Fprintf(&b, "\n- trial %d: %s", t.N, p)
		}
	}
	b.WriteString("\n")
	return b.String()
}

func counts(c map[string]int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", c[k], k)
	}
	return strings.Join(parts, ", ")
}
