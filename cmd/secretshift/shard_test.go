package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/templates"
)

// TestShardedRotationCoversEveryEntryOnce runs rotate as 4 processes at once, shards 0/4 to
// 3/4 (one of them from the Indexed Job's variables instead of --shard), over 60 Secrets of
// the test apiserver: every Secret is rotated by exactly one of them, and each shard's audit
// log verifies.
func TestShardedRotationCoversEveryEntryOnce(t *testing.T) {
	k := testenv.RequireKube(t)
	ctx := context.Background()
	cs, err := k.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	const ns, total, shards = "shard-rotate", 60, 4
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteSecrets(t, cs, ns) })
	for i := 0; i < total; i++ {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%02d", i), Namespace: ns}, Data: map[string][]byte{"token": []byte("before")}}
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dir := inTempDir(t)
	if _, _, err := audit.Keygen(""); err != nil { // one set of keys, before the shards start
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "rotation.yaml")
	writeFile(t, pol, strings.Replace(strings.Replace(inClusterPolicy, "%s", ns, 1), "maxAge: 1s", "maxAge: 30d", 1))

	type result struct {
		stdout, stderr string
		err            error
	}
	results := make([]result, shards)
	var wg sync.WaitGroup
	for i := 0; i < shards; i++ {
		args := []string{"rotate", "--policy", pol, "-o", "json", "--kubeconfig", k.Kubeconfig,
			"--audit-log", filepath.Join(dir, fmt.Sprintf("audit-%d.jsonl", i)), "--journal-dir", filepath.Join(dir, fmt.Sprintf("journal-%d", i))}
		cmd := commandProcess(t)
		if i == shards-1 {
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", templates.ShardIndexEnv, i), fmt.Sprintf("%s=%d", templates.ShardCountEnv, shards))
		} else {
			args = append(args, "--shard", fmt.Sprintf("%d/%d", i, shards))
		}
		cmd.Args = append(cmd.Args, args...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cmd.Run()
			results[i] = result{o.String(), e.String(), err}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("shard %d/%d: %v\n%s", i, shards, r.err, r.stderr)
		}
		var rep struct {
			Shard string
			Items []struct {
				Target struct{ Address string }
				Result string
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, r.stdout)
		}
		if rep.Shard != fmt.Sprintf("%d/%d", i, shards) {
			t.Errorf("shard %d: the report says shard %q", i, rep.Shard)
		}
		if len(rep.Items) == 0 || len(rep.Items) > total/2 {
			t.Errorf("shard %d/%d rotated %d of %d", i, shards, len(rep.Items), total)
		}
		for _, it := range rep.Items {
			if it.Result != "rotated" {
				t.Errorf("shard %d: %s %s", i, it.Target.Address, it.Result)
			}
			seen[it.Target.Address]++
		}
		if !strings.Contains(r.stderr, fmt.Sprintf("shard %d/%d: %d of %d entries", i, shards, len(rep.Items), total)) {
			t.Errorf("shard %d does not say what it took:\n%s", i, r.stderr)
		}
		if v := runCLI(t, "", "audit", "verify", "--audit-log", filepath.Join(dir, fmt.Sprintf("audit-%d.jsonl", i))); v.code != 0 {
			t.Errorf("audit verify of shard %d: exit %d\n%s", i, v.code, v.stderr)
		}
	}
	list, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		if s.Type == corev1.SecretTypeServiceAccountToken {
			continue
		}
		a := ns + "/" + s.Name
		if seen[a] != 1 {
			t.Errorf("%s rotated by %d shards", a, seen[a])
		}
		if string(s.Data["token"]) == "before" {
			t.Errorf("%s was not rotated", a)
		}
	}
	if len(seen) != total {
		t.Errorf("%d entries rotated, want %d", len(seen), total)
	}
}

func TestShardFlagAndVariablesAreChecked(t *testing.T) {
	inTempDir(t)
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"index past count": {args: []string{"--shard", "4/4"}},
		"not I/N":          {args: []string{"--shard", "2"}},
		"index, no count":  {env: map[string]string{templates.ShardIndexEnv: "1"}},
		"count, bad index": {env: map[string]string{templates.ShardIndexEnv: "x", templates.ShardCountEnv: "4"}},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, "", append([]string{"rotate", "--policy", "rotation.yaml"}, tc.args...)...)
			if r.code != ExitUsage {
				t.Errorf("exit %d, want %d\n%s", r.code, ExitUsage, r.stderr)
			}
		})
	}
}
