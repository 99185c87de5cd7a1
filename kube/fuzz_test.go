package kube

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	sigsyaml "sigs.k8s.io/yaml"
)

// manifestSeeds are the real manifests of the shared corpus, the quick-start demo and the SOPS
// test files: multi-document streams, flow style, values that are not base64, null values,
// SealedSecrets, SOPS-encrypted Secrets.
func manifestSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, pattern := range []string{"testdata/corpus/*/*.yaml", "testdata/sops/*.yaml", "../testdata/demo/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, b)
		}
	}
	if len(seeds) < 10 {
		f.Fatalf("only %d seed manifests found", len(seeds))
	}
	return seeds
}

func readFuzzed(t *testing.T, b []byte) *Inventory {
	t.Helper()
	inv, err := ReadManifests([]string{StdinPath}, ReadOptions{Stdin: bytes.NewReader(b)})
	if err != nil {
		t.Fatalf("ReadManifests of a stream failed instead of reporting problems: %v", err)
	}
	return inv
}

// FuzzReadManifests checks the manifest decoder on arbitrary streams: it never fails as a whole
// (a bad object is a Problem), is deterministic, keeps only Secrets the API server would accept
// (valid key names, at most 1 MiB of values), names every problem, and a decoded Secret written
// back as a manifest decodes to the same Secret, byte for byte.
func FuzzReadManifests(f *testing.F) {
	for _, s := range manifestSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte("{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":\"AAEC/w==\"}}{\"kind\":\"SecretList\",\"items\":[{\"metadata\":{\"name\":\"b\"},\"stringData\":{\"x\":\"\\u0000\\n\"}}]}"))
	f.Add([]byte("--- {kind: Secret, apiVersion: v1, metadata: {name: a, namespace: ns}, stringData: {k: 1}}\n---\n"))
	f.Add([]byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: bin\ndata:\n  k: //79/PsAAQI=\n  .dot: \"\"\nimmutable: true\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv := readFuzzed(t, b)
		if again := readFuzzed(t, b); !sameInventory(inv, again) {
			t.Fatal("decoding the same bytes twice gave different results")
		}
		for _, p := range inv.Problems {
			if p.Message == "" {
				t.Fatalf("problem without a message: %#v", p)
			}
		}
		for _, s := range inv.Secrets {
			if s.Name == "" || s.Namespace == "" {
				t.Fatalf("secret without a name or namespace: %s", s.Ref())
			}
			if s.Encrypted != nil {
				if s.Data != nil {
					t.Fatalf("%s: encrypted Secret with values", s.Ref())
				}
				continue
			}
			if n := s.Data.Size(); n > MaxSecretSize {
				t.Fatalf("%s: %d bytes of values accepted, over the limit", s.Ref(), n)
			}
			for k := range s.Data {
				if msgs := validation.IsConfigMapKey(k); len(msgs) > 0 {
					t.Fatalf("%s: invalid key %q accepted: %v", s.Ref(), k, msgs)
				}
			}
			if _, ok := s.Annotations[LastAppliedAnnotation]; ok {
				t.Fatalf("%s: kept %s, which holds the values again", s.Ref(), LastAppliedAnnotation)
			}
			roundTrip(t, s)
		}
	})
}

// FuzzDecodeTreeIsKubectlsJSON checks the tree a manifest is read into against kubectl's
// readings of the same bytes: written as JSON it is what sigs.k8s.io/yaml (strict) makes of the
// document (numbers compared by value), and a document one refuses the other refuses too. The
// tree may refuse keys that only JSON cannot tell apart (1 and "1"), and may read what the YAML
// parser refuses when JSON cannot hold it (NaN) or when the document is JSON, which kubectl
// reads with a JSON decoder (surrogate pairs, which the YAML parser refuses, are valid JSON).
func FuzzDecodeTreeIsKubectlsJSON(f *testing.F) {
	for _, s := range manifestSeeds(f) {
		for _, doc := range splitDocuments(s) {
			f.Add(doc)
		}
	}
	for _, s := range []string{
		"a: 1\n\"1\": 2\n", "{1: a, 1.5: b, true: c, ~: d}", "k: !!binary /w==\n", "k: .nan\n", "k: [1, {a: b}, ~, 1e400]\n",
		`{"a": 18446744073709551615, "b": -9223372036854775809, "c": 1.0, "d": 1e2, "e": 0.1, "f": -0}`,
		`{"a": "\u00e9\ud83d\ude00\u0000\/", "b": "\ud800", "c": [true, null, {"d": []}]}`, `{"a": 1, "a": 2}`, `{"a": {"b": 1, "b": 1}}`,
		`{"kind": "List", "items": [{"kind": "Secret", "data": {"k": "aGk="}}]} `, `{"a": "x"} # comment`, `{"a": 1e400}`,
		"<<: {a: 1}\nb: 2\n", "k: 2001-12-14t21:59:43.10-05:00\n", "? [a]\n: b\n", "0x1F: a\n0o17: b\n", "k: \"\\xff\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		tree, terr := decodeTree(doc)
		want, serr := sigsyaml.YAMLToJSONStrict(doc)
		_, isJSON, _ := decodeJSON(doc)
		switch {
		case serr == nil && terr != nil:
			if errors.Is(terr, errDuplicateKey) {
				return
			}
			t.Fatalf("kubectl reads the document, the tree refuses it: %v", terr)
		case serr == nil:
			got, err := json.Marshal(tree)
			if err != nil {
				t.Fatalf("the tree cannot be written as JSON: %v", err)
			}
			if !reflect.DeepEqual(jsonValue(t, got), jsonValue(t, want)) {
				t.Fatalf("the tree as JSON differs from kubectl's:\n got %s\nwant %s", got, want)
			}
		case terr == nil && !isJSON:
			if _, err := json.Marshal(tree); err == nil {
				t.Fatalf("kubectl refuses the document (%v), the tree reads it", serr)
			}
		}
	})
}

// jsonValue decodes a JSON text; numbers compare by value.
func jsonValue(t *testing.T, js []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return v
}

// roundTrip writes s back as a manifest (YAML, with data base64) and checks that it decodes
// to the same Secret.
func roundTrip(t *testing.T, s *Secret) {
	t.Helper()
	meta := map[string]any{"name": s.Name, "namespace": s.Namespace}
	if s.UID != "" {
		meta["uid"] = s.UID
	}
	if s.ResourceVersion != "" {
		meta["resourceVersion"] = s.ResourceVersion
	}
	if !s.Created.IsZero() {
		meta["creationTimestamp"] = s.Created.Format(time.RFC3339Nano)
	}
	if s.Labels != nil {
		meta["labels"] = s.Labels
	}
	if s.Annotations != nil {
		meta["annotations"] = s.Annotations
	}
	if len(s.Owners) > 0 {
		var owners []map[string]any
		for _, o := range s.Owners {
			owners = append(owners, map[string]any{"apiVersion": o.APIVersion, "kind": o.Kind, "name": o.Name, "controller": o.Controller})
		}
		meta["ownerReferences"] = owners
	}
	data := map[string]string{}
	for k, v := range s.Data {
		data[k] = base64.StdEncoding.EncodeToString(v)
	}
	obj := map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data}
	if s.Type != "" {
		obj["type"] = s.Type
	}
	if s.Immutable {
		obj["immutable"] = true
	}
	y, err := sigsyaml.Marshal(obj)
	if err != nil {
		t.Fatalf("%s: marshal: %v", s.Ref(), err)
	}
	inv := readFuzzed(t, y)
	if len(inv.Problems) > 0 || len(inv.Secrets) != 1 {
		t.Fatalf("%s: re-encoded manifest does not decode to one Secret: %d secrets, problems %v", s.Ref(), len(inv.Secrets), inv.Problems)
	}
	got := inv.Secrets[0]
	want := *s
	want.Origin = got.Origin
	if !got.Created.Equal(want.Created) {
		t.Fatalf("%s: creationTimestamp %v became %v", s.Ref(), want.Created, got.Created)
	}
	want.Created = got.Created
	if len(want.Data) == 0 && len(got.Data) == 0 {
		want.Data = got.Data
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("%s: re-encoded Secret differs:\n got %+v\nwant %+v", s.Ref(), *got, want)
	}
	for k, v := range s.Data {
		if !bytes.Equal(got.Data[k], v) {
			t.Fatalf("%s key %q: value changed in the round trip", s.Ref(), k)
		}
	}
}

func sameInventory(a, b *Inventory) bool {
	return reflect.DeepEqual(a.Secrets, b.Secrets) && reflect.DeepEqual(a.Problems, b.Problems) &&
		reflect.DeepEqual(a.Workloads, b.Workloads) && reflect.DeepEqual(a.Others, b.Others)
}

// valueCanary starts every planted value: it must never appear in a problem, an error or a
// formatted Secret.
const valueCanary = "CANARYv4lu3x9"

// canaryTemplates place a value (%[2]s, already quoted as the template needs) under a key
// (%[1]s, JSON-quoted) in manifests that also fail in other ways, so that every error path
// runs with a value nearby.
var canaryTemplates = []string{
	// data value that is not base64
	"apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: ns}\ndata:\n  %[1]s: %[2]s\n",
	// stringData value next to an invalid key and a null value
	"apiVersion: v1\nkind: Secret\nmetadata: {name: a}\nstringData:\n  %[1]s: %[2]s\n  \"bad key!\": x\n  nul:\n",
	// the value as a literal block scalar
	"apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nstringData:\n  %[1]s: |\n%[3]s\n",
	// no name, labels that are not strings
	"apiVersion: v1\nkind: Secret\nmetadata: {labels: {a: 1}}\nstringData: {%[1]s: %[2]s}\n",
	// valid base64 of the value, with a type error elsewhere
	"apiVersion: v1\nkind: Secret\nmetadata: {name: a, creationTimestamp: yesterday}\ntype: [x]\ndata: {%[1]s: %[4]s}\n",
	// JSON, stringData value of the wrong type holding the value
	"{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"a\"},\"stringData\":{%[1]s:[%[2]s]},\"data\":{%[1]s:{\"v\":%[2]s}}}",
	// the value raw, unquoted, in flow style: it may break the YAML itself
	"apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {%[1]s: %[5]s}\n",
	// kubectl's last-applied annotation holding the value, and an immutable of the wrong type
	"apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: %[2]s\n    n: 1\nimmutable: %[2]s\ndata: {%[1]s: %[4]s}\n",
	// a List whose items hold the value, one of them a workload with a malformed spec
	"{\"kind\":\"List\",\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"},\"data\":{%[1]s:%[2]s}},{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"template\":{\"spec\":{\"containers\":%[2]s}}}}]}",
}

// FuzzManifestErrorsHideValues plants a value starting with a canary in manifests that fail to
// decode, and checks that no problem message, error text or formatted Secret contains it (nor
// its base64 form).
func FuzzManifestErrorsHideValues(f *testing.F) {
	for i := range canaryTemplates {
		f.Add(uint8(i), "password", "hunter2")
		f.Add(uint8(i), "tls.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
		f.Add(uint8(i), ".dockerconfigjson", `{"auths":{"r.io":{"auth":"dTpw"}}}`)
		f.Add(uint8(i), "k", "\x00\xff binary \t: - [ ] { } # & * ! | > ' \" % @ `")
	}
	f.Fuzz(func(t *testing.T, tmpl uint8, key, value string) {
		secret := valueCanary + value
		b64 := base64.StdEncoding.EncodeToString([]byte(secret))
		forbidden := []string{valueCanary, b64[:8]}
		for _, c := range forbidden {
			if strings.Contains(key, c) || strings.Contains(value, c) {
				t.Skip("the key or the rest of the value holds the canary: key names are shown on purpose")
			}
		}
		q, _ := json.Marshal(secret)
		qk, _ := json.Marshal(key)
		block := "    " + strings.ReplaceAll(secret, "\n", "\n    ")
		doc := fmt.Sprintf(canaryTemplates[int(tmpl)%len(canaryTemplates)], qk, q, block, b64, secret)
		inv := readFuzzed(t, []byte(doc))
		check := func(what, text string) {
			for _, c := range forbidden {
				if strings.Contains(text, c) {
					t.Fatalf("%s shows the planted value:\n%s\nmanifest:\n%s", what, text, doc)
				}
			}
		}
		for _, p := range inv.Problems {
			check("problem", p.Error())
			check("problem message", p.Message)
			check("problem name", p.Namespace+"/"+p.Name)
		}
		for _, s := range inv.Secrets {
			check("formatted secret", fmt.Sprintf("%v %+v %#v", s, s, s.Data))
			if js, err := json.Marshal(s); err == nil {
				check("JSON of a secret", string(js))
			}
			for k, v := range s.Annotations {
				check("annotation "+k, v)
			}
		}
		for _, w := range inv.Workloads {
			check("workload", fmt.Sprintf("%+v", w))
		}
	})
}
