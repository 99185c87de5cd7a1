package main

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitnami/sealed-secrets/pkg/crypto"

	"github.com/secretshift/secretshift/audit"
)

// sealedKey makes a controller key pair with the sealed-secrets library and saves the
// certificate and the private key as PEM files in the working folder.
func sealedKey(t *testing.T, name string, validFor time.Duration) (cert, key string) {
	t.Helper()
	priv, c, err := crypto.GeneratePrivateKeyAndCert(2048, validFor, "sealed-secret")
	if err != nil {
		t.Fatal(err)
	}
	cert, key = name+".crt", name+".key"
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)}), 0o600)
	return cert, key
}

// A whole Sealed Secrets migration through the command line, as a user runs it: plan (the
// certificate shown), migrate, re-run (nothing re-sealed), verify by decryption with the
// controller's key, a tampered file caught, the audit log intact, a saved plan refused for a
// renewed key, the stream on stdout — and no planted value in any output, file or record.
func TestSealedMigrationEndToEnd(t *testing.T) {
	inTempDir(t)
	canary := []byte("CANARY-sealed-cli-7f3a1c")
	bin := append([]byte("CANARY-bin-"), 0xff, 0x00, 0xfe)
	in := "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop, annotations: {team: shop}}\ntype: Opaque\n" +
		"stringData: {password: " + string(canary) + ", .hidden: dot}\n---\n" +
		"apiVersion: v1\nkind: Secret\nmetadata: {name: signing, namespace: payments}\ndata: {hmac.key: " + base64.StdEncoding.EncodeToString(bin) + "}\n"
	os.WriteFile("in.yaml", []byte(in), 0o600)
	cert, key := sealedKey(t, "controller", 24*time.Hour)
	var outputs []string
	run := func(want ExitCode, args ...string) runResult {
		t.Helper()
		r := runCLI(t, "", args...)
		outputs = append(outputs, r.stdout, r.stderr)
		if r.code != want {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, r.code, want, r.stdout, r.stderr)
		}
		return r
	}

	r := run(ExitOK, "plan", "--to", "sealed", "-f", "in.yaml", "--sealed-cert", cert, "--out", "plan.json")
	if !strings.Contains(r.stderr, "for the certificate sha256:") || !strings.Contains(r.stderr, "expires "+time.Now().Add(24*time.Hour).UTC().Format(time.DateOnly)) {
		t.Errorf("the plan does not show the certificate's fingerprint and expiry:\n%s", r.stderr)
	}
	run(ExitOK, "migrate", "--to", "sealed", "-f", "in.yaml", "--sealed-cert", cert)
	for _, f := range []string{"shop/db.yaml", "payments/signing.yaml", "kustomization.yaml"} {
		if _, err := os.Stat(filepath.Join("secretshift-sealed", f)); err != nil {
			t.Error(err)
		}
	}
	before, _ := os.ReadFile("secretshift-sealed/shop/db.yaml")
	r = run(ExitOK, "migrate", "--to", "sealed", "-f", "in.yaml", "--sealed-cert", cert)
	if after, _ := os.ReadFile("secretshift-sealed/shop/db.yaml"); !bytes.Equal(before, after) || !strings.Contains(r.stderr, "2 unchanged") {
		t.Errorf("a re-run re-sealed an unchanged Secret:\n%s", r.stderr)
	}
	r = run(ExitOK, "verify", "--to", "sealed", "-f", "in.yaml", "--sealed-cert", cert, "--sealed-private-key", key)
	if strings.Contains(r.stdout, "recorded-fingerprint") {
		t.Errorf("with the private key, verify still compared fingerprints only:\n%s", r.stdout)
	}
	run(ExitOK, "audit", "verify")

	// A SealedSecret changed in Git: verify with the key catches it.
	b := tamperValue(t, before, "password")
	os.WriteFile("secretshift-sealed/shop/db.yaml", b, 0o600)
	r = runCLI(t, "", "verify", "--to", "sealed", "-f", "in.yaml", "--sealed-cert", cert, "--sealed-private-key", key)
	outputs = append(outputs, r.stdout, r.stderr)
	if r.code == ExitOK || !strings.Contains(r.stdout+r.stderr, "cannot be unsealed") {
		t.Errorf("a tampered SealedSecret passed verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	os.WriteFile("secretshift-sealed/shop/db.yaml", before, 0o600)

	// The controller renewed its key since the plan was saved: apply refuses it.
	cert2, _ := sealedKey(t, "renewed", 24*time.Hour)
	r = runCLI(t, "", "apply", "plan.json", "--sealed-cert", cert2)
	outputs = append(outputs, r.stdout, r.stderr)
	if r.code == ExitOK || !strings.Contains(r.stderr, "plan again") {
		t.Errorf("a plan for another key was applied: exit %d\n%s", r.code, r.stderr)
	}
	// ...and a new run re-seals for it.
	r = run(ExitOK, "migrate", "--to", "sealed", "-f", "in.yaml", "--sealed-cert", cert2)
	if !strings.Contains(r.stdout, "rewrite") {
		t.Errorf("not re-sealed for the renewed key:\n%s", r.stdout)
	}

	// The stream: SealedSecrets on stdout, the report on stderr.
	r = run(ExitOK, "migrate", "--to", "sealed", "-f", "in.yaml", "--sealed-cert", cert, "--sealed-out", "-", "-o", "json")
	if strings.Count(r.stdout, "kind: SealedSecret") != 2 || !strings.Contains(r.stderr, `"kind": "Report"`) {
		t.Errorf("stream: stdout %d SealedSecrets; stderr:\n%s", strings.Count(r.stdout, "kind: SealedSecret"), r.stderr)
	}

	// An expired certificate: a clear error, nothing written, nothing audited.
	os.RemoveAll("fresh")
	expired, _ := sealedKey(t, "expired", -time.Hour)
	logBefore, _ := os.ReadFile(audit.DefaultLogPath)
	r = runCLI(t, "", "migrate", "--to", "sealed", "-f", "in.yaml", "--sealed-cert", expired, "--sealed-out", "fresh")
	outputs = append(outputs, r.stdout, r.stderr)
	if r.code != ExitError || !strings.Contains(r.stderr, "expired") {
		t.Errorf("expired certificate: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat("fresh"); err == nil {
		t.Error("an expired certificate created the output folder")
	}
	if logAfter, _ := os.ReadFile(audit.DefaultLogPath); !bytes.Equal(logBefore, logAfter) {
		t.Error("a run refused before any write appended to the audit log")
	}

	// No planted value anywhere: outputs, plan, audit log, journals, output files.
	filepath.Walk(".", func(path string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && path != "in.yaml" && !strings.HasSuffix(path, ".key") {
			b, _ := os.ReadFile(path)
			outputs = append(outputs, string(b))
		}
		return nil
	})
	all := strings.Join(outputs, "\n")
	for _, c := range [][]byte{canary, bin} {
		for _, enc := range []string{string(c), base64.StdEncoding.EncodeToString(c)} {
			if strings.Contains(all, enc) {
				t.Fatalf("a planted value appears in an output or file (%q)", enc)
			}
		}
	}
}

// tamperValue changes one base64 character in the middle of key's sealed value.
func tamperValue(t *testing.T, manifest []byte, key string) []byte {
	t.Helper()
	lines := strings.Split(string(manifest), "\n")
	for i, l := range lines {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+": "); ok {
			c := byte('A')
			if v[len(v)/2] == 'A' {
				c = 'B'
			}
			lines[i] = l[:len(l)-len(v)/2-len(v)%2] + string(c) + l[len(l)-len(v)/2-len(v)%2+1:]
			return []byte(strings.Join(lines, "\n"))
		}
	}
	t.Fatalf("no %s in the manifest", key)
	return nil
}

// verify of a stream is a usage error, not a list of missing targets.
func TestVerifyOfAStreamIsAUsageError(t *testing.T) {
	inTempDir(t)
	cert, _ := sealedKey(t, "controller", time.Hour)
	writeSecretFile(t, "in.yaml", "shop", "db")
	r := runCLI(t, "", "verify", "--to", "sealed", "-f", "in.yaml", "--sealed-cert", cert, "--sealed-out", "-")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "stream") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
}
