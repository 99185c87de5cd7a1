package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/templates"
)

// generated is what generate cronjob printed, by kind and namespace/name.
type generated struct {
	roles        map[string][]rbacv1.PolicyRule // namespace -> rules
	clusterRoles [][]rbacv1.PolicyRule
	cronJob      batchv1.CronJob
}

func parseGenerated(t *testing.T, stream string) generated {
	t.Helper()
	g := generated{roles: map[string][]rbacv1.PolicyRule{}}
	for _, doc := range strings.Split(stream, "\n---\n") {
		var head struct {
			Kind     string
			Metadata struct{ Namespace string }
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		switch head.Kind {
		case "Role", "ClusterRole":
			var r rbacv1.Role
			if err := yaml.UnmarshalStrict([]byte(doc), &r); err != nil {
				t.Fatal(err)
			}
			if head.Kind == "Role" {
				g.roles[head.Metadata.Namespace] = r.Rules
			} else {
				g.clusterRoles = append(g.clusterRoles, r.Rules)
			}
		case "CronJob":
			if err := yaml.UnmarshalStrict([]byte(doc), &g.cronJob); err != nil {
				t.Fatal(err)
			}
		}
	}
	return g
}

// ruleSet flattens rules to "group/resource:verb" strings.
func ruleSet(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, g+"/"+res+":"+v)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

var (
	secretRules  = []string{"/secrets:get", "/secrets:list", "/secrets:update"}
	restartRules = []string{"/secrets:get", "/serviceaccounts:list",
		"apps/daemonsets:get", "apps/daemonsets:list", "apps/daemonsets:patch", "apps/deployments:get", "apps/deployments:list", "apps/deployments:patch",
		"apps/statefulsets:get", "apps/statefulsets:list", "apps/statefulsets:patch",
		"external-secrets.io/externalsecrets:list", "external-secrets.io/externalsecrets:patch"}
)

func union(sets ...[]string) []string {
	var out []string
	for _, s := range sets {
		out = append(out, s...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestGenerateCronJobDerivesTheLeastRBACFromThePolicy(t *testing.T) {
	rotation := func(store, match, restart string) string {
		return "- name: r-" + strings.ReplaceAll(strings.ToLower(store+restart), " ", "") + "\n  store: " + store + "\n  match: " + match +
			"\n  keys:\n    token: {generator: bytes, length: 16}\n  maxAge: 30d\n  restart: " + restart + "\n"
	}
	vault := []string{"--vault-addr", "https://vault.example:8200", "--vault-auth", "kubernetes", "--vault-role", "rotator"}
	tests := []struct {
		name      string
		rotations []string
		flags     []string
		roles     map[string][]string // namespace -> rules
		cluster   []string
		token     bool
		args      []string
	}{
		{name: "kubernetes store, namespaces named",
			rotations: []string{rotation("kubernetes", "{namespaces: [shop, web]}", "none")},
			roles:     map[string][]string{"shop": secretRules, "web": secretRules}, token: true},
		{name: "kubernetes store, paths name the namespace, restart consumers",
			rotations: []string{rotation("kubernetes", `{paths: ["shop/db", "shop/api-*"]}`, "consumers")},
			roles:     map[string][]string{"shop": union(secretRules, restartRules)}, token: true},
		{name: "kubernetes store, no namespace named: a ClusterRole",
			rotations: []string{rotation("kubernetes", "{labels: {app: web}}", "none")},
			cluster:   secretRules, token: true},
		{name: "kubernetes store, a path pattern over namespaces: a ClusterRole",
			rotations: []string{rotation("kubernetes", `{paths: ["*/db"]}`, "none")},
			cluster:   secretRules, token: true},
		{name: "vault with kubernetes auth, no restart: no RBAC, the token for vault",
			rotations: []string{rotation("vault", `{paths: ["secret/shop/*"]}`, "none")}, flags: vault,
			token: true, args: []string{"--vault-auth", "kubernetes", "--vault-role", "rotator"}},
		{name: "vault, restart consumers in the namespaces named",
			rotations: []string{rotation("vault", `{paths: ["secret/shop/*"], namespaces: [shop]}`, "consumers"), rotation("kubernetes", "{namespaces: [shop]}", "none")},
			flags:     vault, roles: map[string][]string{"shop": union(secretRules, restartRules)}, token: true},
		{name: "vault with a token from the credentials Secret",
			rotations: []string{rotation("vault", `{paths: ["secret/shop/*"]}`, "none")},
			flags:     []string{"--vault-addr", "https://vault.example:8200", "--credentials-secret", "vault-token"}, token: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := inTempDir(t)
			pol := filepath.Join(dir, "rotation.yaml")
			writeFile(t, pol, "apiVersion: secretshift.io/v1alpha1\nkind: RotationPolicy\nrotations:\n"+strings.Join(tt.rotations, ""))
			r := runCLI(t, "", append([]string{"generate", "cronjob", "--policy", pol, "-n", "ops", "--image", "example.org/secretshift:v1"}, tt.flags...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			g := parseGenerated(t, r.stdout)
			got := map[string][]string{}
			for ns, rules := range g.roles {
				got[ns] = ruleSet(rules)
			}
			if len(got)+len(tt.roles) > 0 && !equalRoles(got, tt.roles) {
				t.Errorf("Roles:\n got %v\nwant %v", got, tt.roles)
			}
			var cluster []string
			for _, rules := range g.clusterRoles {
				cluster = append(cluster, ruleSet(rules)...)
			}
			if !slices.Equal(cluster, tt.cluster) {
				t.Errorf("ClusterRole rules:\n got %v\nwant %v", cluster, tt.cluster)
			}
			spec := g.cronJob.Spec.JobTemplate.Spec.Template.Spec
			if got := spec.AutomountServiceAccountToken != nil && *spec.AutomountServiceAccountToken; got != tt.token {
				t.Errorf("token mounted: %v, want %v", got, tt.token)
			}
			c := spec.Containers[0]
			wantArgs := append([]string{"rotate", "--policy", "/etc/secretshift/rotation.yaml", "--due", "-o", "json"}, tt.args...)
			if !containsInOrder(c.Args, wantArgs) {
				t.Errorf("args %q do not hold %q", c.Args, wantArgs)
			}
			if strings.Contains(r.stdout+r.stderr, "rotator") != slices.Contains(tt.flags, "rotator") {
				t.Errorf("the role is %s", map[bool]string{true: "missing", false: "there"}[slices.Contains(tt.flags, "rotator")])
			}
		})
	}
}

func equalRoles(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// containsInOrder reports whether want appears in args in order (other arguments between).
func containsInOrder(args, want []string) bool {
	i := 0
	for _, a := range args {
		if i < len(want) && a == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestGenerateCronJobPodIsLockedDown(t *testing.T) {
	dir := inTempDir(t)
	pol := filepath.Join(dir, "rotation.yaml")
	writeFile(t, pol, strings.Replace(inClusterPolicy, "%s", "shop", 1))
	r := runCLI(t, "", "generate", "cronjob", "--policy", pol, "--schedule", "0 3 * * *", "--starting-deadline", "5m",
		"--service-account-annotation", "azure.workload.identity/client-id=00000000-0000-0000-0000-000000000000", "--pod-label", "azure.workload.identity/use=true")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	cj := parseGenerated(t, r.stdout).cronJob
	s := cj.Spec
	pod := s.JobTemplate.Spec.Template
	c := pod.Spec.Containers[0]
	checks := map[string]bool{
		"schedule":                    s.Schedule == "0 3 * * *",
		"concurrencyPolicy Forbid":    s.ConcurrencyPolicy == batchv1.ForbidConcurrent,
		"startingDeadlineSeconds 300": s.StartingDeadlineSeconds != nil && *s.StartingDeadlineSeconds == 300,
		"history limits":              s.SuccessfulJobsHistoryLimit != nil && s.FailedJobsHistoryLimit != nil,
		"runAsNonRoot":                pod.Spec.SecurityContext.RunAsNonRoot != nil && *pod.Spec.SecurityContext.RunAsNonRoot,
		"seccomp RuntimeDefault":      pod.Spec.SecurityContext.SeccompProfile != nil && pod.Spec.SecurityContext.SeccompProfile.Type == "RuntimeDefault",
		"read-only root":              *c.SecurityContext.ReadOnlyRootFilesystem,
		"no privilege escalation":     !*c.SecurityContext.AllowPrivilegeEscalation,
		"drop ALL":                    slices.Equal(c.SecurityContext.Capabilities.Drop, []corev1.Capability{"ALL"}),
		"requests and limits":         c.Resources.Requests.Cpu() != nil && !c.Resources.Limits.Memory().IsZero(),
		"workload identity label":     pod.Labels["azure.workload.identity/use"] == "true",
		"image":                       strings.HasPrefix(c.Image, "ghcr.io/secretshift/secretshift:"),
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s: not so in\n%s", what, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "azure.workload.identity/client-id: 00000000-0000-0000-0000-000000000000") {
		t.Error("the ServiceAccount lacks the workload identity annotation")
	}
	// The keys Secret's keys are the files audit keygen writes.
	if templates.HMACKeyFile != audit.HMACKeyFile || templates.SigningKeyFile != audit.SigningKeyFile {
		t.Error("the keys Secret's keys differ from audit keygen's file names")
	}
}

func TestGenerateCronJobRefusesWhatCannotRunInTheCluster(t *testing.T) {
	dir := inTempDir(t)
	pol := filepath.Join(dir, "rotation.yaml")
	writeFile(t, pol, "apiVersion: secretshift.io/v1alpha1\nkind: RotationPolicy\nrotations:\n- name: files\n  store: sops\n  match: {paths: [\"shop/*\"]}\n  keys:\n    token: {generator: bytes, length: 16}\n  maxAge: 30d\n")
	r := runCLI(t, "", "generate", "cronjob", "--policy", pol)
	if r.code != ExitError || !strings.Contains(r.stderr, "the sops store cannot be reached from a scheduled run") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("printed manifests:\n%s", r.stdout)
	}
	r = runCLI(t, "", "generate", "cronjob")
	if r.code != ExitUsage {
		t.Errorf("no --policy: exit %d\n%s", r.code, r.stderr)
	}
}

// --requests and --limits take kubectl set resources' form; a resource not named keeps its
// default, and a request over its limit is refused before anything is printed.
func TestGenerateResources(t *testing.T) {
	dir := inTempDir(t)
	pol := filepath.Join(dir, "rotation.yaml")
	writeFile(t, pol, strings.Replace(inClusterPolicy, "%s", "shop", 1))
	for _, kind := range []string{"cronjob", "job"} {
		r := runCLI(t, "", "generate", kind, "--policy", pol, "--limits", "memory=1Gi,ephemeral-storage=2Gi", "--requests", "cpu=250m")
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", kind, r.code, r.stderr)
		}
		var pod *corev1.PodTemplateSpec
		for _, doc := range strings.Split(r.stdout, "\n---\n") {
			var j batchv1.Job
			var cj batchv1.CronJob
			switch {
			case strings.Contains(doc, "\nkind: Job\n") && yaml.Unmarshal([]byte(doc), &j) == nil:
				pod = &j.Spec.Template
			case strings.Contains(doc, "\nkind: CronJob\n") && yaml.Unmarshal([]byte(doc), &cj) == nil:
				pod = &cj.Spec.JobTemplate.Spec.Template
			}
		}
		if pod == nil || len(pod.Spec.Containers) == 0 {
			t.Fatalf("%s: no Job or CronJob in\n%s", kind, r.stdout)
		}
		res := pod.Spec.Containers[0].Resources
		got := fmt.Sprintf("requests cpu=%s memory=%s, limits cpu=%s memory=%s ephemeral-storage=%s",
			res.Requests.Cpu(), res.Requests.Memory(), res.Limits.Cpu(), res.Limits.Memory(), res.Limits.StorageEphemeral())
		if want := "requests cpu=250m memory=64Mi, limits cpu=1 memory=1Gi ephemeral-storage=2Gi"; got != want {
			t.Errorf("%s: %s, want %s", kind, got, want)
		}
	}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--requests", "memory=512Mi"}, "the memory request 512Mi is more than its limit 256Mi"},
		{[]string{"--limits", "gpu=1"}, "--limits gpu: want cpu, memory or ephemeral-storage"},
		{[]string{"--limits", "memory=lots"}, "--limits memory=lots: want a positive quantity"},
		{[]string{"--requests", "cpu=0"}, "--requests cpu=0: want a positive quantity"},
	} {
		r := runCLI(t, "", append([]string{"generate", "cronjob", "--policy", pol}, c.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, c.says) || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %d bytes, stderr:\n%s\nwant exit %d saying %q", c.args, r.code, len(r.stdout), r.stderr, ExitUsage, c.says)
		}
	}
}

// generate job --migrate-to: its pods run migrate on their shard, with read access to the
// Secrets of the source namespace (or, without one, of every namespace) and nothing else;
// the flags of rotation Jobs are refused with it, and its own without it.
func TestGenerateMigrateJob(t *testing.T) {
	dir := inTempDir(t)
	r := runCLI(t, "", "generate", "job", "--migrate-to", "vault", "--vault-addr", "https://vault:8200", "--credentials-secret", "vault-token", "--source-selector", "tier=db")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	g := parseGenerated(t, r.stdout)
	if len(g.roles) != 0 || len(g.clusterRoles) != 1 {
		t.Fatalf("want one ClusterRole for every namespace, got roles %v, cluster roles %v", g.roles, g.clusterRoles)
	}
	if got, want := strings.Join(ruleSet(g.clusterRoles[0]), " "), strings.Join(ruleSet(kube.ReadRules()), " "); got != want {
		t.Errorf("rules %s, want %s", got, want)
	}
	for _, want := range []string{"- migrate\n", "- -A\n", "- -l\n        - tier=db\n", "name: secretshift-migrate\n", "audit-$(JOB_COMPLETION_INDEX).jsonl"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the Job lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "kind: ConfigMap") || strings.Contains(r.stdout, templates.PolicyDir) {
		t.Error("a migration Job has a policy ConfigMap")
	}
	pol := filepath.Join(dir, "rotation.yaml")
	writeFile(t, pol, strings.Replace(inClusterPolicy, "%s", "shop", 1))
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--migrate-to", "vault", "--policy", pol}, "a --migrate-to Job follows no policy"},
		{[]string{"--migrate-to", "vault", "--due=false"}, "--due is for rotation Jobs"},
		{[]string{"--migrate-to", "nowhere"}, "--migrate-to"},
		{[]string{"--migrate-to", "vault", "--source-namespace", "Not_A_Name"}, "--source-namespace"},
		{[]string{"--migrate-to", "vault", "--source-selector", "a in (b"}, "--source-selector"},
		{[]string{"--policy", pol, "--source-namespace", "shop"}, "choose the Secrets of a --migrate-to Job"},
	} {
		r := runCLI(t, "", append([]string{"generate", "job", "--vault-addr", "https://vault:8200"}, c.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, c.says) || r.stdout != "" {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit %d saying %q", c.args, r.code, r.stderr, ExitUsage, c.says)
		}
	}
}
