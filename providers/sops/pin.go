package sops

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Keys of the settings a plan records (providers.Pinned). Every value is public: recipients
// (age public keys, PGP fingerprints, key URLs), a hash, a path.
const (
	// pinConfig is "sha256:<hex>" of <out>/.sops.yaml when the plan was made, or "absent".
	pinConfig = "sops_yaml"
	// pinAge, pinPGP, pinVault and pinAzure are the recipients, comma-separated and sorted,
	// in canonical form (PGP fingerprints upper case, Azure keys with their version).
	pinAge   = fieldAge
	pinPGP   = fieldPGP
	pinVault = fieldVault
	pinAzure = fieldAzure
	// pinGenerate is the age key file the first write generates (the quick start); the plan
	// then records no recipients.
	pinGenerate = "generate_age_key"
	// pinUpdateKeys is "true" when the plan was made with --sops-update-keys.
	pinUpdateKeys = "update_keys"
	// pinSource says where the recipients came from: flags, sops_yaml, age_key_file, generate.
	pinSource = "recipients_from"
)

var pinKeys = []string{pinConfig, pinAge, pinPGP, pinVault, pinAzure, pinGenerate, pinUpdateKeys, pinSource}

// Pin returns the recipients this run encrypts to, per kind, the hash of <out>/.sops.yaml (or
// that it is absent), whether --sops-update-keys was given, and, for the quick start, the key
// file to be generated. It holds no key material.
func (p *Provider) Pin() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	pin := map[string]string{pinConfig: p.book.sum, pinSource: p.source}
	if p.generate {
		pin[pinGenerate] = p.keyFile
	}
	byKind := map[string][]string{}
	for _, id := range p.rcpt.canon() {
		kind, v, _ := strings.Cut(id, ":")
		byKind[kind] = append(byKind[kind], v)
	}
	for kind, ids := range byKind {
		pin[kind] = strings.Join(ids, ",")
	}
	if p.updateKeys {
		pin[pinUpdateKeys] = "true"
	}
	return pin
}

// UsePin makes the run encrypt to exactly the recipients a plan recorded with Pin, with the
// plan's --sops-update-keys, and checks that applying the plan still means what was reviewed.
// It must be called after Open and before the first Write.
//
// .sops.yaml may have changed since the plan. It is accepted when byte for byte the same, and
// otherwise when every creation rule sops now uses for secretshift's files (the rules of the
// files in the folder and of a new file, as at Open) names exactly the pinned recipients, or
// is secretshift's own rule and the plan was made with --sops-update-keys (the apply updates
// it). So a second apply of the same plan (a resume after a crash) works although the first
// one added or updated secretshift's rule, and so do edits that leave recipients alone (a
// comment, another rule for other files); a change of the recipients of the files is refused.
// For a plan that generates the age key, a key file found at that path now is the one an
// earlier apply generated, and is used. Recipient flags given to the apply must equal the
// plan's.
func (p *Provider) UsePin(pin map[string]string) error {
	for k := range pin {
		if !slices.Contains(pinKeys, k) {
			return fmt.Errorf("sops: the plan records the setting %q, which this version of secretshift does not know\nmake a new plan", k)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.merged {
		return errors.New("sops: the plan's settings must be applied before the first write")
	}
	updateKeys := pin[pinUpdateKeys] == "true"
	var want recipients
	var kf *keyFile
	generate := false
	if path := pin[pinGenerate]; path != "" {
		if path != p.keyFile {
			return fmt.Errorf("sops: the plan generates the age key at %s, but --sops-age-key-file is %s\napply with the plan's settings, or make a new plan", path, p.keyFile)
		}
		k, err := loadKeyFile(path)
		switch {
		case err == nil && len(k.recipients) > 0:
			want, kf = recipients{age: k.recipients}, k
		case err == nil:
			return fmt.Errorf("sops: %w", errNoX25519(path))
		case errors.Is(err, fs.ErrNotExist):
			generate = true
		default:
			return fmt.Errorf("sops: %w", err)
		}
	} else {
		var err error
		want, err = parseRecipients(splitList(pin[pinAge]), splitList(pin[pinPGP]), splitList(pin[pinVault]), splitList(pin[pinAzure]))
		if err != nil {
			return fmt.Errorf("sops: the plan's recipients: %w", err)
		}
		if want.empty() {
			return errors.New("sops: the plan records no recipients\nmake a new plan")
		}
	}
	if !p.given.empty() && (generate || !slices.Equal(p.given.canon(), want.canon())) {
		return fmt.Errorf("sops: the plan encrypts to %s, but the recipients given now are %s\napply with the plan's recipients, or make a new plan",
			pinnedDesc(want, generate, p.keyFile), describeSet(p.given.canon()))
	}
	if pin[pinConfig] != p.book.sum {
		if err := p.sameRecipients(want, generate, updateKeys); err != nil {
			return err
		}
		p.debug(".sops.yaml changed since the plan, recipients did not", "path", p.configPath())
	}
	p.rcpt, p.generate, p.updateKeys, p.source = want, generate, updateKeys, pin[pinSource]
	switch {
	case kf != nil:
		p.rcptNote = keyFileNote(p.keyFile, kf.recipients)
	case generate:
		p.rcptNote = fmt.Sprintf("as planned, an age key is generated at %s on the first write", p.keyFile)
	default:
		p.rcptNote = "encrypting to the recipients the plan records (" + describeSet(want.canon()) + ")"
	}
	return nil
}

// sameRecipients checks a .sops.yaml that changed since the plan; see UsePin.
func (p *Provider) sameRecipients(want recipients, generate, updateKeys bool) error {
	uses, err := p.book.rulesInUse()
	if err != nil {
		return fmt.Errorf("sops: %w", err)
	}
	canon := want.canon()
	for _, u := range uses {
		switch {
		case u.err != nil:
			return fmt.Errorf("sops: %s changed since the plan was made: %s, which sops uses for %s: %w\nmake a new plan",
				p.configPath(), u.desc, u.where(), u.err)
		case !generate && slices.Equal(u.canon, canon):
		case !generate && u.ours && updateKeys:
		default:
			return fmt.Errorf("sops: %s changed since the plan was made: %s now names %s for %s, the plan encrypts to %s\nmake a new plan",
				p.configPath(), u.desc, describeSet(u.canon), u.where(), pinnedDesc(want, generate, p.keyFile))
		}
	}
	return nil
}

func pinnedDesc(want recipients, generate bool, keyFile string) string {
	if generate {
		return "an age key to be generated at " + keyFile
	}
	return describeSet(want.canon())
}
