package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/testenv/vaultapi"
	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/templates"
)

const (
	// shardSecrets is how many Secrets the sharded migrations of manifests move.
	shardSecrets = 2000
	// shards is how many processes share them.
	shards = 4
)

// writeBulkSecrets writes n Secrets, bulk-00/s0000 … spread over 10 namespaces, into one file
// below dir, and returns their refs. Every other one is in flow style, which a shard decodes in
// full to learn its name; the others in plain block style, which the shards that do not own
// them pass over undecoded.
func writeBulkSecrets(t *testing.T, dir string, n int) []string {
	t.Helper()
	var docs, refs []string
	for i := range n {
		ns, name := fmt.Sprintf("bulk-%02d", i%10), fmt.Sprintf("s%04d", i)
		if i%2 == 0 {
			docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\nstringData:\n  user: u%d\n  password: value-%d\n", name, ns, i, i))
		} else {
			docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\nstringData: {user: u%d, password: value-%d}\n", name, ns, i, i))
		}
		refs = append(refs, ns+"/"+name)
	}
	writeFile(t, filepath.Join(dir, "bulk.yaml"), strings.Join(docs, "---\n"))
	return refs
}

// shardRun is one process of a sharded run and what it printed.
type shardRun struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	err            error
}

// startShard starts `secretshift <args> --audit-log audit/audit-I.jsonl` as shard i of n: with
// --shard, or with byEnv from the Indexed Job's variables as a pod gets them.
func startShard(t *testing.T, i, n int, byEnv bool, args ...string) *shardRun {
	t.Helper()
	args = append(args, "--audit-log", filepath.Join("audit", fmt.Sprintf("audit-%d.jsonl", i)))
	r := &shardRun{cmd: commandProcess(t)}
	if byEnv {
		r.cmd.Env = append(r.cmd.Env, fmt.Sprintf("%s=%d", templates.ShardIndexEnv, i), fmt.Sprintf("%s=%d", templates.ShardCountEnv, n))
	} else {
		args = append(args, "--shard", fmt.Sprintf("%d/%d", i, n))
	}
	r.cmd.Args = append(r.cmd.Args, args...)
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// runShards runs n shards of the command at once, the last one shard by the Indexed Job's
// variables, and waits for all of them.
func runShards(t *testing.T, n int, args ...string) []*shardRun {
	t.Helper()
	runs := make([]*shardRun, n)
	for i := range n {
		runs[i] = startShard(t, i, n, i == n-1, args...)
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() { defer wg.Done(); r.err = r.cmd.Wait() }()
	}
	wg.Wait()
	return runs
}

// checkShardReports checks that each shard succeeded, says which shard it was and what it
// took, and that together they created every Secret of refs exactly once.
func checkShardReports(t *testing.T, runs []*shardRun, refs []string) {
	t.Helper()
	took := map[string]int{}
	sum := 0
	for i, r := range runs {
		if r.err != nil {
			t.Fatalf("shard %d/%d: %v\n%s", i, len(runs), r.err, r.stderr.String())
		}
		var rep migrate.Report
		if err := json.Unmarshal(r.stdout.Bytes(), &rep); err != nil {
			t.Fatalf("shard %d: report: %v\n%s", i, err, r.stdout.String())
		}
		if want := fmt.Sprintf("%d/%d", i, len(runs)); rep.Shard != want {
			t.Errorf("shard %d: the report says shard %q, want %q", i, rep.Shard, want)
		}
		m := regexp.MustCompile(fmt.Sprintf(`shard %d/%d: (\d+) of %d Secrets`, i, len(runs), len(refs))).FindStringSubmatch(r.stderr.String())
		if m == nil {
			t.Errorf("shard %d does not say what it took:\n%s", i, r.stderr.String())
		} else if n, _ := strconv.Atoi(m[1]); n != len(rep.Items) {
			t.Errorf("shard %d says it took %d, its report holds %d", i, n, len(rep.Items))
		}
		sum += len(rep.Items)
		for _, it := range rep.Items {
			if it.Result != migrate.ResultCreated && it.Result != migrate.ResultDone && it.Result != migrate.ResultUnchanged {
				t.Errorf("shard %d: %s/%s %s: %s", i, it.Namespace, it.Name, it.Result, it.Error)
			}
			took[it.Namespace+"/"+it.Name]++
		}
	}
	for _, ref := range refs {
		if took[ref] != 1 {
			t.Errorf("%s is in %d shards' reports", ref, took[ref])
		}
	}
	if sum != len(refs) {
		t.Errorf("the shards took %d Secrets together, want %d", sum, len(refs))
	}
}

// checkVersionOne checks that Vault holds every Secret of refs at version 1, with the
// password of writeBulkSecrets (or of the cluster test) and one version only.
func checkVersionOne(t *testing.T, c *api.Client, refs []string, password func(ref string) string) {
	t.Helper()
	kv := c.KVv2("secret")
	bad := 0
	for _, ref := range refs {
		md, err := kv.GetMetadata(context.Background(), ref)
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			bad++
		} else if md.CurrentVersion != 1 || len(md.Versions) != 1 {
			t.Errorf("%s: current version %d, %d versions; want exactly one", ref, md.CurrentVersion, len(md.Versions))
			bad++
		}
		if bad > 10 {
			t.Fatal("too many wrong entries")
		}
	}
	for _, ref := range refs[:min(len(refs), 50)] { // a sample, value by value
		s, err := kv.Get(context.Background(), ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if s.Data["password"] != password(ref) {
			t.Errorf("%s: Vault holds another password", ref)
		}
	}
}

// bulkPassword is the password writeBulkSecrets gives ref.
func bulkPassword(ref string) string {
	_, name, _ := strings.Cut(ref, "/")
	i, _ := strconv.Atoi(strings.TrimPrefix(name, "s"))
	return fmt.Sprintf("value-%d", i)
}

// copyLogs copies the audit logs (and head files) of dir whose shard index is in keep into a
// new folder, and returns it.
func copyLogs(t *testing.T, dir string, keep ...int) string {
	t.Helper()
	out := t.TempDir()
	for _, i := range keep {
		for _, name := range []string{fmt.Sprintf("audit-%d.jsonl", i), fmt.Sprintf("audit-%d.jsonl.head", i)} {
			writeFile(t, filepath.Join(out, name), string(readFile(t, filepath.Join(dir, name))))
		}
	}
	return out
}

// TestShardedMigrateToVault runs migrate as 4 processes at once, shards 0/4 … 3/4 (the last
// from the Indexed Job's variables), over 2,000 Secrets of manifest files into the Vault test
// server, the shards sharing one journal folder: every Secret is written exactly once (version
// 1 of each, none missing), and the four audit logs verify as a set — which fails, clearly, for
// a set missing a shard or with an edited log.
func TestShardedMigrateToVault(t *testing.T) {
	v := startVault(t)
	dir := inTempDir(t)
	refs := writeBulkSecrets(t, "in", shardSecrets)
	if _, _, err := audit.Keygen(""); err != nil { // one set of keys, before the shards start
		t.Fatal(err)
	}
	runs := runShards(t, shards, "migrate", "--to", "vault", "-f", "in", "--concurrency", "8", "--journal-dir", "journal", "-o", "json")
	checkShardReports(t, runs, refs)
	checkVersionOne(t, v.client, refs, bulkPassword)
	if st := v.srv.Stats(); st.AppliedWrites > 2*shardSecrets {
		t.Errorf("%d writes applied for %d Secrets (metadata and data once each at most)", st.AppliedWrites, shardSecrets)
	}
	journals, _ := filepath.Glob(filepath.Join("journal", "*.jsonl"))
	if len(journals) != shards {
		t.Errorf("%d journals in the shared journal folder, want one per shard: %v", len(journals), journals)
	}

	auditDir := filepath.Join(dir, "audit")
	r := runCLI(t, "", "audit", "verify", auditDir)
	if r.code != ExitOK || !strings.Contains(r.stdout, "shards: OK: every shard of 4 is in exactly one log") ||
		!strings.Contains(r.stdout, fmt.Sprintf("%d Secrets written", shardSecrets)) || !strings.Contains(r.stdout, "total: 4 logs") {
		t.Fatalf("audit verify of the four logs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i := range shards {
		if want := fmt.Sprintf("audit-%d.jsonl (shard %d/4): OK", i, i); !strings.Contains(r.stdout, want) {
			t.Errorf("audit verify does not say %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, "", "audit", "verify", filepath.Join(auditDir, "audit-*.jsonl"), "-o", "json")
	var set audit.SetReport
	if err := json.Unmarshal([]byte(r.stdout), &set); err != nil || r.code != ExitOK || set.Shards == nil || !set.Shards.OK || set.Shards.Count != shards {
		t.Errorf("audit verify GLOB -o json: exit %d, %v\n%s", r.code, err, r.stdout)
	}

	t.Run("a shard missing", func(t *testing.T) {
		r := runCLI(t, "", "audit", "verify", copyLogs(t, auditDir, 0, 1, 3))
		if r.code != ExitVerify || !strings.Contains(r.stdout, "shards: FAILED: shard 2/4 is missing") || !strings.Contains(r.stderr, "not one whole sharded run") {
			t.Errorf("exit %d, want %d and shard 2/4 named missing\n%s%s", r.code, ExitVerify, r.stdout, r.stderr)
		}
	})
	t.Run("a shard given twice", func(t *testing.T) {
		d := copyLogs(t, auditDir, 0, 1, 2, 3)
		r := runCLI(t, "", "audit", "verify", d, filepath.Join(auditDir, "audit-1.jsonl"))
		if r.code != ExitVerify || !strings.Contains(r.stdout, "shard 1/4 is in two logs") {
			t.Errorf("exit %d, want %d and shard 1/4 in two logs\n%s%s", r.code, ExitVerify, r.stdout, r.stderr)
		}
	})
	t.Run("an edited log", func(t *testing.T) {
		d := copyLogs(t, auditDir, 0, 1, 2, 3)
		p := filepath.Join(d, "audit-1.jsonl")
		b := readFile(t, p)
		edited := bytes.Replace(b, []byte(`"outcome":"success"`), []byte(`"outcome":"failure"`), 1)
		if bytes.Equal(b, edited) {
			t.Fatal("nothing to edit")
		}
		writeFile(t, p, string(edited))
		r := runCLI(t, "", "audit", "verify", d)
		if r.code != ExitVerify || !strings.Contains(r.stdout, "audit-1.jsonl (shard 1/4): FAILED: line") || !strings.Contains(r.stdout, "FAILED: 1 of them did not verify") {
			t.Errorf("exit %d, want %d and audit-1.jsonl failed\n%s%s", r.code, ExitVerify, r.stdout, r.stderr)
		}
	})
	t.Run("export merged in time order", func(t *testing.T) {
		r := runCLI(t, "", "audit", "export", auditDir)
		if r.code != ExitOK {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		total := 0
		for _, l := range set.Logs {
			total += l.Report.Records
		}
		if len(lines) != total {
			t.Errorf("%d lines exported, the logs hold %d records", len(lines), total)
		}
		last := ""
		for _, l := range lines {
			var rec struct{ Time string }
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Time < last {
				t.Fatalf("record of %s after one of %s", rec.Time, last)
			}
			last = rec.Time
		}
	})
}

// TestShardKilledMidRunResumes kills one of 4 shards migrating 2,000 Secrets with SIGKILL in
// the middle of its run and runs it again: its part is completed, nothing is lost and no entry
// gets a second version, and the four logs verify as a set.
func TestShardKilledMidRunResumes(t *testing.T) {
	v := startVault(t)
	dir := inTempDir(t)
	refs := writeBulkSecrets(t, "in", shardSecrets)
	if _, _, err := audit.Keygen(""); err != nil {
		t.Fatal(err)
	}
	// Slow the data writes down so the kill lands mid-run.
	v.srv.SetFaults(func(r *http.Request) *vaultapi.Fault {
		if strings.Contains(r.URL.Path, "/data/") && r.Method != http.MethodGet {
			return &vaultapi.Fault{Delay: 5 * time.Millisecond}
		}
		return nil
	})
	args := []string{"migrate", "--to", "vault", "-f", "in", "--concurrency", "4", "-o", "json"}
	const victim = 2
	runs := make([]*shardRun, shards)
	for i := range shards {
		runs[i] = startShard(t, i, shards, false, append(args, "--journal-dir", fmt.Sprintf("journal-%d", i))...)
	}
	victimLog := filepath.Join("audit", fmt.Sprintf("audit-%d.jsonl", victim))
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(victimLog)
		if bytes.Count(b, []byte(`"action":"migrate.write","outcome":"success"`)) >= 100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	runs[victim].cmd.Process.Signal(syscall.SIGKILL)
	for i, r := range runs {
		r.err = r.cmd.Wait()
		if i != victim && r.err != nil {
			t.Fatalf("shard %d: %v\n%s", i, r.err, r.stderr.String())
		}
	}
	if runs[victim].err == nil {
		t.Fatal("the shard finished before it was killed")
	}
	v.srv.SetFaults(nil)

	again := startShard(t, victim, shards, false, append(args, "--journal-dir", fmt.Sprintf("journal-%d", victim))...)
	again.err = again.cmd.Wait()
	runs[victim] = again
	checkShardReports(t, runs, refs)
	var rep migrate.Report
	if err := json.Unmarshal(again.stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Counts[migrate.ResultCreated] == 0 || rep.Counts[migrate.ResultCreated] == len(rep.Items) {
		t.Errorf("the re-run should find part of its shard done and create the rest: %v", rep.Counts)
	}
	checkVersionOne(t, v.client, refs, bulkPassword)
	r := runCLI(t, "", "audit", "verify", filepath.Join(dir, "audit"))
	if r.code != ExitOK || !strings.Contains(r.stdout, "shards: OK") {
		t.Fatalf("audit verify after the kill and re-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestShardedMigrateFromCluster runs migrate as 4 processes at once over the Secrets of a
// namespace of the test apiserver into the Vault test server: every Secret is written exactly
// once, discover's shards list each Secret once, and the logs verify as a set.
func TestShardedMigrateFromCluster(t *testing.T) {
	k, v, cs := clusterAndVault(t)
	ctx := context.Background()
	const ns, total = "shard-migrate", 120
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteSecrets(t, cs, ns) })
	var refs []string
	for i := range total {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c%03d", i), Namespace: ns, Labels: map[string]string{"shard-test": "yes"}}, StringData: map[string]string{"password": fmt.Sprintf("cluster-%d", i)}}
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ns+"/"+s.Name)
	}
	dir := inTempDir(t)
	if _, _, err := audit.Keygen(""); err != nil {
		t.Fatal(err)
	}

	listed := map[string]int{}
	for i := range shards {
		r := runCLI(t, "", "discover", "--kubeconfig", k.Kubeconfig, "-n", ns, "-l", "shard-test=yes", "--shard", fmt.Sprintf("%d/%d", i, shards), "-o", "json")
		var inv struct {
			Source  struct{ Shard string }
			Items   []struct{ Namespace, Name string }
			Summary struct{ Secrets, InOtherShards int }
		}
		if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &inv) != nil {
			t.Fatalf("discover --shard %d/%d: exit %d\n%s", i, shards, r.code, r.stderr)
		}
		if inv.Source.Shard != fmt.Sprintf("%d/%d", i, shards) || inv.Summary.Secrets+inv.Summary.InOtherShards != total {
			t.Errorf("discover --shard %d/%d: source %+v, summary %+v", i, shards, inv.Source, inv.Summary)
		}
		for _, it := range inv.Items {
			listed[it.Namespace+"/"+it.Name]++
		}
	}
	for _, ref := range refs {
		if listed[ref] != 1 {
			t.Errorf("discover lists %s in %d shards", ref, listed[ref])
		}
	}

	runs := runShards(t, shards, "migrate", "--to", "vault", "--kubeconfig", k.Kubeconfig, "-n", ns, "-l", "shard-test=yes", "--journal-dir", "journal", "-o", "json")
	checkShardReports(t, runs, refs)
	checkVersionOne(t, v.client, refs, func(ref string) string {
		i, _ := strconv.Atoi(strings.TrimPrefix(ref, ns+"/c"))
		return fmt.Sprintf("cluster-%d", i)
	})
	if r := runCLI(t, "", "audit", "verify", filepath.Join(dir, "audit")); r.code != ExitOK || !strings.Contains(r.stdout, "shards: OK") {
		t.Fatalf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestShardedPlans: a plan made as a shard records it and is applied only as that shard; a
// plan made whole is applied by each shard in part; the journal ids of shards differ even when
// the shards hold nothing.
func TestShardedPlans(t *testing.T) {
	v := startVault(t)
	inTempDir(t)
	refs := writeBulkSecrets(t, "in", 40)
	r := runCLI(t, "", "plan", "--to", "vault", "-f", "in", "--shard", "1/4", "--out", "plan-1.json")
	if r.code != ExitOK {
		t.Fatalf("plan --shard 1/4: exit %d\n%s", r.code, r.stderr)
	}
	saved, err := readPlan("plan-1.json")
	if err != nil {
		t.Fatal(err)
	}
	if saved.Source.Shard != "1/4" || len(saved.Items) == 0 || len(saved.Items) >= len(refs) {
		t.Fatalf("the plan of shard 1/4 records shard %q and holds %d of %d Secrets", saved.Source.Shard, len(saved.Items), len(refs))
	}

	r = runCLI(t, "", "apply", "plan-1.json", "--shard", "2/4")
	if r.code != ExitError || !strings.Contains(r.stderr, "the plan is the plan of shard 1/4, but this process is shard 2/4 (from --shard)") {
		t.Fatalf("apply of shard 1/4's plan as shard 2/4: exit %d\n%s", r.code, r.stderr)
	}
	t.Setenv(templates.ShardIndexEnv, "3")
	t.Setenv(templates.ShardCountEnv, "4")
	r = runCLI(t, "", "apply", "plan-1.json")
	if r.code != ExitError || !strings.Contains(r.stderr, "this process is shard 3/4 (from $JOB_COMPLETION_INDEX/$JOB_COMPLETIONS)") {
		t.Fatalf("apply of shard 1/4's plan in pod 3 of an Indexed Job: exit %d\n%s", r.code, r.stderr)
	}
	if w := v.srv.Stats().Writes; w != 0 {
		t.Fatalf("%d writes from refused plans", w)
	}
	r = runCLI(t, "", "apply", "plan-1.json", "--shard", "1/4", "-o", "json")
	var rep migrate.Report
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &rep) != nil || rep.Shard != "1/4" || rep.Counts[migrate.ResultCreated] != len(saved.Items) {
		t.Fatalf("apply of shard 1/4's plan as shard 1/4: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A plan made whole, applied by each shard in part (the Indexed Job's variables are set).
	os.Unsetenv(templates.ShardIndexEnv)
	os.Unsetenv(templates.ShardCountEnv)
	if r = runCLI(t, "", "plan", "--to", "vault", "-f", "in", "--out", "whole.json"); r.code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	done := len(saved.Items)
	for i := range shards {
		r = runCLI(t, "", "apply", "whole.json", "--shard", fmt.Sprintf("%d/4", i), "-o", "json")
		var rep migrate.Report
		if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &rep) != nil || rep.Shard != fmt.Sprintf("%d/4", i) {
			t.Fatalf("apply whole.json as shard %d/4: exit %d\n%s%s", i, r.code, r.stdout, r.stderr)
		}
		done += rep.Counts[migrate.ResultCreated]
		if i == 1 && rep.Counts[migrate.ResultCreated] != 0 {
			t.Errorf("shard 1/4 created %d again", rep.Counts[migrate.ResultCreated])
		}
	}
	if done != len(refs) {
		t.Errorf("%d Secrets created by the shards, want %d", done, len(refs))
	}
	checkVersionOne(t, v.client, refs, bulkPassword)
}

// TestShardedMigrateRefusesManifests: a shard may not write ESO manifests (each would rewrite
// the folder's kustomization.yaml and store policies with its own Secrets only), and says so
// before it writes anything; the same command without --shard, after the shards, writes them
// for every Secret without writing to the store again.
func TestShardedMigrateRefusesManifests(t *testing.T) {
	v := startVault(t)
	inTempDir(t)
	refs := writeBulkSecrets(t, "in", 20)
	for i := range 2 {
		r := runCLI(t, "", "migrate", "--to", "vault", "-f", "in", "--shard", fmt.Sprintf("%d/2", i), "--manifests", "eso")
		if r.code != ExitUsage || !strings.Contains(r.stderr, "--manifests cannot be used in a sharded run") {
			t.Fatalf("migrate --shard %d/2 --manifests: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	if _, err := os.Stat("eso"); !os.IsNotExist(err) {
		t.Fatalf("a refused sharded run left the manifest folder: %v", err)
	}
	if w := v.srv.Stats().Writes; w != 0 {
		t.Fatalf("%d writes from refused runs", w)
	}
	for i := range 2 {
		if r := runCLI(t, "", "migrate", "--to", "vault", "-f", "in", "--shard", fmt.Sprintf("%d/2", i)); r.code != ExitOK {
			t.Fatalf("migrate --shard %d/2: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	writes := v.srv.Stats().Writes
	if r := runCLI(t, "", "migrate", "--to", "vault", "-f", "in", "--manifests", "eso"); r.code != ExitOK {
		t.Fatalf("migrate --manifests after the shards: exit %d\n%s", r.code, r.stderr)
	}
	if w := v.srv.Stats().Writes; w != writes {
		t.Errorf("the run that wrote the manifests wrote %d times to the store", w-writes)
	}
	es, _ := filepath.Glob(filepath.Join("eso", "*", "*.externalsecret.yaml"))
	if len(es) != len(refs) {
		t.Errorf("%d ExternalSecrets written, want one for each of the %d Secrets", len(es), len(refs))
	}
	kust := string(readFile(t, filepath.Join("eso", "kustomization.yaml")))
	for _, ref := range refs {
		ns, name, _ := strings.Cut(ref, "/")
		if !strings.Contains(kust, ns+"/"+name+".externalsecret.yaml") {
			t.Errorf("kustomization.yaml does not list the ExternalSecret of %s", ref)
		}
	}
}
