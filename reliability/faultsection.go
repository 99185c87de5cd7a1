package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/reliability/faults"
)

// faultSecrets is the size of the fault cases' corpus.
const faultSecrets = 300

// FaultSection runs the network-fault cases (package faults): the secretshift binary bin
// migrates to a vault-testserver from tools through a fault proxy on 127.0.0.1. scratch is a
// folder for the cases' working folders. Each fault is a case; it passes when the faulted run
// finished with everything in Vault once and exact, or stopped with counts and a resume hint,
// and a re-run without the fault completed with no Secret lost or written twice.
func FaultSection(bin, scratch, tools string) Section {
	start := time.Now()
	seed := uint64(time.Now().UnixNano())
	s := Section{Name: "faults", Title: "Network faults (Vault, Azure Key Vault and a kube-apiserver behind a fault proxy)", Pass: true,
		Ran: fmt.Sprintf("`secretshift migrate --to vault|azurekv -f CORPUS --audit-log LOG --journal-dir J -o json` of %d Secret manifests (seed %d; every tenth holds a canary value) into a fresh store per case — a vault-testserver (VAULT_ADDR pointing at a reverse proxy), or the Key Vault test server of internal/testenv/akv (AZURE_KEYVAULT_URL pointing at the proxy, which serves HTTPS with the server's certificate; per-key layout, --azure-write-rate 0) — with the proxy on 127.0.0.1 that faults requests: TCP resets, 429 bursts with Retry-After: 1, 503s, 10 s stalls, truncated answers to forwarded requests, the server gone after half of an unfaulted run's requests. Each case checks: the run either exits 0 with every Secret in the store at version 1 and byte-exact (read from the store directly, not through the proxy; Key Vault: every key's secret through the azsecrets SDK), or exits non-zero with counts and a re-run hint in its last stderr lines; no run outlives a time bound or panics; then the same command with the fault removed (the address at the store) exits 0, every Secret present, byte-exact, none at a version above 1, `secretshift audit verify` exits 0; no canary value, in clear or base64, in any output, the audit log or the journal. Then the same %d Secrets created in a kube-apiserver (with etcd, from `make tools`) and migrated from it with `-A` into Vault (reached directly), the proxy (HTTPS, its own certificate in the run's kubeconfig beside the apiserver's, the admin's bearer token passed on) in front of the apiserver: a migration reads a cluster in a few LISTs, so these cases fault the first LISTs by number (resets, a 429 burst, 503s, a stall, cut answers) or take the apiserver away after the first; the same checks.", faultSecrets, seed, faultSecrets)}
	dir := filepath.Join(scratch, "faults")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.Pass = false
		s.Markdown = fmt.Sprintf("**error:** %v\n", err)
		return s
	}
	defer os.RemoveAll(dir)
	var results []*faults.Result
	var md strings.Builder
	for _, store := range []string{faults.Vault, faults.AzureKV} {
		fmt.Fprintf(os.Stderr, "faults: %s, %d cases of %d Secrets\n", store, len(faults.Cases), faultSecrets)
		res := faults.Run(faults.Options{Store: store, Bin: bin, Tools: tools, Dir: filepath.Join(dir, store), Secrets: faultSecrets, Seed: seed})
		results = append(results, res)
		s.Cases += len(faults.Cases)
		s.Passed += res.Passed
		s.Failed += len(faults.Cases) - res.Passed
		s.Pass = s.Pass && res.Pass()
		fmt.Fprintf(&md, "\n### %s\n\n%s", store, faultMarkdown(res))
	}
	// The Secrets read from a kube-apiserver through the proxy (Vault reached directly).
	fmt.Fprintf(os.Stderr, "faults: kube-apiserver, %d cases of %d Secrets\n", len(faults.ClusterCases), faultSecrets)
	res := clusterFaults(bin, tools, filepath.Join(dir, "cluster"), seed)
	results = append(results, res)
	s.Cases += len(faults.ClusterCases)
	s.Passed += res.Passed
	s.Failed += len(faults.ClusterCases) - res.Passed
	s.Pass = s.Pass && res.Pass()
	fmt.Fprintf(&md, "\n### kube-apiserver (migrate -A from the cluster into Vault)\n\n%s", faultMarkdown(res))
	s.Markdown = md.String()
	s.Details = results
	s.Seconds = time.Since(start).Seconds()
	return s
}

// faultMarkdown is the table of the cases.
func faultMarkdown(r *faults.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d cases passed.\n\n", r.Passed, len(r.Cases))
	if r.Error != "" {
		fmt.Fprintf(&b, "**error:** %s\n", r.Error)
		return b.String()
	}
	fmt.Fprintf(&b, "An unfaulted run of %d Secrets through the proxy made %d requests (the first %d open the connection and are spared by the faults) in %.1fs; stalls last %.0fs; every run is killed after %.0fs.\n\n",
		r.Secrets, r.Requests, r.Opening, r.CalibrationSeconds, r.StallSeconds, r.BoundSeconds)
	b.WriteString("| case | fault | requests | faults injected | first run: exit, last stderr line | re-run | versions > 1 | lost | verdict |\n")
	b.WriteString("|---|---|---:|---|---|---|---:|---:|---|\n")
	for _, c := range r.Cases {
		var inj []string
		for k, v := range c.Injected {
			inj = append(inj, fmt.Sprintf("%d %s", v, k))
		}
		slices.Sort(inj)
		last := ""
		if n := len(c.LastErrors); n > 0 {
			last = c.LastErrors[n-1]
		}
		first := fmt.Sprintf("exit %d in %.1fs: %s", c.Exit, c.FirstSeconds, last)
		rerun := fmt.Sprintf("exit %d: %s; audit verify %d", c.RerunExit, counts(c.RerunCounts), c.AuditVerifyExit)
		verdict := "pass"
		if !c.Pass {
			verdict = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %d | %d | %s |\n",
			c.Name, cell(c.Fault), c.Requests, strings.Join(inj, ", "), cell(first), cell(rerun), c.Duplicates, c.Lost, verdict)
	}
	b.WriteString("\nLast stderr lines of each faulted run (checked for canary values):\n")
	for _, c := range r.Cases {
		fmt.Fprintf(&b, "\n- %s:", c.Name)
		for _, l := range c.LastErrors {
			fmt.Fprintf(&b, "\n  - `%s`", strings.ReplaceAll(l, "`", "'"))
		}
	}
	for _, c := range r.Cases {
		for _, p := range c.Problems {
			fmt.Fprintf(&b, "\n- %s: %s", c.Name, p)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// clusterFaults starts a kube-apiserver (and etcd) from tools and runs the cluster cases
// against it.
func clusterFaults(bin, tools, dir string, seed uint64) *faults.Result {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &faults.Result{Error: err.Error()}
	}
	if os.Getenv(testenv.EnvToolsBin) == "" {
		os.Setenv(testenv.EnvToolsBin, tools)
	}
	k, err := testenv.StartKube(context.Background(), filepath.Join(dir, "kube"))
	if err != nil {
		return &faults.Result{Error: "start kube-apiserver: " + err.Error()}
	}
	defer k.Stop()
	ca, err := os.ReadFile(k.CAFile)
	if err != nil {
		return &faults.Result{Error: err.Error()}
	}
	return faults.Run(faults.Options{Store: faults.Vault, Cluster: &faults.Cluster{Server: k.Server, CA: ca, Token: k.Token},
		Bin: bin, Tools: tools, Dir: filepath.Join(dir, "cases"), Secrets: faultSecrets, Seed: seed})
}
