//go:build linux

package azurekv

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/bench/internal/benchkit"
	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/internal/testenv/akv"
	kvprovider "github.com/secretshift/secretshift/providers/azurekv"
)

const (
	// keysPerSecret is the number of keys of every Secret migrated: the issue's "5,000 Secrets
	// × 3 keys". The corpus size is benchkit's (SECRETSHIFT_BENCH_SECRETS overrides it).
	keysPerSecret = 3
	// concurrency is secretshift's --concurrency (its default) and the raw loop's goroutines.
	concurrency = 16
	// checkSample is how many migrated Secrets are read back and compared byte for byte.
	checkSample = 100
)

// fixture is what every benchmark of the package shares: the binary, the corpus and the keys.
// It is built once per test binary run and removed by TestMain.
type fixture struct {
	root        string // temporary folder holding everything below
	secretshift string // binary, built from this module
	buildTime   time.Duration

	secrets []*benchkit.Secret // n Secrets of exactly keysPerSecret keys each
	scanned int                // Secrets of benchkit's corpus gone through to find them
	corpus  string             // one manifest per Secret
	genTime time.Duration

	// keys are the fingerprint (HMAC) and audit signing keys every secretshift run is given, so
	// that no run makes its own and the unchanged re-run compares fingerprints under the same key.
	keys audit.KeyFiles
}

var fix benchkit.Fixture[*fixture]

func TestMain(m *testing.M) {
	fix.Main(m, "bench/azurekv", "corpus, binary, every run's audit log, journal and report")
}

// setup returns the shared fixture, building it on first use. The benchmark takes minutes (the
// throttled run alone about 9 at full size), so it does not run with -short.
func setup(b *testing.B) *fixture {
	b.Helper()
	if testing.Short() {
		b.Skip("the Azure Key Vault benchmark takes minutes; not run with -short")
	}
	return fix.Get(b, newFixture)
}

func newFixture() (*fixture, error) {
	n, err := benchkit.CorpusSize()
	if err != nil {
		return nil, err
	}
	root, err := fix.TempDir("secretshift-bench-azurekv-")
	if err != nil {
		return nil, err
	}
	f := &fixture{root: root}
	bins, took, err := benchkit.BuildTools(root, "./cmd/secretshift")
	if err != nil {
		return nil, err
	}
	f.buildTime, f.secretshift = took, bins[0]

	start := time.Now()
	f.secrets, f.scanned = threeKeySecrets(n)
	f.corpus = filepath.Join(root, "corpus")
	if err := benchkit.WriteCorpus(f.corpus, f.secrets); err != nil {
		return nil, err
	}
	f.genTime = time.Since(start)

	if f.keys, _, err = audit.Keygen(filepath.Join(root, "keys")); err != nil {
		return nil, fmt.Errorf("create audit keys: %w", err)
	}
	return f, nil
}

// threeKeySecrets returns the first n Secrets of benchkit's corpus (benchkit.Seed) that have
// exactly keysPerSecret keys, every one of which Key Vault can store (at most 25 KB as stored),
// with their bytes as generated; and how many Secrets of the corpus it went through. About a
// quarter of the corpus qualifies: Opaque Secrets of three keys, TLS with a CA, basic-auth with
// a URL, and two-key Secrets with a binary keystore.
func threeKeySecrets(n int) ([]*benchkit.Secret, int) {
	// Generate draws every Secret from one seeded source in order, so the first m Secrets of a
	// larger corpus are the corpus of m: growing m only appends.
	for m := 5 * n; ; m *= 2 {
		var out []*benchkit.Secret
		for i, s := range benchkit.Generate(m, benchkit.Seed) {
			if fits(s) {
				out = append(out, s)
				if len(out) == n {
					return out, i + 1
				}
			}
		}
	}
}

func fits(s *benchkit.Secret) bool {
	if len(s.Data) != keysPerSecret {
		return false
	}
	for _, v := range s.Data {
		if stored, _ := storedValue(v); len(stored) > kvprovider.MaxValueBytes {
			return false
		}
	}
	return true
}

// storedValue is a value as the adapter stores it with the per-key layout: text when it is
// valid UTF-8, base64 otherwise, with the content type saying which (providers/azurekv's
// encodeKey). The raw loop writes the same.
func storedValue(v []byte) (value, contentType string) {
	if utf8.Valid(v) {
		return string(v), kvprovider.ContentTypeText
	}
	return base64.StdEncoding.EncodeToString(v), kvprovider.ContentTypeBinary
}

// secretName is the Key Vault secret of one key under the adapter's default per-key name
// template, {{.Namespace}}--{{.Name}}--{{.Key}}: lowercased, and every character outside
// a-z, 0-9 and '-' made '-'.
func secretName(s *benchkit.Secret, key string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s.Namespace+"--"+s.Name+"--"+key)
}

// sortedKeys are the keys of s in order, so that loops over a Secret are the same every run.
func sortedKeys(s *benchkit.Secret) []string { return slices.Sorted(maps.Keys(s.Data)) }

// newServer starts a fresh Key Vault server in this process, with the write limit of opts; it
// stops when the benchmark ends.
func newServer(b *testing.B, opts akv.Options) *akv.Server {
	b.Helper()
	return testenv.NewAKV(b, opts).Server
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

// cliRun is one measured run of the secretshift binary against a server.
type cliRun struct {
	benchkit.Result
	serverCPU time.Duration  // this process's CPU time during the run: the server's, mostly
	requests  []akv.Request  // what the server logged during the run
	summary   string         // the summary line on stderr
	apply     time.Duration  // the duration that line reports
	counts    map[string]int // its counts by result: created, unchanged, failed, ...
	notes     []string       // the adapter's notes on stderr: throttling, the client-side limit
}

var summaryRE = regexp.MustCompile(`(?m)^migrate to azurekv in (\S+): (.+)$`)

// migrate runs `secretshift migrate --to azurekv -f CORPUS` with the fixture's keys and extra
// flags in the working folder of name (its audit log and journal go to .secretshift/ there),
// with only PATH, HOME and the server's environment (vault URL, client credentials, authority
// host, certificate), and measures it.
func (f *fixture) migrate(ctx context.Context, b *testing.B, srv *akv.Server, name string, extra ...string) cliRun {
	b.Helper()
	wd := f.workDir(b, name)
	srvEnv, err := srv.Env(wd)
	if err != nil {
		b.Fatal(err)
	}
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + wd}, srvEnv...)
	args := append([]string{"migrate", "--to", "azurekv", "-f", f.corpus,
		"--fingerprint-key", f.keys.HMACKey, "--audit-signing-key", f.keys.SigningKey}, extra...)
	from, myCPU := len(srv.Requests()), benchkit.SelfCPU()
	var r cliRun
	if r.Result, err = benchkit.Run(ctx, wd, env, filepath.Join(wd, "stdout.txt"), f.secretshift, args...); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	r.serverCPU = benchkit.SelfCPU() - myCPU
	r.requests = srv.Requests()[from:]
	var ok bool
	if r.summary, r.apply, r.counts, ok = benchkit.ParseSummary(summaryRE, r.Stderr); !ok {
		b.Fatalf("%s: no summary line on stderr:\n%s", name, benchkit.LastLines([]byte(r.Stderr), 10))
	}
	for line := range strings.Lines(r.Stderr) {
		if strings.Contains(line, "throttled") || strings.Contains(line, "--azure-write-rate") {
			r.notes = append(r.notes, strings.TrimSpace(line))
		}
	}
	return r
}

// writes counts the write requests (PUT, PATCH, DELETE, POST to the vault) of a log, whatever
// their answer.
func writes(reqs []akv.Request) int {
	n := 0
	for _, q := range reqs {
		if q.Write {
			n++
		}
	}
	return n
}

// requestKinds counts a log's requests by "METHOD path status", most frequent first, with the
// secret's name and version in the path replaced by NAME and VERSION.
func requestKinds(reqs []akv.Request) []string {
	byKind := map[string]int{}
	for _, q := range reqs {
		byKind[fmt.Sprintf("%s %s %d", q.Method, pathKind(q.Path), q.Status)]++
	}
	kinds := slices.SortedFunc(maps.Keys(byKind), func(a, b string) int {
		if byKind[a] != byKind[b] {
			return byKind[b] - byKind[a]
		}
		return strings.Compare(a, b)
	})
	for i, k := range kinds {
		kinds[i] = fmt.Sprintf("%6d  %s", byKind[k], k)
	}
	return kinds
}

func pathKind(p string) string {
	switch {
	case strings.HasSuffix(p, "/oauth2/v2.0/token"):
		return "(token endpoint)"
	case strings.HasSuffix(p, "/.well-known/openid-configuration"):
		return "(openid configuration)"
	}
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) > 1 {
		segs[1] = "NAME"
	}
	if len(segs) > 2 && segs[2] != "versions" && segs[2] != "backup" && segs[2] != "recover" {
		segs[2] = "VERSION"
	}
	return "/" + strings.Join(segs, "/")
}
