//go:build linux

package sealed

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/bitnami/sealed-secrets/pkg/crypto"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/bench/internal/benchkit"
	"github.com/secretshift/secretshift/internal/testenv"
)

// The corpus is benchkit's: benchkit.DefaultSecrets Secrets (SECRETSHIFT_BENCH_SECRETS
// overrides the number), generated from benchkit.Seed, the same bytes bench/vault migrates.
const (
	// loopSample is how many Secrets the kubeseal loop seals; its time is extrapolated.
	loopSample = 100
	// keyBits, keyTTL and keyCN make the controller key as the sealed-secrets controller makes
	// its own with its defaults (--key-size 4096, --key-ttl ten years).
	keyBits = 4096
	keyTTL  = 10 * 365 * 24 * time.Hour
	keyCN   = "sealed-secret"
	// targetSpeedup is the target for x-faster-than-loop.
	targetSpeedup = 100
)

// fixture is what the benchmark needs before it measures anything: the binaries, the corpus,
// the controller key and the audit keys. It is built once per test binary run and removed by
// TestMain.
type fixture struct {
	root            string // temporary folder holding everything below
	secretshift     string // binary, built from this module
	kubeseal        string // the pinned kubeseal binary
	kubesealVersion string
	buildTime       time.Duration

	secrets []*benchkit.Secret
	full    string // corpus folder with every Secret
	small   string // corpus folder with the first tenth
	smallN  int
	sample  []*benchkit.Secret // every len/loopSample-th Secret, for the kubeseal loop
	genTime time.Duration

	priv       *rsa.PrivateKey // the controller's private key
	cert       string          // its certificate, cert.pem
	keyID      string          // the controller's id of the key (crypto.PublicKeyFingerprint)
	keygenTime time.Duration
	// keys are the fingerprint (HMAC) and audit signing keys every secretshift run is given, so
	// that no run makes its own and the unchanged re-run compares fingerprints under the same key.
	keys audit.KeyFiles
}

var fix benchkit.Fixture[*fixture]

func TestMain(m *testing.M) {
	fix.Main(m, "bench/sealed", "corpus, binary, controller key, sealed outputs, audit logs, journals")
}

// setup returns the shared fixture, building it on first use. Without the pinned kubeseal the
// benchmark skips under -short and fails otherwise, so `make bench` cannot pass by accident.
func setup(b *testing.B) *fixture {
	b.Helper()
	kubeseal := filepath.Join(testenv.BinDir(), "kubeseal")
	if _, err := os.Stat(kubeseal); err != nil {
		if testing.Short() {
			b.Skipf("kubeseal not found at %s (make tools): the kubeseal loop cannot be measured", kubeseal)
		}
		b.Fatalf("kubeseal not found at %s: build it with `make tools` ($%s overrides the folder)", kubeseal, testenv.EnvToolsBin)
	}
	return fix.Get(b, func() (*fixture, error) { return newFixture(kubeseal) })
}

func newFixture(kubeseal string) (*fixture, error) {
	n, err := benchkit.CorpusSize()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("bash"); err != nil {
		return nil, fmt.Errorf("the kubeseal loop needs bash on PATH: %w", err)
	}
	root, err := fix.TempDir("secretshift-bench-sealed-")
	if err != nil {
		return nil, err
	}
	f := &fixture{root: root, kubeseal: kubeseal}
	v, err := exec.Command(kubeseal, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w", kubeseal, err)
	}
	f.kubesealVersion = strings.TrimPrefix(strings.TrimSpace(string(v)), "kubeseal version: ")

	bins, took, err := benchkit.BuildTools(root, "./cmd/secretshift")
	if err != nil {
		return nil, err
	}
	f.buildTime, f.secretshift = took, bins[0]

	start := time.Now()
	f.secrets = benchkit.Generate(n, benchkit.Seed)
	if f.full, f.small, f.smallN, err = benchkit.WriteFullAndSmall(root, f.secrets); err != nil {
		return nil, err
	}
	f.sample = benchkit.Sample(f.secrets, loopSample)
	f.genTime = time.Since(start)

	// The controller's key, made by the sealed-secrets library as the controller makes it; only
	// its certificate goes to secretshift and kubeseal.
	start = time.Now()
	priv, cert, err := crypto.GeneratePrivateKeyAndCert(keyBits, keyTTL, keyCN)
	if err != nil {
		return nil, fmt.Errorf("generate the controller key: %w", err)
	}
	f.keygenTime = time.Since(start)
	f.priv, f.cert = priv, filepath.Join(root, "cert.pem")
	if err := os.WriteFile(f.cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		return nil, err
	}
	if f.keyID, err = crypto.PublicKeyFingerprint(&priv.PublicKey); err != nil {
		return nil, err
	}

	if f.keys, _, err = audit.Keygen(filepath.Join(root, "keys")); err != nil {
		return nil, fmt.Errorf("create audit keys: %w", err)
	}
	return f, nil
}

// workDir makes (or returns, for a re-run) the folder of one run.
func (f *fixture) workDir(b *testing.B, name string) string {
	b.Helper()
	d := filepath.Join(f.root, "runs", name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkSealedMigrate runs, side by side on this machine:
//
//   - the floor: crypto.HybridEncrypt of every value of the corpus for the controller's public
//     key, on one goroutine in this process (before and after secretshift; the mean counts);
//   - secretshift: the real `secretshift migrate --to sealed -f DIR --sealed-cert cert.pem
//     --sealed-out OUT` binary over the whole corpus, in a fresh working folder;
//   - the same command again over the unchanged Secrets (must change no file);
//   - secretshift on a tenth of the corpus, for peak RSS against corpus size;
//   - `secretshift discover -f DIR` alone: reading and classifying the manifests;
//   - the loop people run today on a sample: `kubeseal --cert cert.pem -o yaml < FILE > OUT`,
//     one process per Secret, extrapolated to the corpus.
func BenchmarkSealedMigrate(b *testing.B) {
	f := setup(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	n := len(f.secrets)
	r := &report{n: n, corpus: benchkit.StatsOf(f.secrets)}

	// Floor, secretshift, floor again: the machine's speed drifts, and the mean of the two
	// floors brackets the secretshift run.
	r.floor[0] = runFloor(b, f)
	r.full = runCLI(ctx, b, f, "secretshift-full", f.full)
	r.floor[1] = runFloor(b, f)

	// The unchanged re-run goes to the first run's working and output folders, as a user
	// repeating the command would; every output file is compared before and after.
	before := snapshot(b, r.full.out)
	r.rerun = runCLI(ctx, b, f, "secretshift-full", f.full)
	r.changed, r.outFiles = changedFiles(before, snapshot(b, r.full.out)), len(before)

	r.small = runCLI(ctx, b, f, "secretshift-small", f.small)
	r.parse = runDiscover(ctx, b, f)
	r.loop = runKubesealLoop(ctx, b, f)

	// Light correctness checks: one file per Secret not skipped, all listed in
	// kustomization.yaml; the sample opens with the controller's key to the Secret it came from;
	// the re-run left every byte as it was.
	skipped := r.full.counts["skipped"]
	if want := n - skipped; r.full.files != want || r.full.counts["created"] != want {
		b.Errorf("secretshift wrote %d SealedSecret files (%q), want %d (%d Secrets, %d skipped)", r.full.files, r.full.summary, want, n, skipped)
	}
	if r.full.listed != r.full.files {
		b.Errorf("kustomization.yaml lists %d resources, the folder holds %d SealedSecrets", r.full.listed, r.full.files)
	}
	if got, want := r.rerun.counts["unchanged"], n-skipped; got != want {
		b.Errorf("the re-run found %d unchanged, want %d: %q", got, want, r.rerun.summary)
	}
	if r.changed != 0 {
		b.Errorf("the unchanged re-run changed %d files of %s, want 0", r.changed, r.full.out)
	}
	r.unsealed = checkUnseal(b, f, r.full.out)
	r.report(b, f)
}

// cliRun is one measured run of the secretshift binary.
type cliRun struct {
	benchkit.Result
	out          string         // the --sealed-out folder
	summary      string         // secretshift's summary line on stderr
	apply        time.Duration  // the duration that line reports (apply: seal, write, read back)
	counts       map[string]int // its counts by result: created, unchanged, skipped, ...
	files        int            // SealedSecret files in out after the run
	listed       int            // resources kustomization.yaml lists
	auditRecords int
}

var summaryRE = regexp.MustCompile(`(?m)^migrate to sealed in (\S+): (.+)$`)

// runCLI runs `secretshift migrate --to sealed` over corpus in the working folder of name (the
// audit log and journal go to its .secretshift/, the SealedSecrets to its sealed/), with the
// fixture's fingerprint and audit signing keys and every other flag at its default.
func runCLI(ctx context.Context, b *testing.B, f *fixture, name, corpus string) cliRun {
	b.Helper()
	wd := f.workDir(b, name)
	r := cliRun{out: filepath.Join(wd, "sealed")}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + wd}
	args := []string{"migrate", "--to", "sealed", "-f", corpus, "--sealed-cert", f.cert, "--sealed-out", r.out,
		"--fingerprint-key", f.keys.HMACKey, "--audit-signing-key", f.keys.SigningKey}
	var err error
	if r.Result, err = benchkit.Run(ctx, wd, env, filepath.Join(wd, "stdout.txt"), f.secretshift, args...); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	var ok bool
	if r.summary, r.apply, r.counts, ok = benchkit.ParseSummary(summaryRE, r.Stderr); !ok {
		b.Fatalf("%s: no summary line on stderr:\n%s", name, benchkit.LastLines([]byte(r.Stderr), 10))
	}
	r.files, r.listed = countOutput(b, r.out)
	r.auditRecords = countRecords(b, filepath.Join(wd, filepath.FromSlash(audit.DefaultLogPath)))
	return r
}

// countOutput counts the SealedSecret files of an output folder (<namespace>/<name>.yaml) and
// the resources its kustomization.yaml lists.
func countOutput(b *testing.B, out string) (files, listed int) {
	b.Helper()
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Ext(p) == ".yaml" && filepath.Dir(p) != out {
			files++
		}
		return nil
	})
	if err != nil {
		b.Fatalf("list %s: %v", out, err)
	}
	raw, err := os.ReadFile(filepath.Join(out, "kustomization.yaml"))
	if err != nil {
		b.Fatalf("read kustomization.yaml: %v", err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		b.Fatalf("parse kustomization.yaml: %v", err)
	}
	return files, len(k.Resources)
}

// countRecords counts the records of an audit log.
func countRecords(b *testing.B, path string) int {
	b.Helper()
	records, _, err := benchkit.CountAudit(path)
	if err != nil {
		b.Fatal(err)
	}
	return records
}

// snapshot returns the SHA-256 of every file below dir, by path.
func snapshot(b *testing.B, dir string) map[string][sha256.Size]byte {
	b.Helper()
	out := map[string][sha256.Size]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = sha256.Sum256(raw)
		return nil
	})
	if err != nil {
		b.Fatalf("snapshot %s: %v", dir, err)
	}
	return out
}

// changedFiles counts the files whose content differs between two snapshots, or that are in
// only one of them.
func changedFiles(before, after map[string][sha256.Size]byte) int {
	n := 0
	for p, sum := range before {
		if got, ok := after[p]; !ok || got != sum {
			n++
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			n++
		}
	}
	return n
}

// checkUnseal opens the SealedSecrets secretshift wrote for the sample with the controller's
// private key, as the controller would, and compares every value with the corpus; it returns
// how many matched.
func checkUnseal(b *testing.B, f *fixture, out string) int {
	b.Helper()
	keys := map[string]*rsa.PrivateKey{f.keyID: f.priv}
	ok := 0
	for _, s := range f.sample {
		raw, err := os.ReadFile(filepath.Join(out, s.File()))
		if err != nil {
			b.Errorf("%s: %v", s.Ref(), err)
			continue
		}
		var ss ssv1alpha1.SealedSecret
		if err := yaml.Unmarshal(raw, &ss); err != nil {
			b.Errorf("%s: not a SealedSecret: %v", s.Ref(), err)
			continue
		}
		secret, err := ss.UnsealWithoutTemplate(runtimeserializer.CodecFactory{}, keys)
		if err != nil {
			b.Errorf("%s: the controller's key does not open it: %v", s.Ref(), err)
			continue
		}
		same := len(secret.Data) == len(s.Data) && string(secret.Type) == s.Type
		for k, v := range s.Data {
			same = same && bytes.Equal(secret.Data[k], v)
		}
		if !same {
			b.Errorf("%s: unsealed, it is not the Secret of the corpus", s.Ref())
			continue
		}
		ok++
	}
	return ok
}

// floorRun is one pass of the sealing floor over the corpus.
type floorRun struct {
	wall, cpu time.Duration
	values    int // HybridEncrypt calls: one per key of every Secret
}

// runFloor seals every value of the corpus with crypto.HybridEncrypt for the controller's
// public key, labelled for the strict scope as the library labels it, on this goroutine: one
// RSA-OAEP encryption of a session key and one AES-GCM pass per value, which any tool producing
// SealedSecrets must do. Its CPU time is this process's (user + system), GC included.
func runFloor(b *testing.B, f *fixture) floorRun {
	b.Helper()
	pub := &f.priv.PublicKey
	runtime.GC()
	var r floorRun
	cpu0, start := benchkit.SelfCPU(), time.Now()
	for _, s := range f.secrets {
		label := ssv1alpha1.EncryptionLabel(s.Namespace, s.Name, ssv1alpha1.StrictScope)
		for _, v := range s.Data {
			if _, err := crypto.HybridEncrypt(rand.Reader, pub, v, label); err != nil {
				b.Fatalf("seal a value of %s: %v", s.Ref(), err)
			}
			r.values++
		}
	}
	r.wall, r.cpu = time.Since(start), benchkit.SelfCPU()-cpu0
	return r
}

// runDiscover times `secretshift discover -f DIR -o json`: reading, decoding and classifying
// the manifests, which migrate does first.
func runDiscover(ctx context.Context, b *testing.B, f *fixture) benchkit.Result {
	b.Helper()
	res, err := benchkit.Discover(ctx, f.workDir(b, "discover"), f.secretshift, f.full, f.keys.HMACKey)
	if err != nil {
		b.Fatalf("discover: %v", err)
	}
	return res
}

// kubesealLoop is how people seal a folder of Secrets today: kubeseal once per manifest, with
// the controller's certificate from a file (no cluster is contacted).
const kubesealLoop = `set -euo pipefail
while read -r in out; do
  kubeseal --cert "$CERT" -o yaml < "$in" > "$out"
done < "$1"
`

// loopRun is the kubeseal loop's measurement: wall time, and the CPU time of bash and every
// kubeseal process it ran.
type loopRun struct {
	wall, cpu time.Duration
	peakRSS   int64 // of bash alone; each kubeseal is a child of it
}

// runKubesealLoop runs kubesealLoop over the sample into a fresh folder (its namespace folders
// made beforehand) and checks that every output is a SealedSecret of its Secret with one
// encrypted value per key.
func runKubesealLoop(ctx context.Context, b *testing.B, f *fixture) loopRun {
	b.Helper()
	wd := f.workDir(b, "kubeseal-loop")
	out := filepath.Join(wd, "sealed")
	var list strings.Builder
	for _, s := range f.sample {
		if err := os.MkdirAll(filepath.Join(out, s.Namespace), 0o700); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&list, "%s %s\n", filepath.Join(f.full, s.File()), filepath.Join(out, s.File()))
	}
	listPath, scriptPath, kubeconfig := filepath.Join(wd, "secrets.txt"), filepath.Join(wd, "loop.sh"), filepath.Join(wd, "kubeconfig")
	for path, body := range map[string]string{listPath: list.String(), scriptPath: kubesealLoop, kubeconfig: ""} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	env := []string{
		"PATH=" + filepath.Dir(f.kubeseal) + string(filepath.ListSeparator) + os.Getenv("PATH"),
		"HOME=" + wd, "KUBECONFIG=" + kubeconfig, "CERT=" + f.cert,
	}
	kidsCPU := benchkit.ChildrenCPU()
	res, err := benchkit.Run(ctx, wd, env, filepath.Join(wd, "stdout.txt"), "bash", scriptPath, listPath)
	if err != nil {
		b.Fatalf("kubeseal loop: %v", err)
	}
	// bash waited for every kubeseal, and this process for bash: their CPU time is in this
	// process's children's rusage.
	r := loopRun{wall: res.Wall, cpu: benchkit.ChildrenCPU() - kidsCPU, peakRSS: res.PeakRSS}

	for _, s := range f.sample {
		var ss ssv1alpha1.SealedSecret
		raw, err := os.ReadFile(filepath.Join(out, s.File()))
		if err == nil {
			err = yaml.Unmarshal(raw, &ss)
		}
		if err == nil && (ss.Name != s.Name || ss.Namespace != s.Namespace || len(ss.Spec.EncryptedData) != len(s.Data)) {
			err = errors.New("not the SealedSecret of this Secret")
		}
		if err != nil {
			b.Errorf("kubeseal loop, %s: %v", s.Ref(), err)
		}
	}
	return r
}

type report struct {
	n        int
	corpus   benchkit.Stats
	floor    [2]floorRun
	full     cliRun
	rerun    cliRun
	changed  int // files the re-run changed
	outFiles int // files in the output folder before the re-run (SealedSecrets, kustomization.yaml, lock)
	small    cliRun
	parse    benchkit.Result
	loop     loopRun
	unsealed int // sample SealedSecrets that opened to their Secret
}

func (r *report) report(b *testing.B, f *fixture) {
	n := float64(r.n)
	ssRate := n / r.full.Wall.Seconds()
	ssPerCore := n / r.full.CPU().Seconds()
	floorCPU := (r.floor[0].cpu + r.floor[1].cpu) / 2
	floorWall := (r.floor[0].wall + r.floor[1].wall) / 2
	floorPerCore := n / floorCPU.Seconds()
	pctFloor := 100 * ssPerCore / floorPerCore
	loopPer := r.loop.wall / time.Duration(len(f.sample))
	loopTotal := loopPer * time.Duration(r.n)
	speedup := loopTotal.Seconds() / r.full.Wall.Seconds()
	// Sealing at the floor's rate on every CPU is the fastest any tool can seal the corpus on
	// this machine, and so bounds the ratio to the loop.
	floorAllCPUs := time.Duration(float64(floorCPU) / float64(runtime.NumCPU()))
	maxSpeedup := loopTotal.Seconds() / floorAllCPUs.Seconds()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	mb := benchkit.MB

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r.full.Wall.Seconds(), "secretshift-s")
	b.ReportMetric(r.full.CPU().Seconds(), "secretshift-cpu-s")
	b.ReportMetric(ssRate, "secretshift-Secrets/s")
	b.ReportMetric(ssPerCore, "secretshift-Secrets/core-s")
	b.ReportMetric(floorPerCore, "floor-Secrets/core-s")
	b.ReportMetric(pctFloor, "pct-of-floor")
	b.ReportMetric(ms(loopPer), "loop-ms/Secret")
	b.ReportMetric(speedup, "x-faster-than-loop")
	b.ReportMetric(maxSpeedup, "floor-x-faster-than-loop")
	b.ReportMetric(r.rerun.Wall.Seconds(), "rerun-s")
	b.ReportMetric(float64(r.changed), "rerun-changed-files")
	b.ReportMetric(float64(r.full.files), "files-written")
	b.ReportMetric(mb(r.small.PeakRSS), fmt.Sprintf("peakRSS-%d-MB", f.smallN))
	b.ReportMetric(mb(r.full.PeakRSS), fmt.Sprintf("peakRSS-%d-MB", r.n))
	b.ReportMetric(f.keygenTime.Seconds(), "keygen-s")

	var t strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&t, format+"\n", a...) }
	c := r.corpus
	w("\n== BenchmarkSealedMigrate ==")
	w("corpus: %s", c)
	w("controller key: RSA-%d made by crypto.GeneratePrivateKeyAndCert in %s (key %s); kubeseal %s",
		keyBits, f.keygenTime.Round(time.Millisecond), f.keyID, f.kubesealVersion)
	w("build of secretshift: %s; corpus written in %s; every secretshift flag but the keys at its default; %d CPUs",
		f.buildTime.Round(time.Millisecond), f.genTime.Round(time.Millisecond), runtime.NumCPU())
	w("")
	w("%-46s %10s %10s %10s %15s %9s", "run", "wall", "Secrets/s", "CPU", "Secrets/core-s", "peak RSS")
	row := func(name string, wall, cpu time.Duration, secrets int, rss int64) {
		rssText := "-"
		if rss > 0 {
			rssText = fmt.Sprintf("%.0f MB", mb(rss))
		}
		w("%-46s %10s %10.0f %10s %15.0f %9s", name, wall.Round(time.Millisecond), float64(secrets)/wall.Seconds(),
			cpu.Round(10*time.Millisecond), float64(secrets)/cpu.Seconds(), rssText)
	}
	row("floor: HybridEncrypt per value, 1 goroutine, 1", r.floor[0].wall, r.floor[0].cpu, r.n, 0)
	row("secretshift migrate --to sealed", r.full.Wall, r.full.CPU(), r.n, r.full.PeakRSS)
	row("floor: HybridEncrypt per value, 1 goroutine, 2", r.floor[1].wall, r.floor[1].cpu, r.n, 0)
	row("secretshift migrate again (all unchanged)", r.rerun.Wall, r.rerun.CPU(), r.n, r.rerun.PeakRSS)
	row(fmt.Sprintf("secretshift migrate, %d Secrets", f.smallN), r.small.Wall, r.small.CPU(), f.smallN, r.small.PeakRSS)
	row("secretshift discover -f (reading only)", r.parse.Wall, r.parse.CPU(), r.n, r.parse.PeakRSS)
	row(fmt.Sprintf("kubeseal loop, %d Secrets (bash + kubeseal)", len(f.sample)), r.loop.wall, r.loop.cpu, len(f.sample), 0)
	w("")
	w("secretshift vs the floor: %.0f vs %.0f Secrets per core-second = %.1f %% of the floor; the floor is %d HybridEncrypt calls, %s each (wall, one goroutine);",
		ssPerCore, floorPerCore, pctFloor, r.floor[0].values, (floorWall / time.Duration(r.floor[0].values)).Round(time.Microsecond))
	w("  at the floor's rate the %d CPUs would seal the corpus in %s; secretshift took %s",
		runtime.NumCPU(), floorAllCPUs.Round(time.Millisecond), r.full.Wall.Round(time.Millisecond))
	w("secretshift vs kubeseal loop: loop %.1f ms/Secret (%s CPU each) -> %s for %d; secretshift %s = %.0fx faster  [target >= %dx: %s]",
		ms(loopPer), benchkit.PerItem(r.loop.cpu, len(f.sample)), loopTotal.Round(time.Second), r.n, r.full.Wall.Round(time.Millisecond),
		speedup, targetSpeedup, benchkit.Verdict(speedup >= targetSpeedup))
	w("  the most any tool can reach here: sealing at the floor's rate on all %d CPUs, %s, is %.0fx faster than the loop",
		runtime.NumCPU(), floorAllCPUs.Round(time.Millisecond), maxSpeedup)
	w("where secretshift's time goes: %s total = %s apply (its summary: seal, write, read back, record) + %s start, read, plan and report;",
		r.full.Wall.Round(time.Millisecond), r.full.apply, (r.full.Wall - r.full.apply).Round(time.Millisecond))
	w("  reading the manifests alone (discover) %s; CPU per Secret %s (the floor's: %s)",
		r.parse.Wall.Round(time.Millisecond), benchkit.PerItem(r.full.CPU(), r.n), benchkit.PerItem(floorCPU, r.n))
	w("output: %d SealedSecret files for %d Secrets (%d skipped), %d listed in kustomization.yaml; %d of the %d sampled open with the controller's key to their Secret, byte for byte",
		r.full.files, r.n, r.full.counts["skipped"], r.full.listed, r.unsealed, len(f.sample))
	w("first run: %s; audit log %d records", r.full.summary, r.full.auditRecords)
	w("re-run: %s; %d of %d files in the output folder changed (SHA-256 before and after)", r.rerun.summary, r.changed, r.outFiles)
	w("peak RSS of secretshift (VmHWM): %.0f MB at %d Secrets, %.0f MB at %d (%.1f MB per 1000 Secrets added); discover alone at %d: %.0f MB",
		mb(r.small.PeakRSS), f.smallN, mb(r.full.PeakRSS), r.n, (mb(r.full.PeakRSS)-mb(r.small.PeakRSS))/float64(r.n-f.smallN)*1000, r.n, mb(r.parse.PeakRSS))
	w("  (rusage Maxrss says %.0f and %.0f MB, but on Linux it cannot fall below the peak RSS this test process had reached when it started them: %.0f and %.0f MB)",
		mb(r.small.MaxRSS()), mb(r.full.MaxRSS()), mb(r.small.ParentPeak), mb(r.full.ParentPeak))
	w("the load average when this run ended: %s", benchkit.LoadAvg())
	// Printed, not logged: the testing package cuts benchmark logs after ten lines.
	fmt.Print(t.String())
}
