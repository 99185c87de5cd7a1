package kube

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sync/errgroup"
)

// StdinPath is the path that means standard input in ReadManifests.
const StdinPath = "-"

// stdinOrigin is how standard input is named in Origin.File.
const stdinOrigin = "<stdin>"

// ReadOptions say how ReadManifests reads.
type ReadOptions struct {
	// Stdin is read for the path "-".
	Stdin io.Reader
	// Namespace, when set, keeps only the objects of that namespace, as a namespaced list
	// would, and is the namespace of objects that name none. When empty, every namespace is
	// kept and objects that name none are put in "default".
	Namespace string
	// ExcludePaths are files and folders never read (the output folder of the same run, so
	// that `-f .` does not read it back). They are compared as real paths: absolute, cleaned,
	// symbolic links resolved. A path given for input inside one is an error
	// (ErrExcludedPath); inside a walked folder it is passed over.
	ExcludePaths []string
	// Shard, when set, passes over the Secrets of other shards (Filter.Shard) that peekSecret
	// can name without decoding them: they are kept in Others by name only and counted in
	// InOtherShards. Only for a Filter that selects by nothing but namespace and shard.
	Shard func(namespace, name string) bool
	// Decoded, when set, is called with each Secret decoded without problems, in the
	// goroutine that decoded its file, before the files' results are merged (so also for
	// Secrets the merge leaves out); it may change the Secret (drop its values).
	Decoded func(*Secret)
}

// ReadManifests reads Kubernetes manifests from files, directories and "-" for stdin.
// Directories are walked recursively for *.yaml, *.yml and *.json files whose names do not
// start with "." (hidden folders are not entered); a file named explicitly is read whatever
// its name. Symbolic links are followed, to folders as to files; a file reached twice is read
// once, and a link leading back into a folder being walked is an error.
//
// Each file may hold several YAML documents, a JSON object or a stream of JSON objects; List
// kinds (List, SecretList, ...) are expanded. Secrets are decoded strictly: data values must be
// base64 strings, stringData values strings, and stringData is merged over data as the API
// server does. Secrets encrypted with SOPS and SealedSecrets are kept as Secrets with
// Encrypted set and no Data: their values are ciphertext. Workloads, ServiceAccounts and
// Ingresses are kept as consumers; other kinds are ignored.
//
// Templated manifests (Helm, Jinja `{% raw %}` blocks) are not rendered: such a document is
// reported as a Problem, like any other malformed one. A path that cannot be read is an error;
// a malformed object is a Problem and the other objects are still read.
func ReadManifests(paths []string, opts ReadOptions) (*Inventory, error) {
	defaultNamespace := opts.Namespace
	if defaultNamespace == "" {
		defaultNamespace = "default"
	}
	// Files are decoded in parallel, each into its own list of results; the lists are then
	// merged in the order the files were named, so the outcome (order, duplicates reported at
	// the second definition) is the same as reading one file after another.
	type unit struct {
		name string
		data []byte // stdin, already read
		file bool
	}
	var units []unit
	files, err := newFileLister(opts.ExcludePaths)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		if p == StdinPath {
			if opts.Stdin == nil {
				return nil, errors.New("read manifests from stdin: no input stream")
			}
			data, err := io.ReadAll(opts.Stdin)
			if err != nil {
				return nil, fmt.Errorf("read manifests from stdin: %w", err)
			}
			units = append(units, unit{name: stdinOrigin, data: data})
			continue
		}
		n := len(files.files)
		if err := files.add(p); err != nil {
			return nil, err
		}
		for _, f := range files.files[n:] {
			units = append(units, unit{name: f, file: true})
		}
	}
	readers := make([]*manifestReader, len(units))
	errs := make([]error, len(units))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, u := range units {
		g.Go(func() error {
			if u.file {
				var err error
				if u.data, err = os.ReadFile(u.name); err != nil {
					errs[i] = fmt.Errorf("read manifest %s: %w", u.name, err)
					return nil
				}
			}
			r := &manifestReader{defaultNS: defaultNamespace, shard: opts.Shard, decoded: opts.Decoded}
			r.readStream(u.name, u.data)
			readers[i] = r
			return nil
		})
	}
	_ = g.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	inv := &Inventory{}
	seen := map[string]Origin{} // namespace/name of every Secret kept, and where it is defined
	for _, r := range readers {
		for _, it := range r.items {
			// With a namespace, objects of other namespaces are left out, as a namespaced list
			// leaves them out; problems of objects whose namespace is unknown are kept.
			if ns := it.namespace(); opts.Namespace != "" && ns != "" && ns != opts.Namespace {
				continue
			}
			switch {
			case it.problem != nil:
				inv.Problems = append(inv.Problems, *it.problem)
			case it.workload != nil:
				inv.Workloads = append(inv.Workloads, *it.workload)
			case it.other != nil:
				inv.Others = append(inv.Others, *it.other)
				if it.otherShard {
					inv.otherShard = append(inv.otherShard, *it.other)
				}
			case it.secret != nil:
				s := it.secret
				// A plain Secret and its encrypted form (a SealedSecret, a SOPS file) side by
				// side is the normal state of a migration, not a duplicate.
				key := s.Ref()
				if s.Encrypted != nil {
					key += "|" + fmt.Sprint(s.Encrypted.By)
				}
				if first, dup := seen[key]; dup {
					inv.Problems = append(inv.Problems, ObjectError{Kind: s.manifestKind(), Namespace: s.Namespace, Name: s.Name, Origin: s.Origin,
						Message: fmt.Sprintf("defined twice, first at %s; keep one definition", first)})
					continue
				}
				seen[key] = s.Origin
				inv.Secrets = append(inv.Secrets, s)
			}
		}
	}
	return inv, nil
}

// manifestReader decodes the objects of one file, in order.
type manifestReader struct {
	defaultNS string
	// shard is ReadOptions.Shard, decoded ReadOptions.Decoded.
	shard   func(namespace, name string) bool
	decoded func(*Secret)
	items   []manifestItem
	// inSOPS is set while the items of a SOPS-encrypted List are read: the sops metadata is
	// the List's, not theirs.
	inSOPS bool
	// file and index locate the object being decoded.
	file  string
	index int
}

// manifestItem is one result of decoding, exactly one field set.
type manifestItem struct {
	secret   *Secret
	workload *Workload
	problem  *ObjectError
	other    *SecretKeys
	// otherShard marks an other that is a Secret of another shard, passed over undecoded.
	otherShard bool
}

func (it manifestItem) namespace() string {
	switch {
	case it.secret != nil:
		return it.secret.Namespace
	case it.workload != nil:
		return it.workload.Namespace
	case it.problem != nil:
		return it.problem.Namespace
	case it.other != nil:
		return it.other.Namespace
	}
	return ""
}

func (r *manifestReader) origin() Origin { return Origin{File: r.file, Index: r.index} }

func (r *manifestReader) problem(p ObjectError) {
	p.Origin = r.origin()
	r.items = append(r.items, manifestItem{problem: &p})
}

// readStream decodes every document of one file.
func (r *manifestReader) readStream(name string, data []byte) {
	r.file, r.index = name, 0
	for _, doc := range splitDocuments(data) {
		for _, js := range jsonStream(doc) {
			r.readDocument(js)
		}
	}
}

// readDocument decodes one YAML or JSON document, which counts as one object (or as many as
// its List holds). Documents that are empty or hold only comments are not counted.
func (r *manifestReader) readDocument(doc []byte) {
	var peeked string // namespace/name peekSecret read, for a Secret of this shard
	if r.shard != nil {
		if ns, name, ok := peekSecret(doc); ok {
			if ns == "" {
				ns = r.defaultNS
			}
			if !r.shard(ns, name) {
				r.items = append(r.items, manifestItem{other: &SecretKeys{Namespace: ns, Name: name}, otherShard: true})
				r.index++
				return
			}
			peeked = ns + "/" + name
			defer r.checkPeek(len(r.items), peeked)
		}
	}
	v, err := decodeTree(doc)
	if err != nil {
		msg := "malformed YAML: " + safeYAMLError(err)
		if errors.Is(err, errMalformedJSON) {
			msg = err.Error()
		}
		r.problem(ObjectError{Message: msg})
		r.index++
		return
	}
	if v == nil {
		return
	}
	r.readObject(v, "", "")
}

// checkPeek turns the items decoded from a document since from into a problem when the
// decoder named another Secret than peekSecret did: the other shards passed the document over
// by peekSecret's reading, so it must not go unreported.
func (r *manifestReader) checkPeek(from int, peeked string) {
	for i := from; i < len(r.items); i++ {
		it := &r.items[i]
		var ref string
		switch {
		case it.secret != nil:
			ref = it.secret.Ref()
		case it.other != nil:
			ref = it.other.Namespace + "/" + it.other.Name
		default:
			continue
		}
		if ref != peeked {
			p := ObjectError{Kind: "Secret", Origin: r.origin(), Message: fmt.Sprintf(
				"the document reads as Secret %s, but a plain reading of its metadata says %s, by which the other shards passed it over; write its metadata plainly", ref, peeked)}
			if it.secret != nil {
				p.Origin = it.secret.Origin
			}
			*it = manifestItem{problem: &p}
		}
	}
}

// readObject decodes one object. listKind and listAPIVersion supply kind and apiVersion to
// the items of typed lists (SecretList items carry neither).
func (r *manifestReader) readObject(v any, listKind, listAPIVersion string) {
	defer func() { r.index++ }()
	obj, ok := v.(map[string]any)
	if !ok {
		r.problem(ObjectError{Message: "document must be an object, got " + kindOf(v)})
		return
	}
	kind, err1 := stringField(obj, "kind")
	apiVersion, err2 := stringField(obj, "apiVersion")
	if err := errors.Join(err1, err2); err != nil {
		r.problem(ObjectError{Message: err.Error()})
		return
	}
	if kind == "" {
		kind, apiVersion = listKind, listAPIVersion
	}
	encrypted := r.inSOPS || hasSOPSMetadata(obj)
	if items, ok := obj["items"]; ok && strings.HasSuffix(kind, "List") {
		outer := r.inSOPS
		r.inSOPS = encrypted
		r.readList(kind, apiVersion, items)
		r.inSOPS = outer
		r.index-- // the List itself is not an object; its items are
		return
	}
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = ""
	}
	switch {
	case encrypted && (strings.HasPrefix(kind, sopsValuePrefix) || strings.HasPrefix(apiVersion, sopsValuePrefix)):
		// sops without encrypted_regex encrypts kind and apiVersion too: what the document is
		// cannot be told, and it is said so instead of passing over it in silence.
		r.problem(ObjectError{Message: "SOPS-encrypted document whose kind is encrypted too, so it cannot be read as a Secret or skipped by name; " +
			"encrypt only data and stringData (encrypted_regex: ^(data|stringData)$), or leave the file out"})
	case kind == "Secret" && group == "" && encrypted:
		r.addSecret(decodeSOPSSecret(obj))
	case kind == "Secret" && group == "":
		r.addSecret(decodeSecret(obj))
	case kind == kindSealedSecret && group == sealedSecretsGroup:
		r.addSecret(decodeSealedSecret(obj))
	case isWorkloadKind(kind, group):
		r.readWorkload(kind, obj)
	}
}

func (r *manifestReader) readList(kind, apiVersion string, raw any) {
	if raw == nil {
		return
	}
	items, ok := raw.([]any)
	if !ok {
		r.problem(ObjectError{Kind: kind, Message: "items: must be a list, got " + kindOf(raw)})
		r.index++
		return
	}
	itemKind := ""
	if kind != "List" {
		itemKind = strings.TrimSuffix(kind, "List")
	}
	for _, it := range items {
		r.readObject(it, itemKind, apiVersion)
	}
}

// addSecret keeps a decoded Secret, or its problems when it failed to decode.
func (r *manifestReader) addSecret(s *Secret, errs []fieldError) {
	if s.Namespace == "" {
		s.Namespace = r.defaultNS
	}
	s.Origin = r.origin()
	if len(errs) > 0 {
		for _, e := range errs {
			r.problem(ObjectError{Kind: s.manifestKind(), Namespace: s.Namespace, Name: s.Name, Key: e.key, Message: e.msg})
		}
		// A Secret that failed still exists under its name: references to it are not missing.
		if s.Name != "" {
			r.items = append(r.items, manifestItem{other: &SecretKeys{Namespace: s.Namespace, Name: s.Name}})
		}
		return
	}
	// Duplicates are found when the files' results are merged.
	if r.decoded != nil && s.Encrypted == nil {
		r.decoded(s)
	}
	r.items = append(r.items, manifestItem{secret: s})
}

func (r *manifestReader) readWorkload(kind string, obj map[string]any) {
	w, err := decodeWorkload(kind, obj)
	if w.Namespace == "" {
		w.Namespace = r.defaultNS
	}
	if err != nil {
		r.problem(ObjectError{Kind: kind, Namespace: w.Namespace, Name: w.Name, Message: err.Error()})
		return
	}
	w.Origin = r.origin()
	r.items = append(r.items, manifestItem{workload: &w})
}

// splitDocuments splits a YAML stream at "---" lines. A separator may carry a comment or the
// start of the next document ("--- {a: b}"), as YAML allows. The documents are slices of data,
// not copies.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	start := 0
	for at := 0; at < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[at:], '\n'); i >= 0 {
			end = at + i + 1
		}
		if isSeparator(data[at:end]) {
			docs = append(docs, data[start:at:at])
			start = at + 3
		}
		at = end
	}
	return append(docs, data[start:])
}

func isSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	rest := line[3:]
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r'
}

// jsonStream splits a document that is a stream of JSON values ({...}{...}, as tools write
// them) into its values. Anything else, including a single value or flow-style YAML that only
// looks like JSON, is returned whole for the YAML decoder.
func jsonStream(doc []byte) [][]byte {
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') || json.Valid(trimmed) {
		// One value (or no JSON at all) is read whole. json.Valid only scans: finding out with
		// the decoder below copied a 32 MB List and took longer than decoding it.
		return [][]byte{doc}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var values [][]byte
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return [][]byte{doc}
		}
		values = append(values, v)
	}
	if len(values) < 2 {
		return [][]byte{doc}
	}
	return values
}

// safeJSONError describes a decoding error by field and expected type only: encoding/json
// quotes number literals in its messages, and a literal may be a secret.
func safeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "value"
		}
		return fmt.Sprintf("%s: must be %s", field, goTypeName(te.Type.Kind().String()))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	return "cannot decode"
}

func goTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "an object"
	case "ptr":
		return "an object"
	}
	return "a number"
}

// safeYAMLError keeps the YAML parser's message but drops any quoted source text (the
// parser shows offending tokens between backquotes), since it may be a value.
func safeYAMLError(err error) string {
	msg := err.Error()
	var b strings.Builder
	in := false
	for _, r := range msg {
		if r == '`' {
			if !in {
				b.WriteString("`…`")
			}
			in = !in
			continue
		}
		if !in {
			b.WriteRune(r)
		}
	}
	// One line: the message ends up in a table cell or a log line.
	return strings.Join(strings.Fields(b.String()), " ")
}
