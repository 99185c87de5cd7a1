package sops

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// SetLogger makes the provider log each step at debug level: files read, data keys decrypted
// (with the kind of identity), data keys encrypted (to how many recipients), files written,
// .sops.yaml updated, the folder locked, stale temporary files removed. Messages carry names
// and paths, never values or key material. Without a logger nothing is logged.
func (p *Provider) SetLogger(l *slog.Logger) { p.logger.Store(l) }

func (p *Provider) debug(msg string, args ...any) {
	if l := p.logger.Load(); l != nil {
		l.Log(context.Background(), slog.LevelDebug, "sops: "+msg, args...)
	}
}

// fileCount counts files for a note, remembering the first one.
type fileCount struct {
	n     int
	first string
	seen  map[string]bool
}

func (c *fileCount) add(rel string) {
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	if c.seen[rel] {
		return
	}
	c.seen[rel] = true
	if c.n == 0 {
		c.first = rel
	}
	c.n++
}

func (c fileCount) String() string {
	if c.n == 1 {
		return c.first
	}
	return fmt.Sprintf("%d files (%s and others)", c.n, c.first)
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

// Notes returns what the provider did or noticed that the user should know: where the
// recipients come from, a generated age key, an updated .sops.yaml, a rule that shadows
// secretshift's, files it could not decrypt or that name other recipients. They hold paths and
// public keys only.
func (p *Provider) Notes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	if p.rcptNote != "" {
		out = append(out, p.rcptNote)
	}
	out = append(out, p.notes...)
	if p.blind.n > 0 {
		it, its := "it is", "its"
		if p.blind.n > 1 {
			it, its = "they are", "their"
		}
		out = append(out, fmt.Sprintf("cannot decrypt %s with the identities available: %s compared by the fingerprint recorded at write time, not by %s values; "+
			"to compare values, give an identity of %s recipients (--sops-age-key-file, $SOPS_AGE_KEY_FILE, GnuPG, Vault or Azure credentials)", p.blind, it, its, its))
	}
	if p.stale.n > 0 {
		verb := "is"
		if p.stale.n > 1 {
			verb = "are"
		}
		out = append(out, fmt.Sprintf("%s %s encrypted to other recipients than this run's (%s) and keep them, also when values change; --sops-update-keys re-wraps them",
			p.stale, verb, describeSet(p.rcpt.canon())))
	}
	return out
}

// Hint explains how to use the folder: decrypting one file and letting Flux decrypt it in the
// cluster. SOPS files get no ExternalSecret; External Secrets Operator does not read them.
func (p *Provider) Hint() string { return p.HintFor("") }

// HintFor is Hint with example, the address of one written file (e.g. "shop/db.yaml"), in the
// commands instead of placeholders, so they can be pasted as they are. The age key file is
// named only when it exists (given or generated); with other recipients only, decrypting
// needs the identities their owners hold.
func (p *Provider) HintFor(example string) string {
	file := filepath.Join("<namespace>", "<name>.yaml")
	if example != "" {
		file = filepath.FromSlash(example)
	}
	p.mu.Lock()
	rc := p.rcpt
	p.mu.Unlock()
	keyFile := ""
	if p.keyFile != "" {
		if fi, err := os.Stat(p.keyFile); err == nil && fi.Mode().IsRegular() {
			keyFile = p.keyFile
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SOPS-encrypted Secrets are in %s/<namespace>/<name>.yaml (no ExternalSecret: Flux or Argo CD decrypts them).\n", p.out)
	if keyFile != "" {
		fmt.Fprintf(&b, "Decrypt one:  SOPS_AGE_KEY_FILE=%s sops -d %s\n", keyFile, filepath.Join(p.out, file))
	} else {
		fmt.Fprintf(&b, "Decrypt one:  sops -d %s\n", filepath.Join(p.out, file))
	}
	fmt.Fprintf(&b, "Edit one:     cd %s && sops edit %s   (sops reads .sops.yaml from the working folder upwards)\n", p.out, file)
	b.WriteString("Flux:         commit the folder, give kustomize-controller the key and point a Kustomization at it:\n")
	if len(rc.age) > 0 || keyFile != "" {
		k := keyFile
		if k == "" {
			k = "<age identity file>"
		}
		fmt.Fprintf(&b, "  kubectl -n flux-system create secret generic sops-age --from-file=age.agekey=%s\n", k)
	}
	repoPath := "./" + filepath.ToSlash(p.out)
	if filepath.IsAbs(p.out) {
		repoPath = "<the folder's path in the repository>"
	}
	fmt.Fprintf(&b, "  spec: {path: %s, prune: true, decryption: {provider: sops, secretRef: {name: sops-age}}}\n", repoPath)
	b.WriteString("  (Flux leaves .sops.yaml out of the source artifact by default, so no kustomization.yaml is needed.)")
	return b.String()
}
