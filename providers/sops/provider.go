package sops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getsops/sops/v3"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/providers"
)

var (
	_ providers.Provider     = (*Provider)(nil)
	_ providers.Pinned       = (*Provider)(nil)
	_ providers.FolderWriter = (*Provider)(nil)
	_ providers.Noter        = (*Provider)(nil)
	_ providers.Logger       = (*Provider)(nil)
	_ io.Closer              = (*Provider)(nil)
	_ providers.Describer    = (*Provider)(nil)
	_ providers.Hinter       = (*Provider)(nil)
)

// Provider writes and reads SOPS-encrypted Secret manifests under one output folder. It is safe
// for concurrent use; writes to one file are serialised. Close releases the folder's lock.
type Provider struct {
	out     string
	keyFile string
	now     func() time.Time
	logger  atomic.Pointer[slog.Logger]
	folder  *outdir.Lock

	mu         sync.Mutex // guards the fields below
	given      recipients // from flags or $SOPS_AGE_RECIPIENTS
	rcpt       recipients // what this run encrypts to; empty while generate is pending
	source     string     // where rcpt comes from: one of the source* constants
	updateKeys bool       // --sops-update-keys: update secretshift's rule, re-wrap files
	generate   bool       // generate keyFile on the first write
	ids        sopsage.ParsedIdentities
	book       *ruleBook
	merged     bool // .sops.yaml was merged by this process
	ruleIdx    int  // secretshift's rule in .sops.yaml once merged
	rcptNote   string
	notes      []string
	noted      map[string]bool
	blind      fileCount // files no identity could decrypt
	stale      fileCount // files whose recipients differ, without --sops-update-keys

	locks outdir.FileLocks
}

// Name returns "sops".
func (p *Provider) Name() string { return Name }

// Describe says, in words, which folder the adapter writes to (as an absolute path), for plans
// and reports. StoreID is what identifies it.
func (p *Provider) Describe() string { return "sops files in " + p.OutputFolder() }

// StoreID implements providers.Provider: the output folder's absolute path.
func (p *Provider) StoreID() string { return "sops|" + p.OutputFolder() }

// Target returns <namespace>/<name>.yaml.
func (p *Provider) Target(ref providers.Ref) (providers.Target, error) {
	return outdir.Target(Name, ref)
}

// Check validates key names and the Kubernetes size limit, without I/O.
func (p *Provider) Check(t providers.Target, pl providers.Payload) error {
	return errors.Join(outdir.Check(Name, t, pl)...)
}

// Read returns what is stored at t. Without an identity that opens the file, Data is nil and
// only the recorded fingerprint is returned (and the MAC cannot be checked). A file that is not
// SOPS, or was edited after encryption, comes back with Problem set and only its Version, so
// that a Write naming that version (--overwrite) can replace it. Under --sops-update-keys, a
// file encrypted to other recipients than this run's comes back with Rewrite set.
func (p *Provider) Read(ctx context.Context, t providers.Target) (*providers.Stored, error) {
	ns, name, err := outdir.ParseAddress(Name, t)
	if err != nil {
		return nil, err
	}
	rel := outdir.Address(ns, name)
	f, err := p.load(rel, p.filePath(ns, name))
	if err != nil {
		return nil, err
	}
	if f.problem != "" {
		return &providers.Stored{Version: f.version, Problem: f.problem}, nil
	}
	// Decrypt first: type and annotations are readable either way in the files we write, but
	// a file written by hand may have them encrypted.
	derr := p.decrypt(ctx, rel, f)
	var pe *problemError
	switch {
	case errors.As(derr, &pe):
		return &providers.Stored{Version: f.version, Problem: pe.reason}, nil
	case derr != nil && !errors.Is(derr, errNoIdentity):
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
		Rewrite:          p.rewriteReason(rel, f),
		Ref:              providers.Ref{Namespace: ns, Name: name, UID: ann[AnnotationSourceUID]},
		Labels:           labels(root),
		Annotations:      ann,
		Job:              ann[providers.AnnotationJob],
		Updated:          f.tree.Metadata.LastModified,
	}
	if v, ok := lookup(root, "immutable"); ok {
		st.Immutable, _ = v.(bool)
	}
	if derr != nil {
		p.mu.Lock()
		p.blind.add(rel)
		p.mu.Unlock()
		return st, nil
	}
	data, err := values(root)
	if err != nil {
		return &providers.Stored{Version: f.version, Problem: err.Error()}, nil
	}
	st.Data = data
	return st, nil
}

// Write encrypts p.Secret to the file of t. expect is the Version Read returned, or "" when the
// file must not exist. A file whose decrypted content (or, without an identity, whose metadata
// and recorded fingerprint) already equals what would be written is left untouched and its
// version returned: sops output differs on every encryption, and a rewrite is a noisy Git diff.
// Under --sops-update-keys such a file whose recipients differ is re-wrapped instead (see
// rewrap), and changed values are encrypted to the run's recipients; without the flag a file
// keeps its recipients. A file Read reported a Problem for is replaced when expect names its
// version.
func (p *Provider) Write(ctx context.Context, t providers.Target, pl providers.Payload, expect string) (string, error) {
	ns, name, err := outdir.ParseAddress(Name, t)
	if err != nil {
		return "", err
	}
	if err := p.Check(t, pl); err != nil {
		return "", err
	}
	rel := outdir.Address(ns, name)
	path := p.filePath(ns, name)
	if err := p.acquire(); err != nil {
		return "", err
	}

	unlock := p.locks.Lock(path)
	defer unlock()
	if err := ctx.Err(); err != nil {
		return "", err
	}

	plain := secretTree(pl)
	cur, err := p.load(rel, path)
	exists := err == nil
	if err != nil && !errors.Is(err, providers.ErrNotFound) {
		return "", err
	}
	current := ""
	if exists {
		current = cur.version
	}
	if err := outdir.CheckVersion(rel, current, expect); err != nil {
		return "", err
	}

	want, err := p.recipients()
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	update := p.updateKeys
	p.mu.Unlock()
	var out []byte
	var version string
	// keep: the file is encrypted to other recipients than the run's, and keeps them (and its
	// data key) as `sops edit` does, unless --sops-update-keys asks to change them.
	keep := false
	if exists && cur.problem == "" {
		same, state, err := p.unchanged(ctx, rel, cur, plain, pl.Fingerprint)
		if err != nil {
			return "", err
		}
		// A file edited by hand is replaced; the recipients it lists are not trusted.
		differs := state != stateEdited && !slices.Equal(canonGroups(cur.tree.Metadata.KeyGroups), want.canon())
		switch {
		case same && differs && update:
			if err := p.checkRule(rel, want); err != nil {
				return "", err
			}
			if out, version, err = p.rewrap(ctx, rel, cur, want); err != nil {
				return "", err
			}
		case same:
			return cur.version, p.ensureConfig(rel, want)
		case differs && !update && state == stateNoIdentity:
			return "", fmt.Errorf("write %s: it is encrypted to %s, not this run's %s, and keeping them needs its data key: no available identity can decrypt it\n"+
				"give an identity of its recipients, or pass --sops-update-keys to encrypt it to this run's recipients",
				rel, describeSet(canonGroups(cur.tree.Metadata.KeyGroups)), describeSet(want.canon()))
		case differs && !update:
			keep = true
		}
	}
	if out == nil {
		var md sops.Metadata
		if keep {
			out, md, err = p.encryptKeeping(ctx, rel, plain, cur)
		} else if err = p.checkRule(rel, want); err == nil {
			out, md, err = p.encrypt(ctx, rel, plain, want)
		}
		if err != nil {
			return "", fmt.Errorf("encrypt %s for %s: %w", pl.Ref, rel, err)
		}
		version = fileVersion(md.LastModified, out)
	}
	if err := p.ensureConfig(rel, want); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), outdir.DirMode); err != nil {
		return "", fmt.Errorf("write %s: %w", rel, outdir.IOErr(err))
	}
	if err := outdir.WriteFile(path, out, outdir.FileMode, !exists); err != nil {
		return "", fmt.Errorf("write %s: %w", rel, outdir.IOErr(err))
	}
	p.debug("wrote file", "path", rel)
	return version, nil
}

// What unchanged learnt about the existing file.
const (
	stateDecrypted  = iota // decrypted and verified
	stateNoIdentity        // no identity opens it; compared by the recorded fingerprint
	stateEdited            // edited after encryption (a Problem for Read)
)

// unchanged reports whether cur already holds plain. The existing file is verified first when
// it can be decrypted. A file edited after encryption is never unchanged: the caller named its
// version, so it is replaced.
func (p *Provider) unchanged(ctx context.Context, rel string, cur *file, plain sops.TreeBranch, fingerprint string) (bool, int, error) {
	store := sopsyaml.NewStore(&config.YAMLStoreConfig{})
	err := p.decrypt(ctx, rel, cur)
	var pe *problemError
	switch {
	case errors.As(err, &pe):
		return false, stateEdited, nil
	case errors.Is(err, errNoIdentity):
		if fingerprint == "" {
			return false, stateNoIdentity, nil
		}
		a, err1 := store.EmitPlainFile(sops.TreeBranches{redacted(cur.tree.Branches[0])})
		b, err2 := store.EmitPlainFile(sops.TreeBranches{redacted(plain)})
		return err1 == nil && err2 == nil && bytes.Equal(a, b), stateNoIdentity, nil
	case err != nil:
		return false, 0, err
	}
	a, err1 := store.EmitPlainFile(cur.tree.Branches)
	b, err2 := store.EmitPlainFile(sops.TreeBranches{plain})
	return err1 == nil && err2 == nil && bytes.Equal(a, b), stateDecrypted, nil
}
