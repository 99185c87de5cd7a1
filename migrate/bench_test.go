package migrate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
)

// BenchmarkApplyAudit runs plan + apply of 2,000 Secrets against the in-memory provider, with
// and without an audit log, so the engine's own cost of auditing shows without a server's noise.
// bench/vault measures the same against Vault's KV engine.
func BenchmarkApplyAudit(b *testing.B) {
	var ss []*kube.Secret
	for i := range 2000 {
		ss = append(ss, secret(fmt.Sprintf("ns%d", i%20), fmt.Sprintf("s%04d", i), "username", "admin", "password", fmt.Sprint(i), "tls.crt", "cert"))
	}
	signer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, ed25519.SeedSize))
	fp, err := audit.NewFingerprinter(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		b.Fatal(err)
	}
	for _, audited := range []bool{false, true} {
		b.Run(fmt.Sprintf("audit=%t", audited), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				m := newMem()
				opts := Options{Provider: m, Fingerprinter: fp, Concurrency: 16,
					JournalDir: filepath.Join(b.TempDir(), "journal"), RunID: "run-1"}
				var log *audit.Log
				if audited {
					var err error
					if log, err = audit.Open(filepath.Join(b.TempDir(), "audit.jsonl"), audit.Options{Signer: signer, Fingerprinter: opts.Fingerprinter, RunID: "run-1"}); err != nil {
						b.Fatal(err)
					}
					opts.Recorder = log
				}
				b.StartTimer()
				plan, err := BuildPlan(context.Background(), cands(ss...), SourceSpec{}, opts)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Apply(context.Background(), plan, sources(ss...), opts); err != nil {
					b.Fatal(err)
				}
				if log != nil {
					if err := log.Close(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(ss)), "µs/Secret")
		})
	}
}
