package crash

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Secret is one generated Secret of a trial's corpus. Values are random bytes made for the
// trials only; the report never shows them.
type Secret struct {
	Namespace string
	Name      string
	Type      string
	Data      map[string][]byte
}

// Ref is "namespace/name".
func (s *Secret) Ref() string { return s.Namespace + "/" + s.Name }

// namespaces is how many namespaces a corpus spreads over.
const namespaces = 8

// oddKeys are valid Secret keys that stress name handling: dots, leading dots and dashes,
// underscores, upper case, long names.
var oddKeys = []string{".dotfile", "-leading-dash", "_under_score", "UPPER.Case-Key", "a..b", "config.d.01.json", "x-" + strings.Repeat("k", 100), "9starts-with-digit"}

// Generate returns n Secrets made from seed: the same seed gives the same Secrets. About a
// fifth hold a binary value (not valid UTF-8), about a fifth an odd key name.
func Generate(n int, seed uint64) []*Secret {
	r := rand.New(rand.NewPCG(seed, 0xc7a54))
	out := make([]*Secret, 0, n)
	for i := range n {
		s := &Secret{Namespace: fmt.Sprintf("crash-%02d", i%namespaces), Type: "Opaque", Data: map[string][]byte{}}
		switch k := r.IntN(10); {
		case k < 6:
			s.Name = fmt.Sprintf("app-config-%05d", i)
			for j := range 1 + r.IntN(4) {
				s.Data[fmt.Sprintf("setting-%d", j)] = text(r, 8+r.IntN(120))
			}
		case k < 8:
			s.Name = fmt.Sprintf("blob-%05d", i)
			s.Data["payload.bin"] = binary(r, 16+r.IntN(2000))
			s.Data["note"] = text(r, 12)
		default:
			s.Name = fmt.Sprintf("odd-keys-%05d", i)
			for range 1 + r.IntN(3) {
				s.Data[oddKeys[r.IntN(len(oddKeys))]] = text(r, 4+r.IntN(60))
			}
		}
		out = append(out, s)
	}
	return out
}

// text is printable ASCII with spaces and the odd newline.
func text(r *rand.Rand, n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_=+/:.,;!?@#%&*()[]{}\"'\\\n"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return b
}

// binary is random bytes that start with an invalid UTF-8 sequence, so the value is never
// text whatever follows.
func binary(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	b[0], b[1] = 0xff, 0xfe
	return b
}

// WriteCorpus writes each Secret as a manifest, dir/<namespace>/<name>.yaml.
func WriteCorpus(dir string, ss []*Secret) error {
	for _, s := range ss {
		data := make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			data[k] = base64.StdEncoding.EncodeToString(v)
		}
		b, err := yaml.Marshal(map[string]any{
			"apiVersion": "v1",
			"kind":       "Secret",
			"metadata":   map[string]any{"name": s.Name, "namespace": s.Namespace},
			"type":       s.Type,
			"data":       data,
		})
		if err != nil {
			return fmt.Errorf("encode manifest of %s: %w", s.Ref(), err)
		}
		p := filepath.Join(dir, s.Namespace, s.Name+".yaml")
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return fmt.Errorf("write manifest of %s: %w", s.Ref(), err)
		}
	}
	return nil
}
