package sops

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	"github.com/getsops/sops/v3/config"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/getsops/sops/v3/version"

	"github.com/secretshift/secretshift/internal/outdir"
)

// file is a parsed SOPS file.
type file struct {
	raw     []byte
	tree    sops.Tree
	version string
	// problem says why the file cannot be used (not SOPS, several documents); tree is empty.
	problem string
}

// problemError is a file secretshift cannot use although it can read it: edited after
// encryption. reason is short and never quotes the file.
type problemError struct{ reason string }

func (e *problemError) Error() string { return e.reason }

// load reads and parses the file at path; a missing file is an error wrapping ErrNotFound. A
// file that is not one SOPS-encrypted YAML document comes back with problem set: secretshift
// did not write it, and replaces it only when asked to.
func (p *Provider) load(rel, path string) (*file, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, outdir.IOErr(err))
	}
	p.debug("read file", "path", rel)
	tree, err := sopsyaml.NewStore(&config.YAMLStoreConfig{}).LoadEncryptedFile(raw)
	if err != nil {
		// sops' messages about a file without metadata may quote parts of it; keep ours short.
		return &file{raw: raw, version: fileVersion(time.Time{}, raw), problem: "not a SOPS-encrypted YAML file"}, nil
	}
	f := &file{raw: raw, tree: tree, version: fileVersion(tree.Metadata.LastModified, raw)}
	if len(tree.Branches) != 1 {
		f.problem = fmt.Sprintf("holds %d YAML documents, not one Secret", len(tree.Branches))
	}
	return f, nil
}

// fileVersion names one state of a file for check-and-set: sops' lastmodified, for people, and a
// hash of the bytes, which are ciphertext and metadata only, so that any edit changes it.
func fileVersion(lastModified time.Time, raw []byte) string {
	sum := sha256.Sum256(raw)
	return lastModified.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(sum[:8])
}

// decrypt decrypts f in place and verifies its MAC. It returns errNoIdentity (wrapped) when no
// identity can open the file, and a *problemError when the file was changed after it was
// encrypted. sops' own errors are not passed on here: they can quote a value (a ciphertext
// replaced by plain text is printed back) or the MAC, a bare hash of the values.
func (p *Provider) decrypt(ctx context.Context, rel string, f *file) error {
	p.mu.Lock()
	ids := p.ids
	p.mu.Unlock()
	key, via, err := dataKey(ctx, &f.tree.Metadata, ids)
	if err != nil {
		return fmt.Errorf("decrypt %s: %w", rel, err)
	}
	p.debug("decrypted data key", "path", rel, "identity", via)
	cipher := aes.NewCipher()
	computed, err := f.tree.Decrypt(key, cipher)
	if err != nil {
		return &problemError{"a value does not decrypt: edited after encryption"}
	}
	if f.tree.Metadata.MessageAuthenticationCode == "" {
		return &problemError{"MAC mismatch: the file has no MAC (edited after encryption?)"}
	}
	stored, err := cipher.Decrypt(f.tree.Metadata.MessageAuthenticationCode, key, f.tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		return &problemError{"MAC mismatch: the MAC or lastmodified was edited after encryption"}
	}
	if s, ok := stored.(string); !ok || s != computed {
		return &problemError{"MAC mismatch: edited after encryption"}
	}
	return nil
}

// encrypt turns a plaintext manifest tree into the bytes of a SOPS file, as `sops encrypt`
// does: a fresh data key wrapped for every recipient, values encrypted with AES256-GCM, and the
// MAC over all values encrypted under the data key with lastmodified as associated data.
func (p *Provider) encrypt(ctx context.Context, rel string, plain sops.TreeBranch, rc recipients) ([]byte, sops.Metadata, error) {
	group, err := rc.keyGroup()
	if err != nil {
		return nil, sops.Metadata{}, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, sops.Metadata{}, fmt.Errorf("generate a data key: %w", err)
	}
	p.debug("encrypt data key", "path", rel, "recipients", len(group))
	if err := encryptDataKey(ctx, group, key); err != nil {
		return nil, sops.Metadata{}, err
	}
	return p.seal(plain, []sops.KeyGroup{group}, 0, key)
}

// encryptKeeping encrypts plain to the key groups of cur under its data key, as `sops edit`
// does for a file: who can decrypt it does not change. cur was decrypted and verified.
func (p *Provider) encryptKeeping(ctx context.Context, rel string, plain sops.TreeBranch, cur *file) ([]byte, sops.Metadata, error) {
	p.mu.Lock()
	ids := p.ids
	p.mu.Unlock()
	key, _, err := dataKey(ctx, &cur.tree.Metadata, ids)
	if err != nil {
		return nil, sops.Metadata{}, err
	}
	p.debug("encrypt under the file's own data key", "path", rel, "recipients", len(canonGroups(cur.tree.Metadata.KeyGroups)))
	return p.seal(plain, cur.tree.Metadata.KeyGroups, cur.tree.Metadata.ShamirThreshold, key)
}

// seal encrypts the values of plain under key and emits the file with the given key groups,
// whose master keys already hold key wrapped for them.
func (p *Provider) seal(plain sops.TreeBranch, groups []sops.KeyGroup, threshold int, key []byte) ([]byte, sops.Metadata, error) {
	// Encrypt works in place; the caller's tree stays plaintext for comparisons.
	tree := sops.Tree{
		Branches: sops.TreeBranches{cloneBranch(plain)},
		Metadata: sops.Metadata{
			KeyGroups:       groups,
			ShamirThreshold: threshold,
			EncryptedRegex:  encryptedRegex,
			Version:         version.Version,
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

// rewrap encrypts the data key of cur to rc and returns the new file and its version, as
// `sops updatekeys` does: the values, lastmodified and the MAC stay as they are (the MAC
// covers the values, not the recipients), only the key groups change. It needs the data key,
// so an identity of the file's current recipients.
func (p *Provider) rewrap(ctx context.Context, rel string, cur *file, rc recipients) ([]byte, string, error) {
	store := sopsyaml.NewStore(&config.YAMLStoreConfig{})
	// cur.tree was decrypted in place; start again from the bytes.
	tree, err := store.LoadEncryptedFile(cur.raw)
	if err != nil {
		return nil, "", fmt.Errorf("re-wrap %s: not a SOPS-encrypted YAML file", rel)
	}
	p.mu.Lock()
	ids := p.ids
	p.mu.Unlock()
	key, via, err := dataKey(ctx, &tree.Metadata, ids)
	if errors.Is(err, errNoIdentity) {
		return nil, "", fmt.Errorf("re-wrap the data key of %s for new recipients: no available identity can decrypt it (it is encrypted to %s)\n"+
			"give an identity of those recipients (--sops-age-key-file, $SOPS_AGE_KEY_FILE, GnuPG, Vault or Azure credentials) and run again",
			rel, describeSet(canonGroups(tree.Metadata.KeyGroups)))
	}
	if err != nil {
		return nil, "", fmt.Errorf("re-wrap %s: %w", rel, err)
	}
	p.debug("decrypted data key", "path", rel, "identity", via)
	group, err := rc.keyGroup()
	if err != nil {
		return nil, "", err
	}
	p.debug("re-wrap data key", "path", rel, "recipients", len(group))
	if err := encryptDataKey(ctx, group, key); err != nil {
		return nil, "", fmt.Errorf("re-wrap %s: %w", rel, err)
	}
	tree.Metadata.KeyGroups = []sops.KeyGroup{group}
	tree.Metadata.ShamirThreshold = 0
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		return nil, "", fmt.Errorf("re-wrap %s: emit the SOPS file: %w", rel, err)
	}
	return out, fileVersion(tree.Metadata.LastModified, out), nil
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
