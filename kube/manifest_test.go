package kube

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readText decodes manifests given as text on stdin.
func readText(t *testing.T, text string) *Inventory {
	t.Helper()
	inv, err := ReadManifests([]string{StdinPath}, ReadOptions{Stdin: strings.NewReader(text)})
	if err != nil {
		t.Fatalf("ReadManifests: %v", err)
	}
	return inv
}

// secretsByRef returns "namespace/name@index" of each Secret, in input order.
func secretsByRef(inv *Inventory) []string {
	var out []string
	for _, s := range inv.Secrets {
		out = append(out, s.Ref()+"@"+strconv.Itoa(s.Origin.Index))
	}
	return out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestReadManifestsFormats(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{
			name: "multi-document YAML with comment-only and empty documents",
			text: "# leading comment\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {k: " + b64("v") + "}\n---\n# only a comment\n---\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n  namespace: ns\nstringData:\n  k: v\n",
			want: []string{"default/a@0", "ns/b@1"},
		},
		{
			name: "flow style with comments and trailing commas",
			text: "---\n{\n  apiVersion: \"v1\",\n  kind: \"Secret\",\n  metadata: {\n    name: \"flow\", # a comment\n  },\n  stringData: {\n    username: \"admin\", # required\n  },\n}\n",
			want: []string{"default/flow@0"},
		},
		{
			name: "JSON object",
			text: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"j","namespace":"x"},"data":{"k":"` + b64("v") + `"}}`,
			want: []string{"x/j@0"},
		},
		{
			name: "stream of JSON objects",
			text: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"j1"},"data":{}}` + "\n" + `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"j2"},"stringData":{"a":"b"}}`,
			want: []string{"default/j1@0", "default/j2@1"},
		},
		{
			name: "List kind expands its items",
			text: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: l1}\n  stringData: {a: b}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: cm}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: l2}\n  stringData: {a: b}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: after}\nstringData: {a: b}\n",
			want: []string{"default/l1@0", "default/l2@2", "default/after@3"},
		},
		{
			name: "SecretList items without kind",
			text: `{"apiVersion":"v1","kind":"SecretList","metadata":{},"items":[{"metadata":{"name":"s1","namespace":"n"},"data":{"k":"` + b64("v") + `"}},{"metadata":{"name":"s2","namespace":"n"},"type":"Opaque"}]}`,
			want: []string{"n/s1@0", "n/s2@1"},
		},
		{
			name: "document start with inline content",
			text: "--- {apiVersion: v1, kind: Secret, metadata: {name: inline}, stringData: {a: b}}\n",
			want: []string{"default/inline@0"},
		},
		{
			name: "other kinds and other API groups named Secret are not Secrets",
			text: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n---\napiVersion: example.com/v1\nkind: Secret\nmetadata: {name: crd}\n",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := readText(t, tt.text)
			if len(inv.Problems) > 0 {
				t.Fatalf("unexpected problems: %v", inv.Problems)
			}
			if got := secretsByRef(inv); !slices.Equal(got, tt.want) {
				t.Errorf("secrets = %v, want %v", got, tt.want)
			}
			for _, s := range inv.Secrets {
				if s.Origin.File != stdinOrigin {
					t.Errorf("%s: origin file %q, want %q", s.Ref(), s.Origin.File, stdinOrigin)
				}
			}
		})
	}
}

// In walked folders only *.yaml, *.yml and *.json files that are not hidden are read, and
// hidden folders are not entered; a file named explicitly is read whatever its name.
// TestJSONDocumentsReadAsJSON: a JSON document is read as kubectl reads JSON, so what JSON
// allows and the YAML parser refuses (a surrogate pair escape) is read, byte-exact.
func TestJSONDocumentsReadAsJSON(t *testing.T) {
	inv := readText(t, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"e"},"stringData":{"k":"\ud83d\ude00 \u00e9"}}`)
	if len(inv.Problems) > 0 || len(inv.Secrets) != 1 {
		t.Fatalf("problems %v, secrets %v", inv.Problems, secretsByRef(inv))
	}
	if got := string(inv.Secrets[0].Data["k"]); got != "\U0001F600 é" {
		t.Errorf("value %q", got)
	}
}

func TestReadManifestsDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, text string) { writeFile(t, filepath.Join(dir, rel), text) }
	write("a.yaml", secretYAML("top"))
	write("sub/deeper/b.yml", secretYAML("deep"))
	write("sub/c.json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"json"},"stringData":{"a":"b"}}`)
	write("sub/notes.txt", secretYAML("ignored-extension"))
	write(".git/d.yaml", secretYAML("ignored-hidden"))
	write("sub/.hidden.yaml", secretYAML("ignored-hidden-file"))
	write("sub/.c.yaml.tmp-123", secretYAML("ignored-temporary-file"))
	write("explicit.manifest", secretYAML("explicit"))
	write(".explicit-hidden.yaml", secretYAML("explicit-hidden"))

	inv, err := ReadManifests([]string{dir, filepath.Join(dir, "explicit.manifest"), filepath.Join(dir, ".explicit-hidden.yaml")}, ReadOptions{Namespace: "apps"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"apps/top@0", "apps/json@0", "apps/deep@0", "apps/explicit@0", "apps/explicit-hidden@0"}
	if got := secretsByRef(inv); !slices.Equal(got, want) {
		t.Errorf("secrets = %v, want %v", got, want)
	}

	if _, err := ReadManifests([]string{filepath.Join(dir, "missing.yaml")}, ReadOptions{}); err == nil {
		t.Error("a path that does not exist must be an error")
	}
}

func TestReadManifestsStdinMixedWithFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(p, []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: file}\nstringData: {a: b}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := ReadManifests([]string{p, StdinPath}, ReadOptions{Stdin: strings.NewReader("apiVersion: v1\nkind: Secret\nmetadata: {name: piped}\nstringData: {a: b}\n")})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Secrets) != 2 || inv.Secrets[1].Origin.File != stdinOrigin || inv.Secrets[0].Origin.File != p {
		t.Errorf("got %v with origins %v, %v", secretsByRef(inv), inv.Secrets[0].Origin, inv.Secrets[len(inv.Secrets)-1].Origin)
	}
}

func TestStringDataMergedOverData(t *testing.T) {
	inv := readText(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: m}\ndata:\n  both: "+b64("from-data")+"\n  dataonly: "+b64("d")+"\nstringData:\n  both: from-stringData\n  stringonly: s\n")
	if len(inv.Secrets) != 1 {
		t.Fatalf("problems: %v", inv.Problems)
	}
	got := inv.Secrets[0].Data
	want := map[string]string{"both": "from-stringData", "dataonly": "d", "stringonly": "s"}
	if len(got) != len(want) {
		t.Fatalf("keys = %v, want %v", got.Keys(), want)
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("key %s: got %d bytes, want %q", k, len(got[k]), v)
		}
	}
}

func TestBytesPreserved(t *testing.T) {
	inv := readText(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: p}\ndata:\n  nl: "+b64("value\n")+"\n  wrapped: |\n    "+b64("0123456789012345678901234567890123456789")[:20]+"\n    "+b64("0123456789012345678901234567890123456789")[20:]+"\n  crlf: "+b64("a\r\n")+"\n  binary: "+base64.StdEncoding.EncodeToString([]byte{0, 0xff, 0x10})+"\nstringData:\n  keep: |\n    line\n  strip: |-\n    line\n  placeholder: <path:kv/data/app#password>\n  spaces: \"  padded  \"\n")
	if len(inv.Problems) > 0 {
		t.Fatalf("problems: %v", inv.Problems)
	}
	want := map[string]string{
		"nl": "value\n", "wrapped": "0123456789012345678901234567890123456789", "crlf": "a\r\n", "binary": "\x00\xff\x10",
		"keep": "line\n", "strip": "line", "placeholder": "<path:kv/data/app#password>", "spaces": "  padded  ",
	}
	for k, v := range want {
		if got := string(inv.Secrets[0].Data[k]); got != v {
			t.Errorf("key %s: got %d bytes, want %d (bytes altered)", k, len(got), len(v))
		}
	}
}

func TestLastAppliedAnnotationDropped(t *testing.T) {
	inv := readText(t, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"k\":\"c2VjcmV0\"}}'\n    team: x\ndata: {k: c2VjcmV0}\n")
	s := inv.Secrets[0]
	if _, ok := s.Annotations[LastAppliedAnnotation]; ok || s.Annotations["team"] != "x" {
		t.Errorf("annotations = %v", s.Annotations)
	}
}

// canary is planted in bad input; no Problem may repeat it.
const canary = "CANARY-s3cr3t-VALUE"

func TestBadInput(t *testing.T) {
	big := strings.Repeat("x", MaxSecretSize)
	good := "---\napiVersion: v1\nkind: Secret\nmetadata: {name: good}\nstringData: {a: b}\n"
	tests := []struct {
		name    string
		text    string
		objName string // "" when the document has no readable name
		key     string
		message string
	}{
		{"malformed YAML", "apiVersion: v1\nkind: Secret\nmetadata: {name: x\ndata: [" + canary + "\n", "", "", "malformed YAML"},
		{"duplicate key", "apiVersion: v1\nkind: Secret\nmetadata: {name: dup}\nstringData:\n  k: " + canary + "\n  k: other\n", "", "", `key "k" already set`},
		{"data value not base64", "apiVersion: v1\nkind: Secret\nmetadata: {name: b, namespace: ns}\ndata:\n  ok: " + b64("x") + "\n  token: " + canary + "!\n", "b", "token", `data key "token": value is not valid base64`},
		{"data value null", "apiVersion: v1\nkind: Secret\nmetadata: {name: nul}\ndata:\n  tls.crt:\n", "nul", "tls.crt", `data key "tls.crt": value is null`},
		{"data value a number", "apiVersion: v1\nkind: Secret\nmetadata: {name: num}\ndata:\n  pin: 123456789\n", "num", "pin", "must be a base64 string, got a number"},
		{"stringData value a number", "apiVersion: v1\nkind: Secret\nmetadata: {name: sd}\nstringData:\n  githubAppID: 1234567\n", "sd", "githubAppID", `stringData key "githubAppID": value must be a string, got a number`},
		{"stringData value a boolean", "apiVersion: v1\nkind: Secret\nmetadata: {name: sb}\nstringData:\n  insecure: true\n", "sb", "insecure", "got a boolean"},
		{"stringData value null", "apiVersion: v1\nkind: Secret\nmetadata: {name: sn}\nstringData:\n  k: ~\n", "sn", "k", "value is null"},
		{"annotations as a list", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ann\n  annotations:\n  - " + canary + "\nstringData: {a: b}\n", "ann", "", "metadata.annotations: must be a map of strings, got a list"},
		{"label value not a string", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: lab\n  labels: {tier: 3}\nstringData: {a: b}\n", "lab", "", `metadata.labels key "tier": value must be a string, got a number`},
		{"data is a list", "apiVersion: v1\nkind: Secret\nmetadata: {name: dl}\ndata: [" + canary + "]\n", "dl", "", "data: must be a map"},
		{"invalid key name", "apiVersion: v1\nkind: Secret\nmetadata: {name: kn}\nstringData:\n  \"bad/key\": " + canary + "\n", "kn", "bad/key", "invalid key name"},
		{"over 1 MiB", "apiVersion: v1\nkind: Secret\nmetadata: {name: huge}\nstringData:\n  a: " + big + "\n  b: xx\n", "huge", "a", "over the API server's limit"},
		{"no name", "apiVersion: v1\nkind: Secret\nmetadata: {generateName: gen-}\nstringData: {a: " + canary + "}\n", "", "", "metadata.name: required"},
		{"type not a string", "apiVersion: v1\nkind: Secret\nmetadata: {name: ty}\ntype: [a]\nstringData: {a: b}\n", "ty", "", "type: must be a string, got a list"},
		{"document not an object", "- " + canary + "\n", "", "", "document must be an object, got a list"},
		{"null map key", "apiVersion: v1\nkind: Secret\nmetadata: {name: nk}\nstringData:\n  ~: " + canary + "\n", "", "", "malformed YAML: a map key that is null"},
		{"key in two spellings", "apiVersion: v1\nkind: Secret\nmetadata: {name: ks}\nstringData:\n  1: " + canary + "\n  \"1\": other\n", "", "", "malformed YAML: a map key is given twice"},
		{"JSON name given twice", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"jd"},"stringData":{"k":"` + canary + `","k":"other"}}` + "\n", "", "", `malformed JSON: duplicate field "stringData.k"`},
		{"template markup", "{% raw %}\napiVersion: v1\nkind: Secret\nmetadata: {name: t}\n{% endraw %}\n", "", "", "malformed YAML"},
		{"workload with a wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        envFrom: " + canary + "\n", "web", "", "must be a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := readText(t, tt.text+good)
			if len(inv.Problems) == 0 {
				t.Fatalf("no problem reported; secrets %v", secretsByRef(inv))
			}
			p := inv.Problems[0]
			if p.Origin.File != stdinOrigin || p.Origin.Index != 0 {
				t.Errorf("origin = %v, want %s#0", p.Origin, stdinOrigin)
			}
			if p.Name != tt.objName || p.Key != tt.key {
				t.Errorf("problem names %q key %q, want %q key %q", p.Name, p.Key, tt.objName, tt.key)
			}
			if !strings.Contains(p.Message, tt.message) {
				t.Errorf("message %q does not contain %q", p.Message, tt.message)
			}
			for _, p := range inv.Problems {
				if strings.Contains(p.Error(), canary) || strings.Contains(p.Error(), "123456") || strings.Contains(p.Error(), "xxxx") {
					t.Errorf("problem repeats a value: %s", p.Error())
				}
			}
			if got := secretsByRef(inv); !slices.Equal(got, []string{"default/good@1"}) {
				t.Errorf("the good Secret after the bad object: got %v, want [default/good@1]", got)
			}
		})
	}
}

func TestDuplicateSecretIsAProblem(t *testing.T) {
	inv := readText(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: d}\nstringData: {a: b}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: d, namespace: default}\nstringData: {a: c}\n")
	if len(inv.Secrets) != 1 || len(inv.Problems) != 1 || !strings.Contains(inv.Problems[0].Message, "defined twice, first at <stdin>#0") {
		t.Errorf("secrets %v, problems %v", secretsByRef(inv), inv.Problems)
	}
}

// With a namespace, manifests are read as a namespaced list would be: objects of other
// namespaces are left out, objects without one are placed in it. Without, every namespace
// is kept and objects without one go to "default".
func TestReadManifestsNamespace(t *testing.T) {
	text := secretYAML("none") +
		"---\napiVersion: v1\nkind: Secret\nmetadata: {name: mine, namespace: shop}\nstringData: {a: b}\n" +
		"---\napiVersion: v1\nkind: Secret\nmetadata: {name: theirs, namespace: billing}\nstringData: {a: b}\n" +
		"---\napiVersion: v1\nkind: Secret\nmetadata: {name: broken, namespace: billing}\ndata: {a: '" + canary + "'}\n" +
		"---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: sealed, namespace: billing}\n" +
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: pay, namespace: billing}\nspec: {containers: [{name: c, envFrom: [{secretRef: {name: theirs}}]}]}\n" +
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c, envFrom: [{secretRef: {name: none}}]}]}\n"
	tests := []struct {
		namespace string
		secrets   []string
		workloads []string
		problems  int
		others    int
	}{
		{"", []string{"default/none@0", "shop/mine@1", "billing/theirs@2", "billing/sealed@4"}, []string{"billing/pay", "default/web"}, 1, 1},
		{"shop", []string{"shop/none@0", "shop/mine@1"}, []string{"shop/web"}, 0, 0},
		{"billing", []string{"billing/none@0", "billing/theirs@2", "billing/sealed@4"}, []string{"billing/pay", "billing/web"}, 1, 1},
	}
	for _, tt := range tests {
		t.Run("namespace "+tt.namespace, func(t *testing.T) {
			inv, err := ReadManifests([]string{StdinPath}, ReadOptions{Stdin: strings.NewReader(text), Namespace: tt.namespace})
			if err != nil {
				t.Fatal(err)
			}
			if got := secretsByRef(inv); !slices.Equal(got, tt.secrets) {
				t.Errorf("secrets = %v, want %v", got, tt.secrets)
			}
			var workloads []string
			for _, w := range inv.Workloads {
				workloads = append(workloads, w.Namespace+"/"+w.Name)
			}
			if !slices.Equal(workloads, tt.workloads) {
				t.Errorf("workloads = %v, want %v", workloads, tt.workloads)
			}
			if len(inv.Problems) != tt.problems || len(inv.Others) != tt.others {
				t.Errorf("problems %v and others %v, want %d and %d", inv.Problems, inv.Others, tt.problems, tt.others)
			}
		})
	}
}

// Discover passes the namespace to manifests and says so in the report's source.
func TestDiscoverFilesNamespace(t *testing.T) {
	text := secretYAML("none") + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: theirs, namespace: billing}\nstringData: {a: b}\n"
	r, err := Discover(context.Background(), Options{Files: []string{StdinPath}, Stdin: strings.NewReader(text), Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Items) != 1 || r.Items[0].Ref() != "shop/none" || r.Source.Namespace != "shop" || r.Summary.Migrate != 1 {
		t.Errorf("items %+v, source %+v, summary %+v", r.Items, r.Source, r.Summary)
	}
}

func TestSplitDocuments(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", []string{""}},
		{"a: 1\n", []string{"a: 1\n"}},
		{"a: 1\n---\nb: 2\n", []string{"a: 1\n", "\nb: 2\n"}},
		{"---\na: 1\n", []string{"", "\na: 1\n"}},
		{"a: 1\n---", []string{"a: 1\n", ""}},
		{"--- {a: b}\n--- # comment\nc: d\n", []string{"", " {a: b}\n", " # comment\nc: d\n"}},
		{"a: 1\r\n---\r\nb: 2\r\n", []string{"a: 1\r\n", "\r\nb: 2\r\n"}},
		{"----\n---x\n --- \nk: ---\n", []string{"----\n---x\n --- \nk: ---\n"}},
		{"a\n---\t\n---\n", []string{"a\n", "\t\n", "\n"}},
	} {
		var got []string
		for _, d := range splitDocuments([]byte(tc.in)) {
			got = append(got, string(d))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("splitDocuments(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
