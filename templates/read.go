package templates

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Manifests are the ESO objects of a folder Generate wrote (and its user may since have
// edited and kept in git): each as written, to be applied unchanged, with the typed view the
// checks read.
type Manifests struct {
	Stores          []Read[SecretStore]
	ServiceAccounts []Read[ServiceAccount]
	ExternalSecrets []Read[ExternalSecret]
	// Ignored are the documents of other kinds (path#n kind), left alone.
	Ignored []string
}

// Read is one object of a manifest file.
type Read[T any] struct {
	// Source is the file and, for a file of several documents, the document's number: path#2.
	Source string
	// Object is the object as written (JSON-compatible), what is applied.
	Object map[string]any
	// Typed is the object decoded into the generator's type (fields it does not know dropped).
	Typed T
}

// ReadManifests reads the ESO objects below path: a file, or a folder — through its
// kustomization.yaml's resources when it has one, else every .yaml/.yml file in it and its
// subfolders. A kustomization that does more than list resources (namespace, patches, name
// prefixes…) is refused: what it would render is not what the files say; render it first
// (kubectl kustomize DIR > eso.yaml) and read that file.
func ReadManifests(path string) (*Manifests, error) {
	files, err := manifestFiles(path, map[string]bool{})
	if err != nil {
		return nil, err
	}
	m := &Manifests{}
	for _, f := range files {
		if err := m.readFile(f); err != nil {
			return nil, err
		}
	}
	if len(m.ExternalSecrets) == 0 {
		return nil, fmt.Errorf("%s holds no ExternalSecret", path)
	}
	return m, nil
}

// kustomizeFields are the fields of a kustomization that only list what it holds.
var kustomizeFields = []string{"apiVersion", "kind", "resources"}

func manifestFiles(path string, seen map[string]bool) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	if seen[path] {
		return nil, fmt.Errorf("%s: kustomization resources form a cycle", path)
	}
	seen[path] = true
	k, err := os.ReadFile(filepath.Join(path, "kustomization.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		var files []string
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, p)
			}
			return nil
		})
		return files, err
	}
	if err != nil {
		return nil, err
	}
	kpath := filepath.Join(path, "kustomization.yaml")
	var kust map[string]json.RawMessage
	if err := yaml.UnmarshalStrict(k, &kust); err != nil {
		return nil, fmt.Errorf("%s: %w", kpath, err)
	}
	for field := range kust {
		if !slices.Contains(kustomizeFields, field) {
			return nil, fmt.Errorf("%s sets %s: the objects it renders are not the ones in its files; render it first (kubectl kustomize %s > eso.yaml) and give that file", kpath, field, path)
		}
	}
	var resources []string
	if err := json.Unmarshal(kust["resources"], &resources); err != nil && kust["resources"] != nil {
		return nil, fmt.Errorf("%s: resources: %w", kpath, err)
	}
	var files []string
	for _, r := range resources {
		if strings.Contains(r, "://") || filepath.IsAbs(r) {
			return nil, fmt.Errorf("%s: resource %s is not a file below it", kpath, r)
		}
		sub, err := manifestFiles(filepath.Join(path, r), seen)
		if err != nil {
			return nil, fmt.Errorf("%s: resource %s: %w", kpath, r, err)
		}
		files = append(files, sub...)
	}
	return files, nil
}

func (m *Manifests) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		source := path
		if n > 1 {
			source = fmt.Sprintf("%s#%d", path, n)
		}
		if err := m.add(source, doc); err != nil {
			return err
		}
	}
}

func (m *Manifests) add(source string, doc []byte) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	var obj map[string]any
	if err := json.Unmarshal(j, &obj); err != nil {
		if string(bytes.TrimSpace(j)) == "null" {
			return nil // a document of comments only
		}
		return fmt.Errorf("%s: not an object: %w", source, err)
	}
	if obj == nil {
		return nil
	}
	var tm TypeMeta
	_ = json.Unmarshal(j, &tm)
	group, _, _ := strings.Cut(tm.APIVersion, "/")
	switch {
	case group == "external-secrets.io" && tm.Kind == "ExternalSecret":
		return addTyped(&m.ExternalSecrets, source, obj, j)
	case group == "external-secrets.io" && (tm.Kind == KindSecretStore || tm.Kind == KindClusterSecretStore):
		return addTyped(&m.Stores, source, obj, j)
	case tm.APIVersion == "v1" && tm.Kind == "ServiceAccount":
		return addTyped(&m.ServiceAccounts, source, obj, j)
	default:
		m.Ignored = append(m.Ignored, source+" "+tm.Kind)
		return nil
	}
}

func addTyped[T any](to *[]Read[T], source string, obj map[string]any, j []byte) error {
	var typed T
	if err := json.Unmarshal(j, &typed); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	*to = append(*to, Read[T]{Source: source, Object: obj, Typed: typed})
	return nil
}
