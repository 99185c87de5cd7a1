// Command sops measures how fast the sops provider encrypts Secrets to files compared with
// running the sops binary once per file, the way a shell loop over `sops -e` would.
//
//	go run ./bench/sops [-n 5000] [-sample 200] [-sops .tools/bin/sops]
//
// The headline is the whole `secretshift migrate --to sops` command over all n Secret
// manifests (one process, audit log and journal on, timed from outside) against a loop of
// `sops -e` processes, one per file, as a shell loop runs them: the sops binary encrypts a
// sample sequentially and its per-file time is extrapolated to n. Below it, the provider
// library alone encrypts all n with a worker pool of GOMAXPROCS, reads them back, and
// encrypts the sample with one worker. All values are random test bytes, written under a
// temporary folder that is removed afterwards.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"go.yaml.in/yaml/v3"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/bench/internal/benchkit"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/providers/sops"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/sops:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 5000, "number of Secrets the provider encrypts")
	sample := flag.Int("sample", 200, "number of Secrets the sops binary encrypts (and the one-worker provider run)")
	bin := flag.String("sops", defaultSops(), "sops binary")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "provider workers")
	flag.Parse()
	if *sample > *n {
		*sample = *n
	}
	sopsBin, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(sopsBin); err != nil {
		return fmt.Errorf("sops binary: %w (build it from tools/sops or pass -sops)", err)
	}

	dir, err := os.MkdirTemp("", "secretshift-bench-sops-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "age.key")
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		return err
	}
	recipient := id.Recipient().String()
	fp, err := audit.NewFingerprinter(bytes.Repeat([]byte{7}, audit.MinKeyLen))
	if err != nil {
		return err
	}
	secrets := generate(*n)
	ctx := context.Background()

	// sops binary, once per file, over the sample. It runs first: on Linux a child's peak RSS
	// starts from its parent's size at fork, so this keeps the measurement about sops itself.
	plainDir := filepath.Join(dir, "plain")
	encDir := filepath.Join(dir, "sops")
	for _, d := range []string{plainDir, encDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	for i, s := range secrets[:*sample] {
		b, err := plainManifest(s)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(plainDir, fmt.Sprintf("%05d.yaml", i)), b, 0o600); err != nil {
			return err
		}
	}
	start := time.Now()
	for i := range secrets[:*sample] {
		name := fmt.Sprintf("%05d.yaml", i)
		out, err := os.OpenFile(filepath.Join(encDir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		cmd := exec.Command(sopsBin, "-e", "--age", recipient, "--encrypted-regex", "^(data|stringData)$", filepath.Join(plainDir, name))
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
		cmd.Stdout = out
		err = cmd.Run()
		out.Close()
		if err != nil {
			return fmt.Errorf("sops -e %s: %w", name, err)
		}
	}
	sopsTime := time.Since(start)

	_, children := peakRSS()

	// The whole secretshift command over all n, as a user runs it: one process, timed from
	// outside, with its audit log and journal on.
	cmdRes, err := wholeCommand(ctx, dir, secrets, recipient, keyFile)
	if err != nil {
		return err
	}

	// Provider, worker pool over all n.
	pool, err := openProvider(ctx, filepath.Join(dir, "pool"), recipient, keyFile)
	if err != nil {
		return err
	}
	start = time.Now()
	if err := encryptAll(ctx, pool, secrets, fp, *workers); err != nil {
		return err
	}
	poolTime := time.Since(start)

	// Read every file back (decrypt + MAC check), the engine's verification step.
	start = time.Now()
	if err := readAll(ctx, pool, secrets, *workers); err != nil {
		return err
	}
	readTime := time.Since(start)

	// Provider, one worker over the sample.
	seq, err := openProvider(ctx, filepath.Join(dir, "seq"), recipient, keyFile)
	if err != nil {
		return err
	}
	start = time.Now()
	if err := encryptAll(ctx, seq, secrets[:*sample], fp, 1); err != nil {
		return err
	}
	seqTime := time.Since(start)

	self, _ := peakRSS()
	perPool := poolTime / time.Duration(*n)
	perSeq := seqTime / time.Duration(*sample)
	perSops := sopsTime / time.Duration(*sample)
	perRead := readTime / time.Duration(*n)
	fmt.Printf("sops provider benchmark: %d Secrets (%d keys, %d value bytes each on average), GOMAXPROCS=%d, %s/%s\n",
		*n, keysPer, avgBytes(secrets), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("%-44s %10s %12s %14s\n", "", "files", "total", "per file")
	fmt.Printf("%-44s %10d %12s %14s\n", fmt.Sprintf("provider, %d workers (encrypt+write)", *workers), *n, round(poolTime), perPool)
	fmt.Printf("%-44s %10d %12s %14s\n", fmt.Sprintf("provider, %d workers (read back+verify)", *workers), *n, round(readTime), perRead)
	fmt.Printf("%-44s %10d %12s %14s\n", "provider, 1 worker (encrypt+write)", *sample, round(seqTime), perSeq)
	fmt.Printf("%-44s %10d %12s %14s\n", "sops binary, one process per file", *sample, round(sopsTime), perSops)
	fmt.Printf("%-44s %10d %12s %14s\n", "sops binary, extrapolated", *n, round(perSops*time.Duration(*n)), perSops)
	fmt.Printf("%-44s %10d %12s %14s\n", "secretshift migrate --to sops (whole command)", *n, round(cmdRes.Wall), cmdRes.Wall/time.Duration(*n))
	fmt.Printf("whole command: %s wall, %s CPU, peak RSS %.0f MB; `sops -e` per file x %d = %s\n",
		round(cmdRes.Wall), round(cmdRes.CPU()), benchkit.MB(cmdRes.PeakRSS), *n, round(perSops*time.Duration(*n)))
	ratio := float64(perSops*time.Duration(*n)) / float64(cmdRes.Wall)
	fmt.Printf("headline: the whole secretshift command is %.1fx a loop of sops -e processes  [target >= %dx: %s]\n",
		ratio, targetWholeCommand, benchkit.Verdict(ratio >= targetWholeCommand))
	fmt.Printf("library only: %.1fx with the worker pool, %.1fx with one worker (sops per file / provider per file)\n",
		float64(perSops)/float64(perPool), float64(perSops)/float64(perSeq))
	fmt.Printf("peak RSS: this process %s, largest sops child %s\n", mib(self), mib(children))
	return nil
}

const keysPer = 4

// generate makes n Secrets across 10 namespaces with random values of typical sizes: a user
// name, a password, a connection string and a PEM-sized blob.
func generate(n int) []*kube.Secret {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(size int) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	out := make([]*kube.Secret, n)
	for i := range out {
		out[i] = &kube.Secret{
			Namespace: fmt.Sprintf("bench-%02d", i%10),
			Name:      fmt.Sprintf("app-%05d", i),
			Type:      "Opaque",
			Labels:    map[string]string{"app.kubernetes.io/name": fmt.Sprintf("app-%05d", i)},
			Data: kube.Data{
				"username": []byte(fmt.Sprintf("user-%05d", i)),
				"password": []byte(base64.RawURLEncoding.EncodeToString(random(24))),
				"dsn":      []byte(fmt.Sprintf("postgres://user-%05d:%s@db:5432/app\n", i, base64.RawURLEncoding.EncodeToString(random(18)))),
				"tls.key":  random(1200),
			},
		}
	}
	return out
}

func avgBytes(ss []*kube.Secret) int {
	total := 0
	for _, s := range ss {
		total += s.Data.Size()
	}
	return total / len(ss)
}

func openProvider(ctx context.Context, out, recipient, keyFile string) (providers.Provider, error) {
	c := sops.NewConfig()
	c.Out = out
	c.AgeRecipients = []string{recipient}
	c.AgeKeyFile = keyFile
	return c.Open(ctx)
}

func encryptAll(ctx context.Context, p providers.Provider, secrets []*kube.Secret, fp *audit.Fingerprinter, workers int) error {
	return parallel(secrets, workers, func(s *kube.Secret) error {
		pl := providers.PayloadOf(s)
		pl.Fingerprint = fp.Set(s.EffectiveType(), s.Data)
		t, err := p.Target(pl.Ref)
		if err != nil {
			return err
		}
		if err := p.Check(t, pl); err != nil {
			return err
		}
		_, err = p.Write(ctx, t, pl, "")
		return err
	})
}

func readAll(ctx context.Context, p providers.Provider, secrets []*kube.Secret, workers int) error {
	return parallel(secrets, workers, func(s *kube.Secret) error {
		t, err := p.Target(providers.PayloadOf(s).Ref)
		if err != nil {
			return err
		}
		st, err := p.Read(ctx, t)
		if err != nil {
			return err
		}
		if st.Data == nil || len(st.Data) != len(s.Data) {
			return fmt.Errorf("read back %s: values differ", s.Ref())
		}
		for k, v := range s.Data {
			if !bytes.Equal(st.Data[k], v) {
				return fmt.Errorf("read back %s: key %s differs", s.Ref(), k)
			}
		}
		return nil
	})
}

func parallel(secrets []*kube.Secret, workers int, f func(*kube.Secret) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(secrets) {
					return
				}
				if err := f(secrets[i]); err != nil {
					errs <- err
					next.Store(int64(len(secrets)))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// plainManifest renders the same Secret manifest the provider encrypts, for the sops binary.
func plainManifest(s *kube.Secret) ([]byte, error) {
	data := map[string]string{}
	for k, v := range s.Data {
		data[k] = base64.StdEncoding.EncodeToString(v)
	}
	return yaml.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata":   map[string]any{"name": s.Name, "namespace": s.Namespace, "labels": s.Labels},
		"type":       s.EffectiveType(),
		"data":       data,
	})
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func mib(kib int64) string {
	if kib < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

func defaultSops() string {
	if d := os.Getenv("SECRETSHIFT_TOOLS_BIN"); d != "" {
		return filepath.Join(d, "sops")
	}
	return filepath.Join(".tools", "bin", "sops")
}
