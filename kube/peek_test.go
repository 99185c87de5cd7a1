package kube

import (
	"strings"
	"testing"
)

func TestPeekSecret(t *testing.T) {
	const plain = "apiVersion: v1\nkind: Secret\nmetadata:\n  labels:\n    app.kubernetes.io/name: x\n  name: db\n  namespace: shop\ntype: Opaque\ndata:\n  password: c2VjcmV0\n  .dockerconfigjson: e30=\n"
	tests := []struct {
		name, doc string
		ns, n     string
		ok        bool
	}{
		{"plain", plain, "shop", "db", true},
		{"no namespace", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  a: Yg==\n", "", "db", true},
		{"metadata after data", "kind: Secret\ndata:\n  a: Yg==\napiVersion: v1\nmetadata:\n    namespace: n1\n    name: db\n", "n1", "db", true},
		{"a comment", "# note\n" + plain, "", "", false},
		{"quoted name", strings.Replace(plain, "name: db", `name: "db"`, 1), "", "", false},
		{"a list", plain + "  finalizers:\n  - x\n", "", "", false},
		{"a ConfigMap", strings.Replace(plain, "kind: Secret", "kind: ConfigMap", 1), "", "", false},
		{"another apiVersion", strings.Replace(plain, "apiVersion: v1", "apiVersion: v2", 1), "", "", false},
		{"a duplicate key", plain + "metadata:\n  name: other\n", "", "", false},
		{"a duplicate name", strings.Replace(plain, "  name: db\n", "  name: db\n  name: other\n", 1), "", "", false},
		{"a number for a name", strings.Replace(plain, "name: db", "name: 1234", 1), "", "", false},
		{"an anchor", strings.Replace(plain, "name: db", "name: &a db", 1), "", "", false},
		{"flow style", "{apiVersion: v1, kind: Secret, metadata: {name: db}}\n", "", "", false},
		{"CRLF", strings.ReplaceAll(plain, "\n", "\r\n"), "", "", false},
		{"tabs", strings.Replace(plain, "  name: db", "\tname: db", 1), "", "", false},
		{"a block scalar", plain + "stringData:\n  a: |\n    text\n", "", "", false},
		{"a continued scalar", strings.Replace(plain, "name: db\n", "name: db\n   more\n", 1), "", "", false},
		{"metadata with a value", strings.Replace(plain, "metadata:\n", "metadata: x\n", 1), "", "", false},
		{"no name", strings.Replace(plain, "  name: db\n", "", 1), "", "", false},
		{"indented document", "  apiVersion: v1\n  kind: Secret\n  metadata:\n    name: db\n", "", "", false},
		{"uneven metadata", "apiVersion: v1\nkind: Secret\nmetadata:\n    labels:\n      a: b\n  name: db\n", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, n, ok := peekSecret([]byte(tt.doc))
			if ok != tt.ok || ns != tt.ns || n != tt.n {
				t.Errorf("peekSecret = %q, %q, %v; want %q, %q, %v", ns, n, ok, tt.ns, tt.n, tt.ok)
			}
		})
	}
}

// TestPeekAgreesWithTheDecoder: whenever peekSecret names a Secret, the decoder names the same.
func TestPeekAgreesWithTheDecoder(t *testing.T) {
	docs := []string{
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\ndata:\n  a: Yg==\n",
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: kubernetes.io/tls\ndata:\n  tls.crt: Yg==\n  tls.key: Yg==\n",
		"kind: Secret\napiVersion: v1\nmetadata:\n  annotations:\n    a/b: c\n  namespace: team-01\n  name: x-1.y\nstringData:\n  k: v\n",
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: yes\n", // YAML 1.1 reads a boolean: the decoder refuses it
	}
	for _, doc := range docs {
		ns, name, ok := peekSecret([]byte(doc))
		if !ok {
			t.Errorf("peekSecret does not read\n%s", doc)
			continue
		}
		if ns == "" {
			ns = "default"
		}
		r := &manifestReader{defaultNS: "default"}
		r.readDocument([]byte(doc))
		for _, it := range r.items {
			if it.secret != nil && it.secret.Ref() != ns+"/"+name {
				t.Errorf("the decoder reads %s, peekSecret %s/%s", it.secret.Ref(), ns, name)
			}
		}
	}
}

// TestPeekMismatchIsReported: a document the decoder reads as another Secret than peekSecret
// did is reported by the shard that owns it by peekSecret's reading.
func TestPeekMismatchIsReported(t *testing.T) {
	r := &manifestReader{defaultNS: "default"}
	r.items = append(r.items, manifestItem{secret: &Secret{Namespace: "shop", Name: "other"}})
	r.checkPeek(0, "shop/db")
	if p := r.items[0].problem; p == nil || !strings.Contains(p.Message, "reads as Secret shop/other, but a plain reading of its metadata says shop/db") {
		t.Errorf("items after checkPeek: %+v", r.items[0])
	}
}
