package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/kube"
)

// discoverCanary is a value planted in test manifests; no output may contain it.
const discoverCanary = "CANARY-discover-hunter2"

var discoverManifest = `apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
stringData: {password: ` + discoverCanary + `, user: app}
---
apiVersion: v1
kind: Secret
metadata: {name: token, namespace: shop}
type: kubernetes.io/service-account-token
stringData: {token: ` + discoverCanary + `}
---
apiVersion: v1
kind: Secret
metadata: {name: broken, namespace: shop}
data: {key: "` + discoverCanary + `!"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      containers:
      - name: app
        env:
        - {name: P, valueFrom: {secretKeyRef: {name: db, key: password}}}
        - {name: Q, valueFrom: {secretKeyRef: {name: nope, key: k}}}
`

func TestDiscoverFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want discoverOptions
	}{
		{"defaults", nil, discoverOptions{sourceOptions: sourceOptions{QPS: kube.DefaultQPS, Burst: kube.DefaultBurst}}},
		{"repeatable and comma lists", []string{"-f", "a.yaml", "-f", "dir,-", "--type", "Opaque", "--type", "kubernetes.io/tls",
			"--exclude-namespace", "a,b", "--include", "empty,system-namespaces", "--qps", "20", "--burst", "40", "--page-size", "7"},
			discoverOptions{sourceOptions: sourceOptions{Files: []string{"a.yaml", "dir", "-"}, Types: []string{"Opaque", "kubernetes.io/tls"},
				ExcludeNamespaces: []string{"a", "b"}, Include: []string{"empty", "system-namespaces"}, QPS: 20, Burst: 40, PageSize: 7}}},
		{"a fingerprint key implies fingerprints", []string{"--fingerprint-key", "k.hex"},
			discoverOptions{sourceOptions: sourceOptions{QPS: kube.DefaultQPS, Burst: kube.DefaultBurst}, Fingerprints: true, FingerprintKey: "k.hex"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *discoverOptions
			f := &factory{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
			cmd := discoverCmd(f, func(_ context.Context, _ *factory, o *discoverOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if !equalOptions(*got, tt.want) {
				t.Errorf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func equalOptions(a, b discoverOptions) bool {
	return slices.Equal(a.Files, b.Files) && slices.Equal(a.Types, b.Types) && slices.Equal(a.ExcludeNamespaces, b.ExcludeNamespaces) &&
		slices.Equal(a.Include, b.Include) && a.QPS == b.QPS && a.Burst == b.Burst && a.PageSize == b.PageSize &&
		a.Fingerprints == b.Fingerprints && a.FingerprintKey == b.FingerprintKey
}

// runMain runs the CLI in-process and checks that no output holds the canary.
func runMain(t *testing.T, stdin string, args ...string) (ExitCode, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errOut)
	for name, s := range map[string]string{"stdout": out.String(), "stderr": errOut.String()} {
		if strings.Contains(s, discoverCanary) {
			t.Errorf("%s contains a secret value:\n%s", name, s)
		}
	}
	return code, out.String(), errOut.String()
}

func writeTestKey(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hmac.key")
	if err := os.WriteFile(p, []byte(hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDiscoverManifestsTable(t *testing.T) {
	code, out, errOut := runMain(t, discoverManifest, "discover", "-f", "-")
	if code != ExitPartial {
		t.Errorf("exit code %d, want %d (one object failed)", code, ExitPartial)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	want := []string{
		"NAMESPACE  NAME    TYPE                                 KEYS  SIZE  AGE        CONSUMERS       ACTION/REASON",
		"shop       db      Opaque                               2     26B   <unknown>  Deployment/web  migrate",
		"shop       token   kubernetes.io/service-account-token  1     23B   <unknown>  <none>          skip/service-account-token",
		"shop       broken  -                                    -     -     -          -               error",
		"",
		"MISSING       PROBLEM           CONSUMER        VIA                    OPTIONAL",
		"shop/nope[k]  secret-not-found  Deployment/web  env Q (container app)  no",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("table:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	for _, s := range []string{
		`secretshift: <stdin>#2: Secret shop/broken: data key "key": value is not valid base64`,
		"2 secrets: 1 to migrate, 1 skipped, 1 error; 1 unused, 1 missing reference",
	} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
}

func TestDiscoverTableShowsFingerprints(t *testing.T) {
	t.Chdir(t.TempDir())
	_, out, _ := runMain(t, discoverManifest, "discover", "-f", "-", "--fingerprints")
	lines := strings.Split(out, "\n")
	if !regexp.MustCompile(`ACTION/REASON +FINGERPRINT$`).MatchString(lines[0]) {
		t.Fatalf("header %q has no FINGERPRINT column", lines[0])
	}
	if !regexp.MustCompile(`migrate\s+hmac-sha256:[0-9a-f]{16}…$`).MatchString(lines[1]) {
		t.Errorf("row %q has no short fingerprint", lines[1])
	}
}

func TestDiscoverManifestsJSONAndYAML(t *testing.T) {
	key := writeTestKey(t)
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := runMain(t, discoverManifest, "discover", "-f", "-", "-o", format, "--fingerprint-key", key)
			if code != ExitPartial {
				t.Errorf("exit code %d, want %d", code, ExitPartial)
			}
			js := []byte(out)
			if format == "yaml" {
				var err error
				if js, err = yaml.YAMLToJSON(js); err != nil {
					t.Fatal(err)
				}
			}
			var r kube.Discovery
			if err := json.Unmarshal(js, &r); err != nil {
				t.Fatalf("decode %s output: %v\n%s", format, err, out)
			}
			if r.APIVersion != "secretshift.io/v1alpha1" || r.Kind != "Inventory" || len(r.Items) != 2 || len(r.Errors) != 1 ||
				len(r.MissingReferences) != 1 || r.Summary.Errors != 1 {
				t.Errorf("unexpected report: %s", out)
			}
			db := r.Items[0]
			if db.Name != "db" || len(db.Keys) != 2 || !strings.HasPrefix(db.Keys[0].Fingerprint, "hmac-sha256:") ||
				!strings.HasPrefix(db.Fingerprint, "hmac-sha256:") || db.Keys[0].Size != len(discoverCanary) {
				t.Errorf("db item: %+v", db)
			}
			if !strings.Contains(errOut, "2 secrets:") {
				t.Errorf("no summary on stderr: %s", errOut)
			}
		})
	}
}

func TestDiscoverUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"unknown include reason", []string{"discover", "-f", "-", "--include", "bogus"}, "unknown skip reason"},
		{"bad output", []string{"discover", "-f", "-", "-o", "xml"}, "unknown output format"},
		{"bad page size", []string{"discover", "-f", "-", "--page-size", "-1"}, "--page-size"},
		{"arguments", []string{"discover", "extra"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runMain(t, "", tt.args...)
			if code != ExitUsage || !strings.Contains(errOut, tt.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, ExitUsage, tt.msg)
			}
		})
	}
}

func TestDiscoverMissingPathFails(t *testing.T) {
	code, _, errOut := runMain(t, "", "discover", "-f", filepath.Join(t.TempDir(), "nothing.yaml"))
	if code != ExitError || !strings.Contains(errOut, "nothing.yaml") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestDiscoverIncludeAndFilters(t *testing.T) {
	code, out, _ := runMain(t, discoverManifest, "discover", "-f", "-", "--include", "service-account-token", "--type", "kubernetes.io/service-account-token", "-o", "json")
	if code != ExitPartial {
		t.Errorf("exit %d", code)
	}
	var r kube.Discovery
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Items) != 1 || r.Items[0].Name != "token" || r.Items[0].Action != kube.ActionMigrate {
		t.Errorf("items: %+v", r.Items)
	}
}

func TestTableHelpers(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	ages := map[time.Duration]string{30 * time.Second: "30s", 5 * time.Minute: "5m", 3 * time.Hour: "3h", 47 * time.Hour: "47h", 72 * time.Hour: "3d"}
	for d, want := range ages {
		if got := age(now.Add(-d), now); got != want {
			t.Errorf("age(%v) = %s, want %s", d, got, want)
		}
	}
	sizes := map[int]string{0: "0B", 1023: "1023B", 1536: "1.5KiB", 3 << 20: "3.0MiB"}
	for n, want := range sizes {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %s, want %s", n, got, want)
		}
	}
	cs := []kube.Consumer{{Kind: "Deployment", Name: "a"}, {Kind: "Deployment", Name: "b"}, {Kind: "Pod", Name: "c"}, {Kind: "Pod", Name: "d"}, {Kind: "Pod", Name: "e"}}
	if got := consumerList(cs); got != "Deployment/a,Deployment/b,Pod/c,+2 more" {
		t.Errorf("consumerList = %s", got)
	}
}
