package sops

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/providers"
)

// Where the recipients of a run come from (recorded in plans, see pin.go).
const (
	sourceFlags    = "flags"        // --age-recipient and friends, or $SOPS_AGE_RECIPIENTS
	sourceRule     = "sops_yaml"    // the creation rule of <out>/.sops.yaml sops uses for the files
	sourceKeyFile  = "age_key_file" // the public key of --sops-age-key-file
	sourceGenerate = "generate"     // an age key generated at --sops-age-key-file
)

// rewriteReason is Stored.Rewrite for a file --sops-update-keys re-wraps.
const rewriteReason = "recipients differ from the creation rule; --sops-update-keys re-wraps the data key"

// choose decides what the run encrypts to, at Open, before anything is written:
//
//   - Recipients given by flags or $SOPS_AGE_RECIPIENTS are used when they equal, as a set, those
//     of every creation rule sops uses for secretshift's files (ruleBook.rulesInUse). When
//     secretshift's own rule names others, that is an error unless --sops-update-keys asks
//     for the rule to be updated and the files re-wrapped; another rule naming others is always
//     an error, as secretshift never edits rules it did not write.
//   - Without such recipients, those of the creation rule sops uses for the files. Rules naming
//     different recipients for different files are refused: a run encrypts to one set.
//   - Without either, the age key in --sops-age-key-file, which is generated on the first write
//     when it does not exist (the quick start). This is the only case a key is generated in.
//
// A rule naming recipients secretshift cannot encrypt to is an error in every case.
func (p *Provider) choose(kf *keyFile) error {
	uses, err := p.book.rulesInUse()
	if err != nil {
		return err
	}
	for _, u := range uses {
		if u.err != nil {
			return fmt.Errorf("%s: %s, which sops uses for %s: %w\nwrite those files with sops itself, or change the rule",
				p.configPath(), u.desc, u.where(), u.err)
		}
	}
	if !p.given.empty() {
		given := p.given.canon()
		for _, u := range uses {
			if !slices.Equal(u.canon, given) && !(u.ours && p.updateKeys) {
				return p.mismatch(u, given)
			}
		}
		p.rcpt, p.source = p.given, sourceFlags
		return nil
	}
	if len(uses) > 0 {
		for _, u := range uses[1:] {
			if !slices.Equal(u.canon, uses[0].canon) {
				return fmt.Errorf("%s: %s names %s for %s, but %s names %s for %s; secretshift encrypts a run to one set of recipients\nmake the rules name the same recipients",
					p.configPath(), uses[0].desc, describeSet(uses[0].canon), uses[0].where(), u.desc, describeSet(u.canon), u.where())
			}
		}
		p.rcpt, p.source = uses[0].rc, sourceRule
		p.rcptNote = fmt.Sprintf("encrypting to the recipients of %s in %s (%s)", uses[0].desc, p.configPath(), describeSet(uses[0].canon))
		return nil
	}
	switch {
	case kf != nil:
		if len(kf.recipients) == 0 {
			return errNoX25519(p.keyFile)
		}
		p.rcpt, p.source = recipients{age: kf.recipients}, sourceKeyFile
		p.rcptNote = keyFileNote(p.keyFile, kf.recipients)
	case p.keyFile != "":
		if err := outdir.CheckWritable(filepath.Dir(p.keyFile), "folder of age key file"); err != nil {
			return err
		}
		p.generate, p.source = true, sourceGenerate
		p.rcptNote = fmt.Sprintf("no recipient given and no creation rule in %s for these files: an age key is generated at %s on the first write",
			p.configPath(), p.keyFile)
	default:
		return errNoRecipient
	}
	return nil
}

// mismatch explains recipients given that differ from those of a rule in use.
func (p *Provider) mismatch(u ruleUse, given []string) error {
	head := fmt.Sprintf("the recipients given (%s) differ from those of %s in %s (%s), which sops uses for %s",
		describeSet(given), u.desc, p.configPath(), describeSet(u.canon), u.where())
	if u.ours {
		return fmt.Errorf("%s\nchanging who can decrypt the files is explicit: pass --sops-update-keys to update the rule and re-wrap the data key of every file, "+
			"or leave out the recipient flags and $%s to keep the rule's recipients", head, EnvAgeRecipients)
	}
	return fmt.Errorf("%s\nthat rule is not secretshift's, so --sops-update-keys does not change it: edit it in %s, or pass its recipients",
		head, p.configPath())
}

// checkRule refuses to write the file at address to recipients other than those of the
// creation rule sops uses for it, so that a later `sops updatekeys` or `sops edit` of a new
// file agrees with what secretshift wrote. Open checked the rules of the files already there;
// this catches a rule for a namespace that had none. The caller holds no lock.
func (p *Provider) checkRule(address string, rc recipients) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, err := p.book.forAddress(address)
	if err != nil || m == nil {
		return err
	}
	if m.err != nil {
		return fmt.Errorf("write %s: %s in %s: %w", address, m.desc, p.configPath(), m.err)
	}
	want := rc.canon()
	if slices.Equal(m.canon, want) || (m.ours && p.updateKeys) {
		return nil
	}
	return fmt.Errorf("%w: write %s: sops uses %s in %s for it, which names %s, not this run's %s\nmake that rule name the same recipients, or leave this Secret out",
		providers.ErrUnsupported, address, m.desc, p.configPath(), describeSet(m.canon), describeSet(want))
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
			return recipients{}, errNoX25519(p.keyFile)
		}
		p.ids = kf.ids
		p.rcpt = recipients{age: kf.recipients}
		p.generate = false
		if created {
			p.debug("generated age key", "path", p.keyFile)
			p.rcptNote = fmt.Sprintf("generated age key at %s (public key %s); keep it safe: without it the files cannot be decrypted",
				p.keyFile, kf.recipients[0])
		} else {
			p.rcptNote = keyFileNote(p.keyFile, kf.recipients)
		}
	}
	return p.rcpt, nil
}

func errNoX25519(keyFile string) error {
	return fmt.Errorf("age key file %s has no X25519 identity to encrypt to\npass --age-recipient", keyFile)
}

func keyFileNote(keyFile string, rcpt []string) string {
	return fmt.Sprintf("encrypting to the age key in %s (public key %s)", keyFile, strings.Join(rcpt, ", "))
}

// rewriteReason returns Stored.Rewrite for f: set under --sops-update-keys when the file's
// recipients differ from this run's. Without the flag such a file is only counted for a note.
func (p *Provider) rewriteReason(rel string, f *file) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.generate {
		return "" // no key yet, nothing to compare with
	}
	if slices.Equal(canonGroups(f.tree.Metadata.KeyGroups), p.rcpt.canon()) {
		return ""
	}
	if p.updateKeys {
		return rewriteReason
	}
	p.stale.add(rel)
	return ""
}

// ensureConfig merges secretshift's creation rule for rc into <out>/.sops.yaml once per
// process, and warns when an earlier rule would be used for rel instead. It refuses when
// .sops.yaml changed since Open read it.
func (p *Provider) ensureConfig(rel string, rc recipients) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.merged {
		raw, exists, err := p.book.current()
		if err != nil {
			return err
		}
		c, err := parseSopsConfig(raw)
		if err != nil {
			return fmt.Errorf("%s %w; not changing it", p.configPath(), err)
		}
		changed, idx := c.merge(rc.ruleFields())
		if changed {
			path := p.configPath()
			b, err := c.encode()
			if err != nil {
				return fmt.Errorf("update %s: %w", path, err)
			}
			if err := os.MkdirAll(p.out, outdir.DirMode); err != nil {
				return fmt.Errorf("update %s: %w", path, outdir.IOErr(err))
			}
			mode := os.FileMode(configMode)
			if fi, err := os.Stat(path); exists && err == nil {
				mode = fi.Mode().Perm() // keep the owner's choice for an existing file
			}
			if err := outdir.WriteFile(path, b, mode, false); err != nil {
				return fmt.Errorf("update %s: %w", path, outdir.IOErr(err))
			}
			if err := p.book.set(b, true); err != nil {
				return err
			}
			p.debug("updated .sops.yaml", "path", path, "recipients", rc.count())
			p.notes = append(p.notes, fmt.Sprintf("updated %s: creation rule for <namespace>/<name>.yaml (%s)", path, describeSet(rc.canon())))
		}
		p.merged, p.ruleIdx = true, idx
	}
	for _, s := range p.book.cfg.shadows(p.ruleIdx, filepath.FromSlash(rel)) {
		p.noteLocked("shadow:"+s, fmt.Sprintf("%s: %s comes before secretshift's rule and also matches files like %s: `sops edit` will use that rule for new files",
			p.configPath(), s, rel))
	}
	return nil
}
