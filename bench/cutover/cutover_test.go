package cutover

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/cutover"
	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/internal/testenv/vaultapi"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	vaultprovider "github.com/secretshift/secretshift/providers/vault"
	"github.com/secretshift/secretshift/templates"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.NeedKube|testenv.NeedVault) }

const namespaces = 10

// absence follows a sample of Secrets with GETs in a loop and adds up, per Secret, the time
// between the first answer "not found" and the next answer that found it.
type absence struct {
	polls, notFound atomic.Int64
	mu              sync.Mutex
	absent          map[string]time.Duration
	stop            chan struct{}
	wg              sync.WaitGroup
}

func watchAbsence(b *testing.B, cfg *rest.Config, refs [][2]string) *absence {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.RateLimiter = -1, nil
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	a := &absence{absent: map[string]time.Duration{}, stop: make(chan struct{})}
	const pollers = 8
	for w := range pollers {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			gone := map[string]time.Time{}
			for {
				for i := w; i < len(refs); i += pollers {
					select {
					case <-a.stop:
						return
					default:
					}
					ns, name := refs[i][0], refs[i][1]
					_, err := cs.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
					now := time.Now()
					a.polls.Add(1)
					key := ns + "/" + name
					switch {
					case apierrors.IsNotFound(err):
						a.notFound.Add(1)
						if _, ok := gone[key]; !ok {
							gone[key] = now
						}
					case err == nil:
						if since, ok := gone[key]; ok {
							a.mu.Lock()
							a.absent[key] += now.Sub(since)
							a.mu.Unlock()
							delete(gone, key)
						}
					}
				}
			}
		}()
	}
	return a
}

// finish stops the pollers and returns the Secrets seen absent, the mean and the longest
// absence among them, and their sum.
func (a *absence) finish() (n int, mean, longest, total time.Duration) {
	close(a.stop)
	a.wg.Wait()
	for _, d := range a.absent {
		n++
		total += d
		longest = max(longest, d)
	}
	if n > 0 {
		mean = total / time.Duration(n)
	}
	return n, mean, longest, total
}

type corpus struct {
	secrets []*kube.Secret
	sample  [][2]string
}

// seed creates count Secrets in namespaces prefix-0..9, with a token Secret for ESO in each,
// and writes each into p as a migration would.
func seed(b *testing.B, k *testenv.Kube, cs kubernetes.Interface, p providers.Provider, fp *audit.Fingerprinter, token, prefix string, count int) *corpus {
	ctx := context.Background()
	c := &corpus{}
	for n := range namespaces {
		ns := fmt.Sprintf("%s-%d", prefix, n)
		if err := k.CreateNamespace(ctx, ns); err != nil {
			b.Fatal(err)
		}
		tok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vault-token", Namespace: ns}, StringData: map[string]string{"token": token}}
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, tok, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	var mu sync.Mutex
	idx := make([]int, count)
	for i := range idx {
		idx[i] = i
	}
	err := job.Each(ctx, idx, job.Limits{Concurrency: 16}, func(ctx context.Context, i int) error {
		ns := fmt.Sprintf("%s-%d", prefix, i%namespaces)
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%04d", i), Namespace: ns}, Data: map[string][]byte{
			"username": []byte("user-" + strconv.Itoa(i)), "password": []byte(fmt.Sprintf("pw-%d-%d", i, time.Now().UnixNano())), "url": []byte("https://svc.example/" + strconv.Itoa(i)),
		}}
		got, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		ks := &kube.Secret{Namespace: ns, Name: got.Name, UID: string(got.UID), Type: string(got.Type), Data: kube.Data(got.Data), ResourceVersion: got.ResourceVersion}
		pl := providers.PayloadOf(ks)
		pl.Fingerprint, pl.FingerprintKeyID = fp.Set(ks.EffectiveType(), ks.Data), fp.KeyID()
		t, err := p.Target(pl.Ref)
		if err != nil {
			return err
		}
		if _, err := p.Write(ctx, t, pl, ""); err != nil {
			return err
		}
		mu.Lock()
		c.secrets = append(c.secrets, ks)
		if i%10 == 0 {
			c.sample = append(c.sample, [2]string{ns, got.Name})
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		b.Fatalf("seed: %v", err)
	}
	return c
}

func BenchmarkCutover(b *testing.B) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		b.Skip("kubectl not on PATH: the old recipe cannot run")
	}
	count := 1000
	if v, err := strconv.Atoi(os.Getenv("SECRETSHIFT_BENCH_SECRETS")); err == nil && v > 0 {
		count = v
	}
	k := testenv.RequireKube(b)
	eso := testenv.RequireESO(b, k)
	testenv.RequireGC(b, k)
	v := testenv.NewVault(b, vaultapi.Options{})
	cs, err := k.Clientset()
	if err != nil {
		b.Fatal(err)
	}
	cfg := vaultprovider.NewConfig().(*vaultprovider.Config)
	cfg.Address, cfg.ESO.TokenSecret = v.Addr, "vault-token/token"
	cfg.Getenv = func(key string) string {
		if key == "BAO_TOKEN" {
			return v.Token
		}
		return ""
	}
	p, err := cfg.Open(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	fp, err := audit.NewFingerprinter([]byte("bench-cutover-fingerprint-key-0123456789"))
	if err != nil {
		b.Fatal(err)
	}
	manifests := templates.Input{Auth: providers.ExternalAuth{Method: "token"}, RefreshInterval: "1h"}

	for range b.N {
		// secretshift cutover, in place.
		ours := seed(b, k, cs, p, fp, v.Token, "bench-ours", count)
		cluster, err := kube.NewCluster(k.Config)
		if err != nil {
			b.Fatal(err)
		}
		watch := watchAbsence(b, k.Config, ours.sample)
		start := time.Now()
		rep, err := cutover.Run(context.Background(), ours.secrets, cutover.Options{Provider: p, Fingerprinter: fp, Cluster: cluster, Manifests: manifests,
			RunID: "bench", Timeout: 5 * time.Minute, SkipControllerCheck: true, Limits: job.Limits{Concurrency: 32}})
		oursWall := time.Since(start)
		oursAbsent, _, oursLongest, oursTotal := watch.finish()
		if err != nil {
			b.Fatalf("cutover: %v\n%s", err, eso.LogTail(20))
		}
		if rep.Counts[cutover.ResultAdopted] != count {
			b.Fatalf("cutover: %v, want %d adopted", rep.Counts, count)
		}
		b.Logf("secretshift cutover: %d Secrets in %s (%.0f/s); poller: %d GETs on %d Secrets, %d not found, %d Secrets absent (longest %s, sum %s)",
			count, oursWall.Round(time.Millisecond), float64(count)/oursWall.Seconds(), watch.polls.Load(), len(ours.sample), watch.notFound.Load(), oursAbsent, oursLongest, oursTotal)

		// The old recipe: delete every original, then kubectl apply -k the manifests, then wait.
		old := seed(b, k, cs, p, fp, v.Token, "bench-old", count)
		in := manifests
		in.Reader, in.Provider = p.(providers.ExternalReader), p.Name()
		for _, s := range old.secrets {
			t, _ := p.Target(providers.Ref{Namespace: s.Namespace, Name: s.Name})
			in.Items = append(in.Items, templates.Item{Namespace: s.Namespace, Name: s.Name, Type: s.EffectiveType(),
				Refs: p.(providers.ExternalReader).ExternalRefs(t, providers.PayloadOf(s))})
		}
		bundle, err := templates.Generate(in)
		if err != nil {
			b.Fatal(err)
		}
		dir := b.TempDir()
		if err := bundle.Write(dir); err != nil {
			b.Fatal(err)
		}
		watch = watchAbsence(b, k.Config, old.sample)
		start = time.Now()
		for n := range namespaces {
			ns := fmt.Sprintf("bench-old-%d", n)
			if out, err := exec.Command("kubectl", "--kubeconfig", k.Kubeconfig, "delete", "secret", "-n", ns, "--field-selector", "metadata.name!=vault-token", "--wait=false").CombinedOutput(); err != nil {
				b.Fatalf("kubectl delete: %v\n%s", err, out)
			}
		}
		if out, err := exec.Command("kubectl", "--kubeconfig", k.Kubeconfig, "apply", "-k", dir).CombinedOutput(); err != nil {
			b.Fatalf("kubectl apply -k: %v\n%s", err, out)
		}
		for _, s := range old.secrets {
			if err := cluster.Wait(context.Background(), 5*time.Minute, func(ctx context.Context) (bool, string, error) {
				_, err := cs.CoreV1().Secrets(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
				return err == nil, "not recreated", nil
			}); err != nil {
				b.Fatalf("%s: %v\n%s", s.Ref(), err, eso.LogTail(20))
			}
		}
		oldWall := time.Since(start)
		oldAbsent, oldMean, oldLongest, oldTotal := watch.finish()
		b.Logf("delete + kubectl apply -k: %d Secrets in %s; poller: %d GETs on %d Secrets, %d not found, %d Secrets absent (mean %s, longest %s, sum %s)",
			count, oldWall.Round(time.Millisecond), watch.polls.Load(), len(old.sample), watch.notFound.Load(), oldAbsent, oldMean.Round(time.Millisecond), oldLongest.Round(time.Millisecond), oldTotal.Round(time.Millisecond))
		b.ReportMetric(oursWall.Seconds(), "cutover-s")
		b.ReportMetric(oursTotal.Seconds(), "cutover-absent-s")
		b.ReportMetric(oldWall.Seconds(), "recipe-s")
		b.ReportMetric(oldMean.Seconds(), "recipe-absent-s/Secret")
		b.ReportMetric(oldLongest.Seconds(), "recipe-absent-max-s")
	}
}
