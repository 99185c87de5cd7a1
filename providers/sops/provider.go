package sops

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/getsops/sops/v3/version"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

var _ providers.Provider = (*Provider)(nil)

// maxSecretSize is the API server's limit on the total size of a Secret's values.
const maxSecretSize = 1 << 20

// Provider writes and reads SOPS-encrypted Secret manifests under one output folder. It is safe
// for concurrent use; writes to one file are serialised.
type Provider struct {
	out     string
	keyFile string
	now     func() time.Time

	mu       sync.Mutex // guards the fields below
	rcpt     recipients
	ids      sopsage.ParsedIdentities
	generate bool // generate keyFile on the first write
	notes    []string
	noted    map[string]bool
	config   *sopsConfig // nil until .sops.yaml was merged by this process
	ruleIdx  int

	locks sync.Map // file path -> *sync.Mutex
}

// Name returns "sops".
func (p *Provider) Name() string { return Name }

// Target returns <namespace>/<name>.yaml.
func (p *Provider) Target(s *kube.Secret) (providers.Target, error) {
	if err := checkNamespace(s.Namespace); err != nil {
		return providers.Target{}, fmt.Errorf("secret %s: %w", s.Ref(), err)
	}
	if err := checkName(s.Name); err != nil {
		return providers.Target{}, fmt.Errorf("secret %s: %w", s.Ref(), err)
	}
	return providers.Target{Provider: Name, Address: address(s.Namespace, s.Name)}, nil
}

// Check validates key names and the Kubernetes size limit, without I/O.
func (p *Provider) Check(t providers.Target, s *kube.Secret) error {
	var errs []error
	want, err := p.Target(s)
	switch {
	case err != nil:
		errs = append(errs, err)
	case want.Address != t.Address:
		errs = append(errs, fmt.Errorf("secret %s: %w: target %s is not its file %s", s.Ref(), providers.ErrInvalidName, t, want.Address))
	}
	for _, k := range s.Data.Keys() {
		if err := checkKey(k); err != nil {
			errs = append(errs, fmt.Errorf("secret %s: %w", s.Ref(), err))
		}
	}
	if n := s.Data.Size(); n > maxSecretSize {
		errs = append(errs, fmt.Errorf("secret %s: %w: values total %d bytes, Kubernetes allows %d", s.Ref(), providers.ErrTooLarge, n, maxSecretSize))
	}
	return errors.Join(errs...)
}

// file is a parsed SOPS file.
type file struct {
	raw     []byte
	tree    sops.Tree
	version string
}

// load reads and parses the file at path. A file that is not SOPS-encrypted is a conflict:
// secretshift did not write it, and must not replace it.
func (p *Provider) load(rel, path string) (*file, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, ioErr(err))
	}
	store := sopsyaml.NewStore(&config.YAMLStoreConfig{})
	tree, err := store.LoadEncryptedFile(raw)
	if err != nil {
		// sops' messages about a file without metadata may quote parts of it; keep ours short.
		return nil, fmt.Errorf("%w: %s is not a SOPS-encrypted YAML file; not overwriting it", providers.ErrConflict, rel)
	}
	if len(tree.Branches) != 1 {
		return nil, fmt.Errorf("%w: %s holds %d YAML documents, not one Secret; not overwriting it", providers.ErrConflict, rel, len(tree.Branches))
	}
	return &file{raw: raw, tree: tree, version: fileVersion(tree.Metadata.LastModified, raw)}, nil
}

// fileVersion names one state of a file for check-and-set: sops' lastmodified, for people, and a
// hash of the bytes, which are ciphertext and metadata only, so that any edit changes it.
func fileVersion(lastModified time.Time, raw []byte) string {
	sum := sha256.Sum256(raw)
	return lastModified.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(sum[:8])
}

// decrypt decrypts f in place and verifies its MAC. It returns errNoIdentity (wrapped) when no
// identity can open the file, and an error wrapping ErrConflict when the file was changed after
// it was encrypted. sops' own errors are not passed on here: they can quote a value (a
// ciphertext replaced by plain text is printed back) or the MAC, a bare hash of the values.
func (p *Provider) decrypt(ctx context.Context, rel string, f *file) error {
	p.mu.Lock()
	ids := p.ids
	p.mu.Unlock()
	key, err := dataKey(ctx, &f.tree.Metadata, ids)
	if err != nil {
		return fmt.Errorf("decrypt %s: %w", rel, err)
	}
	cipher := aes.NewCipher()
	computed, err := f.tree.Decrypt(key, cipher)
	if err != nil {
		return fmt.Errorf("%w: %s: a value does not decrypt: edited after encryption; not overwriting it", providers.ErrConflict, rel)
	}
	if f.tree.Metadata.MessageAuthenticationCode == "" {
		return fmt.Errorf("%w: %s: MAC mismatch: the file has no MAC (edited after encryption?); not overwriting it", providers.ErrConflict, rel)
	}
	stored, err := cipher.Decrypt(f.tree.Metadata.MessageAuthenticationCode, key, f.tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		return fmt.Errorf("%w: %s: MAC mismatch: the MAC or lastmodified was edited after encryption; not overwriting it", providers.ErrConflict, rel)
	}
	if s, ok := stored.(string); !ok || s != computed {
		return fmt.Errorf("%w: %s: MAC mismatch: edited after encryption; not overwriting it", providers.ErrConflict, rel)
	}
	return nil
}

// Read returns what is stored at t. Without an identity that opens the file, Data is nil and
// only the recorded fingerprint is returned (and the MAC cannot be checked). A file edited after
// encryption is an error wrapping ErrConflict.
func (p *Provider) Read(ctx context.Context, t providers.Target) (*providers.Stored, error) {
	ns, name, err := parseAddress(t)
	if err != nil {
		return nil, err
	}
	rel := address(ns, name)
	f, err := p.load(rel, p.filePath(ns, name))
	if err != nil {
		return nil, err
	}
	// Decrypt first: type and annotations are readable either way in the files we write, but
	// a file written by hand may have them encrypted.
	derr := p.decrypt(ctx, rel, f)
	if derr != nil && !errors.Is(derr, errNoIdentity) {
		return nil, derr
	}
	root := f.tree.Branches[0]
	ann := annotations(root)
	st := &providers.Stored{
		Type:             str(root, "type"),
		Fingerprint:      ann[AnnotationFingerprint],
		FingerprintKeyID: ann[AnnotationFingerprintKey],
		Version:          f.version,
		Managed:          ann[AnnotationManagedBy] == ManagedByValue,
		SourceUID:        ann[AnnotationSourceUID],
	}
	if derr != nil {
		p.noteOnce("noidentity", fmt.Sprintf("cannot decrypt %s with the available identities, so read-back compares the recorded fingerprints only: %v", rel, derr))
		return st, nil
	}
	data, err := values(root)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", providers.ErrConflict, rel, err)
	}
	st.Data = data
	return st, nil
}

// Write encrypts p.Secret to the file of t. expect is the Version Read returned, or "" when the
// file must not exist. A file whose decrypted content (or, without an identity, whose metadata
// and recorded fingerprint) already equals what would be written is left untouched and its
// version returned: sops output differs on every encryption, and a rewrite is a noisy Git diff.
func (p *Provider) Write(ctx context.Context, t providers.Target, pl providers.Payload, expect string) (string, error) {
	ns, name, err := parseAddress(t)
	if err != nil {
		return "", err
	}
	s := pl.Secret
	if s == nil {
		return "", fmt.Errorf("write %s: no secret", t)
	}
	if err := p.Check(t, s); err != nil {
		return "", err
	}
	rel := address(ns, name)
	path := p.filePath(ns, name)

	unlock := p.lock(path)
	defer unlock()
	if err := ctx.Err(); err != nil {
		return "", err
	}

	plain := secretTree(s, pl.Fingerprint, pl.FingerprintKeyID)
	cur, err := p.load(rel, path)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, providers.ErrNotFound):
		return "", err
	case !exists && expect != "":
		return "", fmt.Errorf("%w: %s was removed since version %s was read", providers.ErrConflict, rel, expect)
	case exists && expect == "":
		return "", fmt.Errorf("%w: %s already exists (version %s)", providers.ErrConflict, rel, cur.version)
	case exists && cur.version != expect:
		return "", fmt.Errorf("%w: %s changed: version %s, expected %s", providers.ErrConflict, rel, cur.version, expect)
	case exists:
		same, err := p.unchanged(ctx, rel, cur, plain, pl.Fingerprint)
		if err != nil {
			return "", err
		}
		if same {
			return cur.version, p.ensureConfig(rel)
		}
	}

	out, md, err := p.encrypt(ctx, plain)
	if err != nil {
		return "", fmt.Errorf("encrypt %s for %s: %w", s.Ref(), rel, err)
	}
	if err := p.ensureConfig(rel); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return "", fmt.Errorf("write %s: %w", rel, ioErr(err))
	}
	if err := writeAtomic(path, out, fileMode, !exists); err != nil {
		return "", fmt.Errorf("write %s: %w", rel, ioErr(err))
	}
	return fileVersion(md.LastModified, out), nil
}

// unchanged reports whether cur already holds plain. The existing file is verified first when
// it can be decrypted, so a hand-edited file is reported, not silently replaced.
func (p *Provider) unchanged(ctx context.Context, rel string, cur *file, plain sops.TreeBranch, fingerprint string) (bool, error) {
	store := sopsyaml.NewStore(&config.YAMLStoreConfig{})
	err := p.decrypt(ctx, rel, cur)
	switch {
	case errors.Is(err, errNoIdentity):
		if fingerprint == "" {
			return false, nil
		}
		a, err1 := store.EmitPlainFile(sops.TreeBranches{redacted(cur.tree.Branches[0])})
		b, err2 := store.EmitPlainFile(sops.TreeBranches{redacted(plain)})
		return err1 == nil && err2 == nil && bytes.Equal(a, b), nil
	case err != nil:
		return false, err
	}
	a, err1 := store.EmitPlainFile(cur.tree.Branches)
	b, err2 := store.EmitPlainFile(sops.TreeBranches{plain})
	return err1 == nil && err2 == nil && bytes.Equal(a, b), nil
}

// encrypt turns a plaintext manifest tree into the bytes of a SOPS file, as `sops encrypt`
// does: a fresh data key wrapped for every recipient, values encrypted with AES256-GCM, and the
// MAC over all values encrypted under the data key with lastmodified as associated data.
func (p *Provider) encrypt(ctx context.Context, plain sops.TreeBranch) ([]byte, sops.Metadata, error) {
	rc, err := p.recipients()
	if err != nil {
		return nil, sops.Metadata{}, err
	}
	group, err := rc.keyGroup()
	if err != nil {
		return nil, sops.Metadata{}, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, sops.Metadata{}, fmt.Errorf("generate a data key: %w", err)
	}
	if err := encryptDataKey(ctx, group, key); err != nil {
		return nil, sops.Metadata{}, err
	}
	// Encrypt works in place; the caller's tree stays plaintext for comparisons.
	branch := cloneBranch(plain)
	tree := sops.Tree{
		Branches: sops.TreeBranches{branch},
		Metadata: sops.Metadata{
			KeyGroups:      []sops.KeyGroup{group},
			EncryptedRegex: encryptedRegex,
			Version:        version.Version,
		},
	}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(key, cipher)
	if err != nil {
		return nil, sops.Metadata{}, errors.New("encrypt the values")
	}
	tree.Metadata.LastModified = p.now().UTC().Truncate(time.Second)
	tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, key, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		return nil, sops.Metadata{}, errors.New("encrypt the MAC")
	}
	out, err := sopsyaml.NewStore(&config.YAMLStoreConfig{}).EmitEncryptedFile(tree)
	if err != nil {
		return nil, sops.Metadata{}, fmt.Errorf("emit the SOPS file: %w", err)
	}
	return out, tree.Metadata, nil
}

// cloneBranch deep-copies the branches of a tree; leaves are immutable values.
func cloneBranch(b sops.TreeBranch) sops.TreeBranch {
	out := make(sops.TreeBranch, len(b))
	for i, it := range b {
		if sub, ok := it.Value.(sops.TreeBranch); ok {
			it.Value = cloneBranch(sub)
		}
		out[i] = it
	}
	return out
}

// recipients returns the master keys to encrypt to, generating the age key first when the
// quick start asked for it.
func (p *Provider) recipients() (recipients, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.generate {
		kf, created, err := generateKeyFile(p.keyFile, p.now())
		if err != nil {
			return recipients{}, err
		}
		if len(kf.recipients) == 0 {
			return recipients{}, fmt.Errorf("age key file %s has no X25519 identity to encrypt to; pass --age-recipient", p.keyFile)
		}
		p.ids = kf.ids
		p.rcpt.age = kf.recipients
		p.generate = false
		p.notes = slices.DeleteFunc(p.notes, func(n string) bool { return n == pendingKeyNote(p.keyFile) })
		if created {
			p.notes = append(p.notes, fmt.Sprintf("generated age key at %s (public key %s); keep it safe: without it the files cannot be decrypted",
				p.keyFile, kf.recipients[0]))
		} else {
			p.notes = append(p.notes, fmt.Sprintf("encrypting to the age key in %s (public key %s)", p.keyFile, strings.Join(kf.recipients, ", ")))
		}
	}
	return p.rcpt, nil
}

// ensureConfig merges our creation rule into <out>/.sops.yaml once per process, and warns when
// an earlier rule would be used for rel instead.
func (p *Provider) ensureConfig(rel string) error {
	rc, err := p.recipients()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.config == nil {
		path := p.configPath()
		c, _, err := readSopsConfig(path)
		if err != nil {
			return err
		}
		changed, idx := c.merge(rc.ruleFields())
		if changed {
			b, err := c.encode()
			if err != nil {
				return fmt.Errorf("update %s: %w", path, err)
			}
			if err := os.MkdirAll(p.out, dirMode); err != nil {
				return fmt.Errorf("update %s: %w", path, ioErr(err))
			}
			mode := os.FileMode(configMode)
			if fi, err := os.Stat(path); err == nil {
				mode = fi.Mode().Perm() // keep the owner's choice for an existing file
			}
			if err := writeAtomic(path, b, mode, false); err != nil {
				return fmt.Errorf("update %s: %w", path, ioErr(err))
			}
			p.notes = append(p.notes, fmt.Sprintf("updated %s: creation rule for <namespace>/<name>.yaml", path))
		}
		p.config, p.ruleIdx = c, idx
	}
	for _, s := range p.config.shadows(p.ruleIdx, filepath.FromSlash(rel)) {
		p.noteLocked("shadow:"+s, fmt.Sprintf("%s: %s comes before secretshift's rule and also matches files like %s: `sops edit` will use that rule's recipients for them",
			p.configPath(), s, rel))
	}
	return nil
}

// lock serialises writes to one file within this process.
func (p *Provider) lock(path string) func() {
	m, _ := p.locks.LoadOrStore(path, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (p *Provider) noteOnce(key, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.noteLocked(key, msg)
}

func (p *Provider) noteLocked(key, msg string) {
	if p.noted == nil {
		p.noted = map[string]bool{}
	}
	if !p.noted[key] {
		p.noted[key] = true
		p.notes = append(p.notes, msg)
	}
}

// Notes returns what the provider did or noticed that the user should know: a generated age
// key, an updated .sops.yaml, a rule that shadows ours, files it could not decrypt. They hold
// paths and public keys only.
func (p *Provider) Notes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.notes...)
}

// Hint explains how to use the folder: decrypting one file and letting Flux decrypt it in the
// cluster. SOPS files get no ExternalSecret; External Secrets Operator does not read them.
func (p *Provider) Hint() string { return p.HintFor("") }

// HintFor is Hint with example, the address of one written file (e.g. "shop/db.yaml"), in the
// commands instead of placeholders, so they can be pasted as they are.
func (p *Provider) HintFor(example string) string {
	file := filepath.Join("<namespace>", "<name>.yaml")
	if example != "" {
		file = filepath.FromSlash(example)
	}
	p.mu.Lock()
	rc := p.rcpt
	p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "SOPS-encrypted Secrets are in %s/<namespace>/<name>.yaml (no ExternalSecret: Flux or Argo CD decrypts them).\n", p.out)
	keyFile := p.keyFile
	if keyFile == "" {
		keyFile = "<age key file>"
	}
	if len(rc.age) > 0 || rc.empty() {
		fmt.Fprintf(&b, "Decrypt one:  SOPS_AGE_KEY_FILE=%s sops -d %s\n", keyFile, filepath.Join(p.out, file))
	} else {
		fmt.Fprintf(&b, "Decrypt one:  sops -d %s\n", filepath.Join(p.out, file))
	}
	fmt.Fprintf(&b, "Edit one:     cd %s && sops edit %s   (sops reads .sops.yaml from the working folder upwards)\n", p.out, file)
	b.WriteString("Flux:         commit the folder, give kustomize-controller the key and point a Kustomization at it:\n")
	if len(rc.age) > 0 || rc.empty() {
		fmt.Fprintf(&b, "  kubectl -n flux-system create secret generic sops-age --from-file=age.agekey=%s\n", keyFile)
	}
	repoPath := "./" + filepath.ToSlash(p.out)
	if filepath.IsAbs(p.out) {
		repoPath = "<the folder's path in the repository>"
	}
	fmt.Fprintf(&b, "  spec: {path: %s, prune: true, decryption: {provider: sops, secretRef: {name: sops-age}}}\n", repoPath)
	b.WriteString("  (Flux leaves .sops.yaml out of the source artifact by default, so no kustomization.yaml is needed.)")
	return b.String()
}
