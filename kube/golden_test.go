package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/audit"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// testFingerprintKey is a fixed key so golden fingerprints are stable. Test material only.
var testFingerprintKey = []byte("secretshift-golden-test-key-0001")

func testFingerprinter(t *testing.T) Fingerprinter {
	t.Helper()
	fp, err := audit.NewFingerprinter(testFingerprintKey)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// corpusCanaries are values (and base64 forms of values) found in the corpus. None may appear
// in any output: the report shows key names, sizes and keyed fingerprints only.
var corpusCanaries = []string{
	"my-password", "my-token", "t0p-Secret", "toor", "dG9vcg==", "YWRtaW4=", "cm9vdA==",
	"my-service-principle-client", "bXktc2VydmljZS1wcmluY2lwbGUtY2xpZW50LWlkCg==",
	"shhhh", "your-bitbucket-uuid", "kq4gihvszzgn1p0r", "a3E0Z2lodnN6emduMXAwcg==",
	"REPLACE_WITH_BASE64", "<path:secret/testing", "BEGIN OPENSSH PRIVATE KEY", "resolve_timeout",
	"prometheus-k8s.monitoring.svc", "UG91cmluZzYlRW1vdGljb24lU2N1YmE=", "Pouring6%Emoticon",
	"eyJhdXRocyI6", "openmesame", "<your-client-private-key>", "my-secret\"", "{\\\"foo\\\"",
	"1583789194", "YmFyCg==",
	// Ciphertext and key material of the SOPS and SealedSecret manifests: never echoed either.
	"ENC[", "AES256_GCM", "BEGIN AGE", "age1yt3", "AgA+dujiBo", "AgCC4/FvhZ", "AgBtYQzl3T",
}

// TestCorpusGolden runs every file of the public corpus through discovery, with the SOPS
// output of secretshift's own SOPS target (testdata/sops). Each object must end as migrate,
// skip with a reason, or an error naming file, document, object and key.
func TestCorpusGolden(t *testing.T) {
	opts := Options{
		Files: []string{"testdata/corpus/k8s-secrets", "testdata/corpus/eso-examples",
			"testdata/corpus/sealed-secrets", "testdata/sops"},
		Fingerprinter: testFingerprinter(t),
		KeepValues:    true,
	}
	report, err := Discover(context.Background(), opts)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	got, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		t.Fatalf("marshal report: %v", err)
	}
	got = append(got, '\n')

	for _, c := range corpusCanaries {
		if bytes.Contains(got, []byte(c)) {
			t.Errorf("report contains the value %q", c)
		}
	}
	for _, p := range report.Errors {
		if p.Origin.File == "" || p.Message == "" {
			t.Errorf("error without origin or message: %+v", p)
		}
	}

	golden := filepath.Join("testdata", "corpus.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./kube -run TestCorpusGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report differs from %s (rerun with -update after checking the change):\n%s", golden, lineDiff(string(want), string(got)))
	}

	// Bytes must come through exactly: trailing newlines kept, block-scalar chomping honoured.
	values := map[string]map[string]string{
		"default/azure-secret-sp":            {"ClientID": "my-service-principle-client-id\n", "ClientSecret": "my-service-principle-client-secret\n"},
		"default/basic-auth":                 {"password": "toor", "user": "admin"},
		"default/secret-basic-auth":          {"username": "admin", "password": "t0p-Secret"},
		"default/secret-sa-sample":           {"extra": "bar\n"},
		"default/vault-token":                {"token": "root"},
		"default/secret-ssh-auth":            {"ssh-privatekey": "Pouring6%Emoticon%Scuba"},
		"argocd/my-private-ssh-repo":         {"sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----\n", "insecure": "true"},
		"external-secrets/vault-tls-cert":    {"tls.key": "-----BEGIN PRIVATE KEY-----\n<your-client-private-key>\n-----END PRIVATE KEY-----\n"},
		"default/source-secret":              {"source-key": "my-secret"},
		"kube-system/bootstrap-token-5emitj": {"token-secret": "kq4gihvszzgn1p0r", "expiration": "2020-09-13T04:39:10Z"},
		"default/secret-dockercfg":           {".dockercfg": "{\"auths\":{\"https://example/v1/\":{\"auth\":\"opensesame\"}}}\n"},
	}
	seen := map[string]bool{}
	for _, it := range report.Items {
		want, ok := values[it.Ref()]
		if !ok {
			continue
		}
		seen[it.Ref()] = true
		for k, v := range want {
			if got := string(it.Secret.Data[k]); got != v {
				t.Errorf("%s key %s: got %d bytes, want %d bytes (values differ)", it.Ref(), k, len(got), len(v))
			}
		}
	}
	for ref := range values {
		if !seen[ref] {
			t.Errorf("%s not reported as an item", ref)
		}
	}
	alert := findItem(t, report, "monitoring/alertmanager-main")
	if v := alert.Secret.Data["alertmanager.yaml"]; len(v) == 0 || v[len(v)-1] == '\n' {
		t.Errorf("alertmanager.yaml: a |- block must not end in a newline")
	}
}

func findItem(t *testing.T, r *Discovery, ref string) *Item {
	t.Helper()
	for i := range r.Items {
		if r.Items[i].Ref() == ref {
			return &r.Items[i]
		}
	}
	t.Fatalf("%s not in report", ref)
	return nil
}

// lineDiff reports the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
			if shown++; shown == 10 {
				break
			}
		}
	}
	return b.String()
}

// WriteJSON must produce byte for byte what json.Encoder with SetIndent writes, for any report.
func TestWriteJSONMatchesEncoder(t *testing.T) {
	full, err := Discover(context.Background(), Options{Files: []string{"testdata/corpus", StdinPath},
		Stdin: strings.NewReader(consumerManifests), Fingerprinter: testFingerprinter(t)})
	if err != nil {
		t.Fatal(err)
	}
	// More items than one window of parallel encoding (jsonWindow), ending mid-window.
	many := *full
	many.Items = nil
	for i := 0; len(many.Items) < 2*jsonWindow+7; i++ {
		it := full.Items[i%len(full.Items)]
		it.Name = fmt.Sprintf("%s-%d", it.Name, i)
		many.Items = append(many.Items, it)
	}
	for name, r := range map[string]*Discovery{
		"full":  full,
		"many":  &many,
		"empty": {APIVersion: ReportAPIVersion, Kind: ReportKind, Items: []Item{}, MissingReferences: []MissingRef{}, Errors: []ObjectError{}},
		"nil":   {},
	} {
		t.Run(name, func(t *testing.T) {
			var want, got bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			if err := enc.Encode(r); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteJSON(&got); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("WriteJSON differs from json.Encoder:\n%s", lineDiff(want.String(), got.String()))
			}
		})
	}
}
