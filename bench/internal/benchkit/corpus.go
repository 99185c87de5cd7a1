package benchkit

import (
	"encoding/base64"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

const (
	// DefaultSecrets is the size of a benchmark's full migration; EnvSecrets overrides it.
	DefaultSecrets = 5000
	// EnvSecrets names the variable that sets the corpus size: a smaller number gives a quick
	// trial run of a whole benchmark.
	EnvSecrets = "SECRETSHIFT_BENCH_SECRETS"
	// Seed fixes the generated Secrets, so that runs, and benchmarks of different stores,
	// migrate the same bytes.
	Seed = 20240611
	// Namespaces is how many namespaces the corpus spreads over (team-00, team-01, ...).
	Namespaces = 25
)

// CorpusSize returns DefaultSecrets, or the number EnvSecrets gives (at least 10).
func CorpusSize() (int, error) { return EnvSize(EnvSecrets, DefaultSecrets) }

// EnvSize returns def, or the number the environment variable name gives (at least 10): the
// size of a benchmark's corpus, which a smaller number turns into a quick trial run.
func EnvSize(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 10 {
		return 0, fmt.Errorf("%s=%q: want a number of Secrets, at least 10", name, v)
	}
	return n, nil
}

// Secret is one generated Secret. Values are random bytes made for the benchmarks only.
type Secret struct {
	Namespace string
	Name      string
	Type      string
	Labels    map[string]string
	Data      map[string][]byte
}

// Ref is "namespace/name".
func (s *Secret) Ref() string { return s.Namespace + "/" + s.Name }

// File is where the Secret's manifest is written below a corpus folder:
// <namespace>/<name>.yaml.
func (s *Secret) File() string { return filepath.Join(s.Namespace, s.Name+".yaml") }

// Size is the total of the value bytes.
func (s *Secret) Size() int {
	n := 0
	for _, v := range s.Data {
		n += len(v)
	}
	return n
}

// Stats describes a generated corpus, for the reports.
type Stats struct {
	Secrets, Keys, Binary, Large int
	Bytes                        int
	MinKeys, MaxKeys             int
}

// StatsOf counts the Secrets of ss, their keys and value bytes, the Secrets holding a value that
// is not UTF-8 (Binary) and those holding a value of 10 KB or more (Large).
func StatsOf(ss []*Secret) Stats {
	st := Stats{Secrets: len(ss), MinKeys: 1 << 30}
	for _, s := range ss {
		st.Keys += len(s.Data)
		st.Bytes += s.Size()
		st.MinKeys = min(st.MinKeys, len(s.Data))
		st.MaxKeys = max(st.MaxKeys, len(s.Data))
		binary, large := false, false
		for _, v := range s.Data {
			binary = binary || !utf8.Valid(v)
			large = large || len(v) >= 10<<10
		}
		if binary {
			st.Binary++
		}
		if large {
			st.Large++
		}
	}
	return st
}

// Shares of the generated corpus. Most Secrets in real clusters are small Opaque ones holding a
// few credentials; TLS and SSH keys bring PEM blocks of a few KB; keystores bring binary values;
// a few carry large config bundles.
const (
	binaryEvery = 12  // about 8 % of Secrets get a binary keystore value
	largeEvery  = 100 // 1 % get one value of 10-50 KB
)

// Generate returns n Secrets, the same ones for the same n and seed: 2-6 keys each, spread over
// Namespaces namespaces; 70 % Opaque, 15 % TLS, 10 % basic-auth, 5 % SSH keys. None is of a
// kind secretshift skips.
func Generate(n int, seed uint64) []*Secret { return GenerateIn(n, Namespaces, seed) }

// GenerateIn is Generate over namespaces namespaces instead of Namespaces.
func GenerateIn(n, namespaces int, seed uint64) []*Secret {
	r := rand.New(rand.NewPCG(seed, 0x5ec7e75))
	apps := []string{"billing", "checkout", "catalog", "search", "auth", "gateway", "orders", "payments", "ledger", "notify", "reports", "media"}
	out := make([]*Secret, 0, n)
	for i := range n {
		app := apps[r.IntN(len(apps))]
		s := &Secret{
			Namespace: fmt.Sprintf("team-%02d", i%namespaces),
			Labels:    map[string]string{"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "shop"},
			Data:      map[string][]byte{},
		}
		switch k := r.IntN(100); {
		case k < 70:
			s.Type, s.Name = "Opaque", fmt.Sprintf("%s-config-%04d", app, i)
			opaque(r, s.Data, 2+r.IntN(5))
		case k < 85:
			s.Type, s.Name = "kubernetes.io/tls", fmt.Sprintf("%s-tls-%04d", app, i)
			s.Data["tls.crt"] = pem(r, "CERTIFICATE", 1200+r.IntN(2800))
			s.Data["tls.key"] = pem(r, "PRIVATE KEY", 240+r.IntN(1500))
			if r.IntN(2) == 0 {
				s.Data["ca.crt"] = pem(r, "CERTIFICATE", 1100+r.IntN(800))
			}
		case k < 95:
			s.Type, s.Name = "kubernetes.io/basic-auth", fmt.Sprintf("%s-db-%04d", app, i)
			s.Data["username"] = []byte(app + "_svc")
			s.Data["password"] = password(r, 16+r.IntN(25))
			if r.IntN(2) == 0 {
				s.Data["url"] = []byte(fmt.Sprintf("postgres://%s.%s.svc:5432/%s?sslmode=require", app, s.Namespace, app))
			}
		default:
			s.Type, s.Name = "kubernetes.io/ssh-auth", fmt.Sprintf("%s-deploy-key-%04d", app, i)
			s.Data["ssh-privatekey"] = pem(r, "OPENSSH PRIVATE KEY", 400+r.IntN(2200))
			s.Data["known_hosts"] = []byte(fmt.Sprintf("git.example.com ssh-ed25519 %s\n", base64.StdEncoding.EncodeToString(randBytes(r, 51))))
		}
		if i%binaryEvery == 3 && len(s.Data) < 6 {
			s.Data["keystore.p12"] = randBytes(r, 1500+r.IntN(4500))
		}
		if i%largeEvery == 7 {
			if len(s.Data) == 6 {
				delete(s.Data, s.spareKey())
			}
			big := 10<<10 + r.IntN(40<<10)
			if r.IntN(2) == 0 {
				s.Data["bundle.bin"] = randBytes(r, big)
			} else {
				s.Data["settings.json"] = jsonText(r, big)
			}
		}
		out = append(out, s)
	}
	return out
}

// Sample returns up to n Secrets spread evenly over ss (every len(ss)/n-th, from the first),
// for the per-Secret loops whose time the benchmarks extrapolate to the whole corpus.
func Sample(ss []*Secret, n int) []*Secret {
	var out []*Secret
	step := max(1, len(ss)/n)
	for i := 0; i < len(ss) && len(out) < n; i += step {
		out = append(out, ss[i])
	}
	return out
}

// spareKey names a key that can go to make room for another: the first in sorted order that
// its Secret type does not require (sorted, so the corpus is the same on every run).
func (s *Secret) spareKey() string {
	keys := slices.Sorted(maps.Keys(s.Data))
	for _, k := range keys {
		if !strings.HasPrefix(k, "tls.") && k != "ssh-privatekey" && k != "username" && k != "password" {
			return k
		}
	}
	return keys[len(keys)-1]
}

// opaque fills d with n application credentials of typical shapes.
func opaque(r *rand.Rand, d map[string][]byte, n int) {
	names := []string{"password", "api-key", "token", "client-id", "client-secret", "DATABASE_URL", "REDIS_URL", "webhook-secret", "config.json", "smtp-password", "jwt-signing-key", "s3-secret-access-key"}
	for _, i := range r.Perm(len(names))[:n] {
		switch k := names[i]; k {
		case "DATABASE_URL", "REDIS_URL":
			d[k] = []byte(fmt.Sprintf("postgres://app:%s@db-%d.internal:5432/app", password(r, 24), r.IntN(9)))
		case "config.json":
			d[k] = jsonText(r, 200+r.IntN(1800))
		case "jwt-signing-key":
			d[k] = pem(r, "PRIVATE KEY", 240+r.IntN(1500))
		case "client-id":
			d[k] = []byte(fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff))
		case "token", "api-key", "webhook-secret":
			d[k] = []byte(fmt.Sprintf("%x", randBytes(r, 16+r.IntN(16))))
		default:
			d[k] = password(r, 16+r.IntN(25))
		}
	}
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func password(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return b
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// pem is a PEM block of about n bytes of random content (shaped like a key or certificate,
// not a usable one).
func pem(r *rand.Rand, kind string, n int) []byte {
	body := base64.StdEncoding.EncodeToString(randBytes(r, n*3/4))
	var b strings.Builder
	b.WriteString("-----BEGIN " + kind + "-----\n")
	for len(body) > 64 {
		b.WriteString(body[:64] + "\n")
		body = body[64:]
	}
	b.WriteString(body + "\n-----END " + kind + "-----\n")
	return []byte(b.String())
}

// jsonText is a JSON document of about n bytes.
func jsonText(r *rand.Rand, n int) []byte {
	var b strings.Builder
	b.WriteString("{\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "  %q: %q,\n", fmt.Sprintf("setting_%d", i), password(r, 8+r.IntN(40)))
	}
	b.WriteString("  \"version\": 1\n}\n")
	return []byte(b.String())
}

// WriteCorpus writes one manifest per Secret below dir (dir/<namespace>/<name>.yaml), as a
// `kubectl get secret -o yaml` dump kept in Git would look.
func WriteCorpus(dir string, ss []*Secret) error {
	for _, s := range ss {
		data := make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			data[k] = base64.StdEncoding.EncodeToString(v)
		}
		obj := map[string]any{
			"apiVersion": "v1",
			"kind":       "Secret",
			"metadata":   map[string]any{"name": s.Name, "namespace": s.Namespace, "labels": s.Labels},
			"type":       s.Type,
			"data":       data,
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("encode manifest of %s: %w", s.Ref(), err)
		}
		p := filepath.Join(dir, s.File())
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return fmt.Errorf("write manifest of %s: %w", s.Ref(), err)
		}
	}
	return nil
}

// WriteFullAndSmall writes the corpus ss twice below root: every Secret to root/corpus-full,
// and the first tenth (smallN of them) to root/corpus-small.
func WriteFullAndSmall(root string, ss []*Secret) (full, small string, smallN int, err error) {
	smallN = len(ss) / 10
	full, small = filepath.Join(root, "corpus-full"), filepath.Join(root, "corpus-small")
	if err := WriteCorpus(full, ss); err != nil {
		return "", "", 0, err
	}
	if err := WriteCorpus(small, ss[:smallN]); err != nil {
		return "", "", 0, err
	}
	return full, small, smallN, nil
}
