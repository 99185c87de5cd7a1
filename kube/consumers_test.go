package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// consumerManifests exercises every kind of reference, read from manifests as a GitOps
// repository holds them (no running Pods) plus Pods with owners, as a cluster dump holds them.
const consumerManifests = `
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
stringData: {user: u, password: p}
---
apiVersion: v1
kind: Secret
metadata: {name: api, namespace: shop}
stringData: {token: t}
---
apiVersion: v1
kind: Secret
metadata: {name: registry, namespace: shop}
type: kubernetes.io/dockerconfigjson
stringData: {.dockerconfigjson: "{}"}
---
apiVersion: v1
kind: Secret
metadata: {name: sa-registry, namespace: shop}
type: kubernetes.io/dockerconfigjson
stringData: {.dockerconfigjson: "{}"}
---
apiVersion: v1
kind: Secret
metadata: {name: web-tls, namespace: shop}
type: kubernetes.io/tls
stringData: {tls.crt: c, tls.key: k}
---
apiVersion: v1
kind: Secret
metadata: {name: projected, namespace: shop}
stringData: {ca.crt: c}
---
apiVersion: v1
kind: Secret
metadata: {name: batch, namespace: shop}
stringData: {key: k}
---
apiVersion: v1
kind: Secret
metadata: {name: unused, namespace: shop}
stringData: {x: z}
---
apiVersion: v1
kind: Secret
metadata: {name: debug, namespace: shop}
stringData: {x: z}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      serviceAccountName: web
      imagePullSecrets: [{name: registry}]
      initContainers:
      - name: migrate
        envFrom:
        - secretRef: {name: db}
      containers:
      - name: app
        env:
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
        - name: DB_PORT
          value: "5432"
        - name: API_TOKEN
          valueFrom: {secretKeyRef: {name: api, key: no-such-key}}
        - name: OPTIONAL_TOKEN
          valueFrom: {secretKeyRef: {name: gone, key: token, optional: true}}
      volumes:
      - name: creds
        secret:
          secretName: db
          items: [{key: user, path: user}]
      - name: bundle
        projected:
          sources:
          - secret: {name: projected}
          - configMap: {name: ignored}
          - secret: {name: absent-projected, optional: true}
      - name: missing
        secret: {secretName: not-there}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d4f8
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, controller: true, uid: "1"}]
spec:
  template:
    spec:
      containers: [{name: app, envFrom: [{secretRef: {name: db}}]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-5d4f8-abcde
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d4f8, controller: true, uid: "2"}]
spec:
  serviceAccountName: web
  containers: [{name: app, envFrom: [{secretRef: {name: db}}]}]
  ephemeralContainers:
  - name: debugger
    envFrom: [{secretRef: {name: debug}}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
imagePullSecrets: [{name: sa-registry}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: shop}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: job, env: [{name: K, valueFrom: {secretKeyRef: {name: batch, key: key}}}]}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: nightly-28000000
  namespace: shop
  ownerReferences: [{apiVersion: batch/v1, kind: CronJob, name: nightly, controller: true, uid: "3"}]
spec:
  template:
    spec:
      containers: [{name: job, env: [{name: K, valueFrom: {secretKeyRef: {name: batch, key: key}}}]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: nightly-28000000-xyz
  namespace: shop
  ownerReferences: [{apiVersion: batch/v1, kind: Job, name: nightly-28000000, controller: true, uid: "4"}]
spec:
  containers: [{name: job, volumeMounts: [], env: [{name: K, valueFrom: {secretKeyRef: {name: batch, key: key}}}]}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: pg, namespace: shop}
spec:
  template:
    spec:
      containers: [{name: pg, env: [{name: PGPASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}]}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  template:
    spec:
      volumes: [{name: ca, projected: {sources: [{secret: {name: projected, items: [{key: ca.crt, path: ca.crt}, {key: missing.crt, path: m}]}}]}}]
      containers: [{name: agent}]
---
apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: shop}
spec:
  containers: [{name: c, envFrom: [{secretRef: {name: api}}, {secretRef: {name: maybe, optional: true}}]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: orphan
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: gone-rs, controller: true, uid: "5"}]
spec:
  containers: [{name: c, envFrom: [{secretRef: {name: api}}]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  tls: [{hosts: [shop.example.com], secretName: web-tls}, {secretName: missing-tls}]
`

func consumerStrings(cs []Consumer) []string {
	var out []string
	for _, c := range cs {
		var uses []string
		for _, u := range c.Uses {
			s := string(u.Via)
			for _, part := range []string{u.Container, u.Volume, u.Env, u.ServiceAccount, u.Key} {
				if part != "" {
					s += ":" + part
				}
			}
			if u.Optional {
				s += "?"
			}
			uses = append(uses, s)
		}
		out = append(out, c.Kind+"/"+c.Name+" "+strings.Join(uses, ","))
	}
	return out
}

func TestFindConsumers(t *testing.T) {
	inv := readText(t, consumerManifests)
	if len(inv.Problems) > 0 {
		t.Fatalf("problems: %v", inv.Problems)
	}
	consumers, missing := FindConsumers(inv)

	want := map[string][]string{
		"shop/db": {
			"Deployment/web env:app:DB_PASSWORD:password,env-from:app,env-from:migrate,volume:creds:user",
			"StatefulSet/pg env:pg:PGPASSWORD:password",
		},
		"shop/api": {
			"Deployment/web env:app:API_TOKEN:no-such-key",
			"Pod/bare env-from:c",
			"ReplicaSet/gone-rs env-from:c",
		},
		"shop/registry":    {"Deployment/web image-pull-secret"},
		"shop/sa-registry": {"Deployment/web service-account-image-pull-secret:web", "ServiceAccount/web image-pull-secret"},
		"shop/web-tls":     {"Ingress/web ingress-tls"},
		"shop/projected":   {"DaemonSet/agent projected-volume:ca:ca.crt,projected-volume:ca:missing.crt", "Deployment/web projected-volume:bundle"},
		"shop/batch":       {"CronJob/nightly env:job:K:key"},
		"shop/debug":       {"Deployment/web env-from:debugger"},
	}
	for ref, w := range want {
		got := consumerStrings(consumers[ref])
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("%s consumers:\n got  %q\n want %q", ref, got, w)
		}
	}
	if c := consumers["shop/unused"]; len(c) != 0 {
		t.Errorf("shop/unused has consumers %v", consumerStrings(c))
	}

	var gotMissing []string
	for _, m := range missing {
		gotMissing = append(gotMissing, fmt.Sprintf("%s/%s[%s] %s by %s via %s optional=%v", m.Namespace, m.Secret, m.Key, m.Problem, m.Consumer, m.Via, m.Optional))
	}
	wantMissing := []string{
		"shop/absent-projected[] secret-not-found by Deployment/web via projected-volume optional=true",
		"shop/api[no-such-key] key-not-found by Deployment/web via env optional=false",
		"shop/gone[token] secret-not-found by Deployment/web via env optional=true",
		"shop/maybe[] secret-not-found by Pod/bare via env-from optional=true",
		"shop/missing-tls[] secret-not-found by Ingress/web via ingress-tls optional=false",
		"shop/not-there[] secret-not-found by Deployment/web via volume optional=false",
		"shop/projected[missing.crt] key-not-found by DaemonSet/agent via projected-volume optional=false",
	}
	if !slices.Equal(gotMissing, wantMissing) {
		t.Errorf("missing references:\n got  %q\n want %q", gotMissing, wantMissing)
	}
}

// A reference to a Secret that a filter left out, or that could not be decoded, is not
// missing: the Secret exists.
func TestFilteredAndBrokenSecretsAreNotMissing(t *testing.T) {
	text := consumerManifests + `---
apiVersion: v1
kind: Secret
metadata: {name: not-there, namespace: shop}
data: {k: "not base64!"}
`
	inv := readText(t, text)
	inv, err := inv.Apply(Filter{Types: []string{"kubernetes.io/tls"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Secrets) != 1 || inv.Secrets[0].Name != "web-tls" {
		t.Fatalf("filter kept %v", secretsByRef(inv))
	}
	_, missing := FindConsumers(inv)
	for _, m := range missing {
		if m.Secret == "db" || m.Secret == "not-there" {
			t.Errorf("reported missing although it exists: %+v", m)
		}
	}
	// Key checks still work for filtered Secrets, whose key names are kept.
	found := false
	for _, m := range missing {
		found = found || (m.Secret == "api" && m.Key == "no-such-key")
	}
	if !found {
		t.Error("missing key of a filtered Secret not reported")
	}
}

func TestDiscoverManifestsReport(t *testing.T) {
	report, err := Discover(context.Background(), Options{Files: []string{StdinPath}, Stdin: strings.NewReader(consumerManifests),
		Filter: Filter{ExcludeNamespaces: []string{"other"}}})
	if err != nil {
		t.Fatal(err)
	}
	if report.APIVersion != ReportAPIVersion || report.Kind != ReportKind {
		t.Errorf("schema = %s %s", report.APIVersion, report.Kind)
	}
	s := report.Summary
	if s.Secrets != 9 || s.Migrate != 9 || s.Unused != 1 || s.MissingReferences != 7 || s.Errors != 0 {
		t.Errorf("summary = %+v", s)
	}
	for _, it := range report.Items {
		if it.Secret != nil {
			t.Errorf("%s: Secret and values kept without KeepValues", it.Ref())
		}
		if len(it.Keys) == 0 {
			t.Errorf("%s: key names lost", it.Ref())
		}
	}
}
